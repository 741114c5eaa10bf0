"""The demo's "where to look" says what follow-up commands against the lab cloud need
(#17): the exact ``export`` line of the lab endpoint's credentials — moto's dummy values,
said to be so — and the fail-back command naming a cut-over system by its name."""

from __future__ import annotations

from pathlib import Path

from demo.cutover import S3_ENV
from demo.documents import follow_up
from demo.state import DemoState


def test_follow_up_prints_the_exact_exports(tmp_path: Path) -> None:
    st = DemoState(out=tmp_path / "demo out", bureaus=2, systems=0, seed=0)
    data = {"systems": [{"name": "福州局虚拟化业务系统", "wave": 1, "state": "cut_over"},
                        {"name": "泉州局虚拟化业务系统", "wave": 1, "state": "done"},
                        {"name": "厦门局虚拟化业务系统", "wave": 1, "state": "rolled_back"}]}
    lines = follow_up(st, data)
    text = "\n".join(lines)
    assert ("  export AWS_ACCESS_KEY_ID=shangyun-demo AWS_SECRET_ACCESS_KEY=shangyun-demo "
            "AWS_DEFAULT_REGION=us-east-1") in lines
    assert S3_ENV["AWS_ACCESS_KEY_ID"] == "shangyun-demo"
    assert "dummy values, not secrets" in text and "checks none" in text
    assert f"  export SHANGYUN_ESTATE='{st.estate_dir}'" in lines
    assert "  .venv/bin/shangyun wave rollback 1 --system 福州局虚拟化业务系统 --fail-back" in lines
    assert "泉州局" not in text  # moved without a cutover (or finalized): nothing to fail back
    # nothing cut over: no fail-back to offer, no credentials to explain
    quiet = follow_up(st, {"systems": [{"name": "x", "wave": 1, "state": "rolled_back"}]})
    assert not any("AWS_" in line for line in quiet)
