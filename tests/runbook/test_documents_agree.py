"""What people read agrees with the journal, in every state a wave goes through.

A four-system wave (three listed in ``plan/cutover.yaml``, one moved disks-only) is driven
with the real CLI (Prefect, qemu-img, moto's S3, the libvirt test driver as the cloud, an
HTTP health endpoint) through the states an operator meets: planned, partly failed with one
system rolled back automatically, resumed, failed back, rolled back by hand, run again, cut
over, finalized. At each state every document — ``wave status`` (text and JSON),
``status`` (text and JSON), the runbook (md, en and zh), the report — is read and compared
with the journal (:func:`shangyun.wave.journal_port.wave_status` over the SQL store) and
with the table below: the wave's state, each system's state, the counts, names not ids; and
every command a document suggests is run, as printed, on a copy of the estate in that
state, and must be accepted: done (exit 0), or run and failed for the cause the document
says to fix first — never refused."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from connectors.journal.history import open_reader
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.runbook import runbook_context
from shangyun.wave.journal_port import wave_status
from shangyun.wave.state import FINISHED, counts_words, state_counts, state_words
from tests.data.test_health import web  # noqa: F401  (fixture)
from tests.wave.conftest import FORMATS, Cloud, bucket, build_estate, cloud, moto_endpoint  # noqa: F401

NAMES = {"sys-01": "审批系统", "sys-02": "档案系统", "sys-03": "办公系统", "sys-04": "财务系统"}
CMD_SPAN = re.compile(r"`(shangyun [^`]+)`")
CMD_QUOTED = re.compile(r"'(shangyun [^']+)'")
CMD_NEXT = re.compile(r"next: (shangyun .+?) after the soak")


def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env)


def _cutover(root: Path, base: str, broken: set[str], listed: list[str]) -> None:
    spec = {"schema_version": 1, "systems": {
        s: {"health": [{"kind": "http", "url": base + ("/broken" if s in broken else "/ok"),
                        "expect_body": "UP", "attempts": 1, "backoff": 0.05}]}
        for s in listed}}
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")


def _journal(root: Path) -> dict[str, Any]:
    with open_journal(root) as j:
        return wave_status(j, 1, sorted(NAMES))


def _suggested(root: Path, texts: list[str]) -> list[str]:
    """Every command the documents suggest, as printed (once each)."""
    found: list[str] = []
    for text in texts:
        for pattern in (CMD_SPAN, CMD_QUOTED, CMD_NEXT):
            for m in pattern.finditer(text):
                before = text[max(0, m.start() - 12):m.start()]
                if "then " in before or "→ " in before:
                    continue  # the second of a sequence: for the state the first makes
                if text[m.end():m.end() + 16].lstrip("`' ").startswith("would refuse"):
                    continue  # named as what would refuse, not suggested
                if m.group(1) not in found:
                    found.append(m.group(1))
    return found


def _accepted(root: Path, tmp: Path, cmd: str) -> None:
    """Run ``cmd`` as printed (its ``--estate`` the copy's) on a copy of the estate (its
    journal too): exit 0."""
    copy = tmp / f"copy-{abs(hash(cmd)) % 10**8}"
    shutil.copytree(root, copy)
    args = shlex.split(cmd.replace(str(root), str(copy)))[1:]
    if args[:2] == ["wave", "finalize"] and "--soak-hours" not in args:
        args += ["--soak-hours", "0"]  # the soak is time, not state
    # the copy's journal has the same id: its audit head log is copied too, or the
    # original's next records would clash with the copy's in one log
    heads = Path(os.environ["SHANGYUN_AUDIT_KEY"]).parent / "audit-heads"
    shutil.copytree(heads, f"{copy}.heads")
    # $SHANGYUN_ESTATE names no estate: a command that does not say which estate (a team
    # whose estate is not the default copies it) is refused, not run on the right one by luck
    elsewhere = tmp / "not-this-estate"
    elsewhere.mkdir(exist_ok=True)
    env = {"SHANGYUN_ESTATE": str(elsewhere), "SHANGYUN_TARGET_URI": "",
           "SHANGYUN_AUDIT_HEADS": f"{copy}.heads"}
    before = len(_journal(copy)["runs"])
    res = _cli(*args, env=env)
    # accepted: it did what it says (exit 0), or it ran and the run failed for the cause
    # the document says to fix first (a refusal journals nothing)
    ran = len(_journal(copy)["runs"]) > before
    assert res.exit_code == 0 or (res.exit_code == 1 and ran), (
        f"suggested {cmd!r} was refused:\n{res.output}")
    shutil.rmtree(copy)
    shutil.rmtree(f"{copy}.heads")


def _documents(root: Path, out: Path) -> dict[str, Any]:
    e = str(root)
    docs: dict[str, Any] = {}
    for key, args in {"wave_text": ["wave", "status", "1"], "status_text": ["status"]}.items():
        res = _cli(*args, "--estate", e)
        assert res.exit_code == 0, res.output
        docs[key] = res.output
    for key, args in {"wave": ["wave", "status", "1"], "status": ["status"]}.items():
        res = _cli(*args, "--estate", e, "--json")
        assert res.exit_code == 0, res.output
        docs[key] = json.loads(res.stdout)
    for lang in ("en", "zh"):
        path = out / f"runbook.{lang}.md"
        res = _cli("runbook", "1", "--estate", e, "--format", "md", "--lang", lang,
                   "--out", str(path))
        assert res.exit_code == 0, res.output
        docs[f"runbook_{lang}"] = path.read_text(encoding="utf-8")
    with open_reader(root) as history:
        docs["ctx"] = runbook_context(root, 1, "en", journal=history)
    path = out / "report.en.md"
    res = _cli("report", "--estate", e, "--format", "md", "--lang", "en", "--out", str(path))
    assert res.exit_code == 0, res.output
    docs["report"] = path.read_text(encoding="utf-8")
    return docs


def _check(root: Path, tmp: Path, label: str, want_wave: str,
           want: dict[str, str], run_suggested: bool = True) -> dict[str, Any]:
    """Every document of ``root`` in state ``label`` agrees with the journal and ``want``."""
    out = tmp / label
    out.mkdir()
    journal = _journal(root)
    assert journal["state"] == want_wave, (label, journal["state"])
    assert {s["id"]: s["state"] for s in journal["systems"]} == want, (label, [
        (st["key"], st["status"], st.get("error")) for s in journal["systems"]
        for st in s["steps"] if st.get("error")])
    docs = _documents(root, out)
    # wave status --json and status --json: the journal's state, per system and counted
    assert docs["wave"]["state"] == want_wave, label
    assert {s["id"]: s["state"] for s in docs["wave"]["systems"]} == want, label
    (row,) = [w for w in docs["status"]["waves"] if w["wave"] == 1]
    moved = sum(1 for s in want.values() if s in FINISHED)
    assert row["state"] == want_wave and row["moved"] == moved, (label, row)
    # wave status as a person reads it: the state words, the counts, names not ids
    first = docs["wave_text"].splitlines()[0]
    # (a cut-over wave finalize would refuse says why in place of "awaiting finalize")
    assert f"wave 1: {state_words(want_wave).split(' — ')[0]}" in first, (label, first)
    if not want:  # never run: the documents have nothing of the journal to say
        return docs
    assert f"({counts_words(state_counts(want))}; runs: {len(journal['runs'])})" in first, (
        label, first)
    for sid, name in NAMES.items():
        assert f"{name} ({sid})" in docs["wave_text"], (label, name)
    # the runbook: the outcome's state and counts are the journal's
    oc = docs["ctx"]["outcome"]
    assert oc["state"] == want_wave, (label, oc["state"])
    assert oc["summary"].startswith(f"{moved} of {len(want)} systems moved"), (label, oc)
    assert f"{len(want)} 个系统中 {moved} 个已迁移" in docs["runbook_zh"], label
    for lang in ("en", "zh"):
        head = docs[f"runbook_{lang}"].split("\n## ")[0] + docs[f"runbook_{lang}"].split(
            "\n## ")[1]
        assert not re.search(r"(?<![(\w-])sys-0\d(?![\w)])", head), (label, lang, head)
    # every command suggested where a person reads what to do next is accepted
    if run_suggested:
        texts = [docs["wave_text"], docs["runbook_en"].split("\n## Before the wave")[0]]
        for cmd in _suggested(root, texts):
            _accepted(root, tmp, cmd)
    return docs


@pytest.fixture
def walk(tmp_path: Path, cloud: Cloud, moto_endpoint: str, bucket: str,  # noqa: F811
         web: str) -> Iterator[tuple[Path, list[str], str]]:  # noqa: F811
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=4, formats=FORMATS[:2], mib=1)
    target = ["--target", "libvirt", "--target-uri", cloud.uri, "--pool", cloud.pool,
              "--staging", str(tmp_path / "staging"), "--s3-endpoint", moto_endpoint,
              "--bucket", bucket]
    old = os.environ.pop("SHANGYUN_TARGET_URI", None)
    yield root, target, web
    if old is not None:
        os.environ["SHANGYUN_TARGET_URI"] = old


def test_every_document_agrees_with_the_journal_in_every_state(
        prefect_harness: None, walk: tuple[Path, list[str], str], tmp_path: Path) -> None:
    root, target, web = walk  # noqa: F811
    e = str(root)
    listed = ["sys-01", "sys-02", "sys-03"]  # sys-04 moves disks-only
    _cutover(root, web, {"sys-02"}, listed)
    docs = _check(root, tmp_path, "planned", "never run", {}, run_suggested=False)
    assert "4 systems planned: 审批系统, 档案系统, 办公系统, 财务系统" in docs["wave_text"]

    res = _cli("wave", "run", "1", "--estate", e, *target)
    assert res.exit_code == 1, res.output
    docs = _check(root, tmp_path, "partly-failed", "failed",
                  {"sys-01": "cut_over", "sys-02": "rolled_back", "sys-03": "cut_over",
                   "sys-04": "done"})
    # wave status says what takes the rolled-back system up, as the runbook does (run above)
    text = " ".join(docs["wave_text"].split())
    assert (f"next for 档案系统 (rolled back): fix the cause, then run it again: "
            f"'shangyun wave run 1 --only 档案系统 --estate {e} --target-uri") in text, text
    assert re.search(rf"`shangyun wave run 1 --only 档案系统 --target-uri [^`]* --estate {e}`",
                     docs["runbook_en"]), docs["runbook_en"]

    _cutover(root, web, set(), listed)
    res = _cli("wave", "resume", "1", "--estate", e)
    assert res.exit_code == 0, res.output
    cut = {"sys-01": "cut_over", "sys-02": "cut_over", "sys-03": "cut_over", "sys-04": "done"}
    _check(root, tmp_path, "resumed", "cut_over", cut)

    res = _cli("wave", "rollback", "1", "--estate", e, "--system", "办公系统", "--fail-back")
    assert res.exit_code == 0, res.output
    docs = _check(root, tmp_path, "failed-back", "partly_failed_back",
                  {**cut, "sys-03": "failed_back"})
    text = " ".join(docs["wave_text"].split())
    assert "next for 办公系统 (failed back" in text, text
    assert f"'shangyun wave rollback 1 --system 办公系统 --estate {e}'" in text, text

    res = _cli("wave", "rollback", "1", "--estate", e, "--system", "财务系统")
    assert res.exit_code == 0, res.output
    _check(root, tmp_path, "rolled-back-by-hand", "partly_rolled_back",
           {**cut, "sys-03": "failed_back", "sys-04": "rolled_back_by_operator"})

    _cutover(root, web, set(), [*listed, "sys-04"])  # the disks-only one is now cut over too
    res = _cli("wave", "run", "1", "--estate", e, *target)
    assert res.exit_code == 0, res.output
    every = dict.fromkeys(NAMES, "cut_over")
    _check(root, tmp_path, "cut-over", "cut_over", every)

    res = _cli("wave", "finalize", "1", "--estate", e, "--soak-hours", "0")
    assert res.exit_code == 0, res.output
    docs = _check(root, tmp_path, "finalized", "done", dict.fromkeys(NAMES, "done"))
    assert "closed" in docs["ctx"]["verdict"]["label"], docs["ctx"]["verdict"]
