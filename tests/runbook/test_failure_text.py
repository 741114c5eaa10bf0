"""A failed step in the zh runbook leads with a Chinese sentence from the message catalogue
for its common cause (unreachable, timeout, auth, checksum mismatch, no space, host key),
then the connector's own English text, kept verbatim as evidence. Rendered from a real
journal whose steps failed with the connectors' messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.journal.history import open_reader
from connectors.journal.wave import open_journal
from shangyun.journal.status import DONE, FAILED, STARTED, UNDO_FAILED, UNDOING
from shangyun.runbook import render_runbook
from shangyun.runbook.i18n import MESSAGES, failure_class
from shangyun.wave.builder import wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions
from tests.runbook.test_zh_coverage import untranslated, visible
from tests.wave.conftest import build_estate

# (class, an error as the connectors word it)
ERRORS = [
    ("unreachable", "system sys-01, step {key}: upload to http://127.0.0.1:9: Could not "
                    "connect to the endpoint URL: \"http://127.0.0.1:9/bucket\""),
    ("timeout", "PostgreSQL 10.213.1.12:5432/appdb: timed out after 30 s"),
    ("auth", "MariaDB 10.213.2.12:3306/appdb: access denied"),
    ("checksum", "/staging/disk-01-1.qcow2: content digest sha256:1f2e differs from the "
                 "source's sha256:9a8b (/images/disk-01-1.vmdk)"),
    ("no_space", "/staging/disk-02-0.qcow2: no space left on device while converting "
                 "(needs 2.0 GiB, 0.1 GiB free)"),
    ("host_key", "legacy-web01 (10.213.1.50:22): host key CHANGED — got ssh-ed25519 "
                 "SHA256:abc, known_hosts has ssh-ed25519 SHA256:def; refused (possible "
                 "man-in-the-middle, or the host was reinstalled)"),
]
ODD = "qemu-img: Could not open the image for some other reason"


def test_each_common_cause_is_recognised() -> None:
    for cls, text in ERRORS:
        assert failure_class(text) == cls, text
    assert failure_class(ODD) is None
    # a host key refusal is not an auth failure, a connect timeout is a timeout
    assert failure_class("b01-app01 (10.0.0.1:22): host key unknown (…) — not in "
                         "known_hosts; refused") == "host_key"
    assert failure_class("b01-app01 (10.0.0.1:22): timed out") == "timeout"


@dataclass
class Failed:
    """The estate whose wave 1 failed, and the error journaled for each cause."""

    root: Path
    errors: dict[str, str]


UNDO_ERROR = "ObjectStoreError: s3 http://127.0.0.1:9: connection refused"


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> Failed:
    """Wave 1 of a 2-system estate whose steps failed, one per common cause, plus one odd
    failure and one undo that failed."""
    tmp = tmp_path_factory.mktemp("failure-text")
    est = build_estate(tmp / "estate", tmp / "images", n_systems=2, mib=1)
    steps = wave_steps(load_wave(est.root, 1), RunOptions(staging_dir=str(tmp / "stage")))
    ordered = [s for sid in ("sys-01", "sys-02") for s in steps[sid] if s.kind != "precheck"]
    assert len(ordered) >= len(ERRORS) + 2
    errors = {}
    with open_journal(est.root) as j:
        run = j.begin_run(1, {"options": {}})
        for step, (cls, text) in zip(ordered, ERRORS, strict=False):
            errors[cls] = text.format(key=step.key)
            j.record(run, 1, step, STARTED, step.planned_record())
            j.record(run, 1, step, FAILED, step.planned_record(), error=errors[cls])
        odd, undo = ordered[len(ERRORS)], ordered[len(ERRORS) + 1]
        j.record(run, 1, odd, STARTED, odd.planned_record())
        j.record(run, 1, odd, FAILED, odd.planned_record(), error=ODD)
        for status in (STARTED, DONE, UNDOING):
            j.record(run, 1, undo, status, undo.planned_record())
        j.record(run, 1, undo, UNDO_FAILED, undo.planned_record(), error=UNDO_ERROR)
        j.finish_run(run, "failed")
    return Failed(est.root, errors)


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_zh_runbook_leads_each_failure_with_its_cause(failed: Failed, fmt: str) -> None:
    with open_reader(failed.root) as history:
        text, _ = render_runbook(failed.root, 1, fmt, "zh", journal=history)
    seen = " ".join(visible(text, fmt).split()) if fmt == "html" else " ".join(text.split())
    zh = {k: v[0] for k, v in MESSAGES.items()}
    for cls, raw in failed.errors.items():
        lead = f"{zh['fail_' + cls]}{zh['raw_error']}"  # a full stop: no space in zh
        # the lead first, then the tool's text (the evidence) as it was journaled
        assert lead + raw in seen, (cls, seen[seen.find(zh["fail_" + cls]):][:300])
    assert ODD in seen and f"{zh['raw_error']}{ODD}" not in seen  # no common cause: as is
    assert f"{zh['fail_unreachable']}{zh['raw_error']}{UNDO_ERROR}" in seen  # the undo's
    # nothing English is left outside the quoted tool texts
    quoted = (*failed.errors.values(), *(e.split(": ", 1)[1] for e in failed.errors.values()),
              ODD, UNDO_ERROR)
    assert untranslated(text, fmt, quoted) == []


def test_en_runbook_leads_with_the_english_sentence(failed: Failed) -> None:
    with open_reader(failed.root) as history:
        text, _ = render_runbook(failed.root, 1, "md", "en", journal=history)
    flat = " ".join(text.split())
    assert f"{MESSAGES['fail_no_space'][1]} Raw error: {failed.errors['no_space']}" in flat
