"""Chinese all the way (#17): the zh runbook and report, rendered for the demo-shaped wave
(one system moved, one rolled back, from a real journal) and for every wave of the sample
estate, contain no untranslated sentence — no run of three or more ASCII words outside code
spans. Ids, commands, paths and proper names are single tokens or sit in code spans; the
error a tool printed (quoted from the journal as evidence) is allowed verbatim."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.journal.history import open_reader
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.report import render_report
from shangyun.runbook import render_runbook
from shangyun.runbook.i18n import REASONS, reason_text
from shangyun.runbook.sources import plan_files, wave_of_systems
from tests.runbook.conftest import RanWave

WORDS = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ \t]+[A-Za-z][A-Za-z'’-]*){2,}")
"""Three or more ASCII words in a row: an English sentence (or part of one)."""


def visible(text: str, fmt: str) -> str:
    """What a reader sees, minus code spans, image links, styles and scripts."""
    if fmt == "html":
        text = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", text, flags=re.S)
        text = re.sub(r"<code>.*?</code>", " ", text, flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", "\n", text))
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)


def untranslated(text: str, fmt: str, quoted: tuple[str, ...] = ()) -> list[str]:
    """The English runs in ``text`` (``quoted``: tool errors allowed verbatim)."""
    seen = visible(text, fmt)
    for q in quoted:
        seen = seen.replace(" ".join(q.split()), " ")
    return sorted({m.group(0) for m in WORDS.finditer(seen)})


def test_the_detector_finds_english_and_spares_code() -> None:
    assert untranslated("依赖 conditional: physical server needs work", "md") == [
        "physical server needs work"]
    assert untranslated("执行 `shangyun wave run 1 --only s0001`", "md") == []
    assert untranslated("<p>执行 <code>wave run one two</code></p>", "html") == []


def test_every_assessment_reason_has_both_languages() -> None:
    for pattern, zh, en in REASONS:
        assert re.search(r"[\u4e00-\u9fff]", zh), pattern
        assert not re.search(r"[\u4e00-\u9fff]", en.replace("涉密", "")), pattern
    assert reason_text("zh", "h-1 (h00011): physical server: needs a P2V conversion") == \
        "h-1 (h00011): 物理服务器：需要 P2V 转换"


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_zh_documents_of_the_demo_shaped_wave_are_all_chinese(ran_wave: RanWave,
                                                              fmt: str) -> None:
    with open_journal(ran_wave.root) as j:
        errors = tuple(r.error for r in j.records(1) if r.error)
    assert errors, "the demo-shaped wave has a failure to quote"
    with open_reader(ran_wave.root) as history:
        runbook, _ = render_runbook(ran_wave.root, 1, fmt, "zh", journal=history)
        report, _ = render_report(ran_wave.root, fmt, "zh", journal=history)
    assert untranslated(runbook, fmt, errors) == []
    assert untranslated(report, fmt, errors) == []


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample estate (3 bureaus, 30 systems), assessed and planned."""
    root = tmp_path_factory.mktemp("zh-sample") / "estate"
    r = CliRunner().invoke(main, ["inventory", "sample", "--out", str(root), "--bureaus", "3",
                                  "--systems", "30"])
    assert r.exit_code == 0, r.output
    for cmd in ("assess", "plan"):
        r = CliRunner().invoke(main, [cmd, "--estate", str(root)])
        assert r.exit_code == 0, r.output
    return root


def test_zh_documents_of_every_sample_wave_are_all_chinese(sample: Path) -> None:
    waves = sorted(set(wave_of_systems(plan_files(sample)).values()))
    assert len(waves) >= 2
    from shangyun.estate import Estate

    # proper names from the estate (operating systems such as "Red Hat Enterprise Linux")
    names = tuple(sorted({str(h.get("os") or "") for h in Estate.load(sample).rows("hosts")}
                         - {""}, key=len, reverse=True))
    found: dict[str, list[str]] = {}
    warnings = 0
    for n in waves:
        for fmt in ("md", "html") if n == waves[0] else ("md",):
            text, _ = render_runbook(sample, n, fmt, "zh")
            warnings += text.count("有条件就绪：")
            if bad := untranslated(text, fmt, names):
                found[f"wave {n} {fmt}"] = bad
    for fmt in ("md", "html"):
        text, _ = render_report(sample, fmt, "zh")
        if bad := untranslated(text, fmt, names):
            found[f"report {fmt}"] = bad
    assert found == {}
    assert warnings > 0, "the sample's conditional systems' reasons were rendered (in zh)"
