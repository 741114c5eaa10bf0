"""A host whose ``ps`` is BusyBox's (embedded appliances, minimal images): it refuses
``-e`` and takes only ``-o``. A real sshd in its own mount namespace where ``ps`` is a
wrapper that refuses ``-e`` as BusyBox does and otherwise runs the real ps; the processes
(and the databases derived from them) must still be discovered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from tests.discovery.sshd import SshdFarm


@pytest.fixture(scope="module")
def busybox_ps_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshdFarm, int]]:
    ps = shutil.which("ps")
    if os.geteuid() != 0 or not shutil.which("unshare") or not ps:
        pytest.skip("needs root, unshare and ps")
    root = tmp_path_factory.mktemp("busybox-ps")
    real = root / "ps.real"
    shutil.copy(ps, real)
    wrapper = root / "ps"
    wrapper.write_text("#!/bin/sh\nfor a in \"$@\"; do case $a in -e*) "
                       "echo \"ps: invalid option -- 'e'\" >&2; "
                       "echo 'BusyBox v1.36.1 multi-call binary.' >&2; exit 1;; esac; done\n"
                       f"exec {real} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    farm = SshdFarm(root / "farm")
    try:
        (srv,) = farm.start(1, wrapper=["unshare", "-m", "--propagation", "private", "sh",
                                        "-c", f'mount --bind {wrapper} {ps} && exec "$@"',
                                        "sh"])
        farm.write_known_hosts([srv])
        yield farm, srv.port
    finally:
        farm.stop()


def test_processes_are_found_with_busybox_ps(tmp_path: Path,
                                             busybox_ps_host: tuple[SshdFarm, int]) -> None:
    farm, port = busybox_ps_host
    marker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                               "busybox-ps-marker"])
    try:
        time.sleep(0.1)
        Estate.from_records({"name": "bb"}, {
            "bureaus": [{"id": "b1", "name": "一局", "kind": "bureau"}],
            "hosts": [{"id": "edge", "hostname": "edge", "ip": "127.0.0.1", "ssh_port": port,
                       "bureau_id": "b1"}],
        }).save(tmp_path / "estate")
        res = CliRunner().invoke(main, [
            "discover", "--estate", str(tmp_path / "estate"), "--key", str(farm.client_key),
            "--known-hosts", str(farm.root / "known_hosts"), "--timeout", "5",
            "--retries", "0", "--sample-seconds", "0.1", "--json"])
    finally:
        marker.kill()
        marker.wait()
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "estate" / "facts" / "edge.json").read_text())
    assert doc["status"] == "ok"
    procs = doc["facts"]["processes"]
    assert any(p["pid"] == marker.pid and "busybox-ps-marker" in p["args"] for p in procs), \
        len(procs)
