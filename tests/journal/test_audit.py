"""The audit hash chain (SHA-256 and SM3): any edit, deletion or reordering is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from connectors.journal import Journal, open_journal
from connectors.journal.store import resolve
from shangyun.cli import main
from shangyun.journal import operator_name, redact

ALGORITHMS = ["sha256", "sm3"]


def _sql(target: str, *statements: str, **params: object) -> None:
    url, _ = resolve(target)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement), params)
    finally:
        engine.dispose()


def _fill(j: Journal, n: int = 6) -> list[int]:
    return [j.audit(f"action-{i}", "ok", system=f"sys-{i % 2}", details={"i": i}).seq
            for i in range(1, n + 1)]


def _record(j: Journal, seq: int) -> tuple[str, str]:
    entry = next(e for e in j.audit_entries() if e.seq == seq)
    return entry.ts, entry.action


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_intact_chain_verifies(journal_target: str, algorithm: str) -> None:
    with open_journal(journal_target, algorithm=algorithm) as j:
        assert _fill(j) == [1, 2, 3, 4, 5, 6]
        report = j.verify_audit()
        assert report.ok and report.algorithm == algorithm and report.records == 6
        assert report.head_seq == 6 and report.head_hash == j.audit_entries()[-1].hash


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_altered_content_is_named(journal_target: str, algorithm: str) -> None:
    with open_journal(journal_target, algorithm=algorithm) as j:
        _fill(j)
        ts, action = _record(j, 3)
        _sql(journal_target, "UPDATE audit_log SET result = 'failed' WHERE seq = 3")
        first = j.verify_audit().first
        assert first is not None and (first.seq, first.ts, first.action) == (3, ts, action)
        assert first.kind == "altered" and "record 3" in first.message


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_altered_details_are_named(journal_target: str, algorithm: str) -> None:
    with open_journal(journal_target, algorithm=algorithm) as j:
        _fill(j)
        _sql(journal_target, "UPDATE audit_log SET details = :d WHERE seq = 5", d='{"i":55}')
        first = j.verify_audit().first
        assert first is not None and first.seq == 5 and first.kind == "altered"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_deleted_record_is_named(journal_target: str, algorithm: str) -> None:
    with open_journal(journal_target, algorithm=algorithm) as j:
        _fill(j)
        _sql(journal_target, "DELETE FROM audit_log WHERE seq = 4")
        report = j.verify_audit()
        assert report.first is not None and report.first.seq == 5
        assert report.first.kind == "missing" and "from 3 to 5" in report.first.message
        assert any(p.kind == "link" and p.seq == 5 for p in report.problems)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_deleted_last_record_is_found(journal_target: str, algorithm: str) -> None:
    with open_journal(journal_target, algorithm=algorithm) as j:
        _fill(j)
        _sql(journal_target, "DELETE FROM audit_log WHERE seq = 6")
        first = j.verify_audit().first
        assert first is not None and first.kind == "truncated" and first.seq == 5
        assert "chain head is record 6" in first.message


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_reordered_records_are_named(journal_target: str, algorithm: str) -> None:
    with open_journal(journal_target, algorithm=algorithm) as j:
        _fill(j)
        _sql(journal_target,
             "UPDATE audit_log SET seq = 1000 WHERE seq = 2",
             "UPDATE audit_log SET seq = 2 WHERE seq = 3",
             "UPDATE audit_log SET seq = 3 WHERE seq = 1000")
        first = j.verify_audit().first
        assert first is not None and first.seq == 2 and first.action == "action-3"


def test_rewritten_record_with_recomputed_hash_breaks_the_next_link(journal_target: str) -> None:
    from shangyun.journal.audit import record_hash

    with open_journal(journal_target, algorithm="sm3") as j:
        _fill(j)
        e2 = next(e for e in j.audit_entries() if e.seq == 2)
        forged = {**e2.to_dict(), "result": "ok-forged", "details": json.dumps({"i": 2})}
        new_hash = record_hash("sm3", forged, e2.prev_hash)
        _sql(journal_target, "UPDATE audit_log SET result = 'ok-forged', hash = :h, "
                             "details = :d WHERE seq = 2", h=new_hash, d=forged["details"])
        first = j.verify_audit().first
        assert first is not None and first.seq == 3 and first.kind == "link"


def test_secrets_never_reach_the_audit_log(tmp_path: Path) -> None:
    with open_journal(tmp_path) as j:
        j.audit("connect", "ok", details={
            "user": "svc", "password": "hunter2-secret-pw", "nested": {"API_KEY": "k-123"},
            "list": [{"db_token": "t-456"}], "aws_secret_access_key": "s-789"})
        details = j.audit_entries()[-1].details
    assert details == {"user": "svc", "password": "***", "nested": {"API_KEY": "***"},
                       "list": [{"db_token": "***"}], "aws_secret_access_key": "***"}
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("journal.db*"))
    for secret in (b"hunter2-secret-pw", b"k-123", b"t-456", b"s-789"):
        assert secret not in raw
    assert redact({"author": "x", "passage": 1}) == {"author": "x", "passage": 1}


def test_operator_comes_from_option_env_or_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHANGYUN_OPERATOR", "wang.fang")
    assert operator_name("li.lei") == "li.lei"
    assert operator_name() == "wang.fang"
    monkeypatch.delenv("SHANGYUN_OPERATOR")
    import getpass

    assert operator_name() == getpass.getuser()


def test_cli_verify_and_show(tmp_path: Path) -> None:
    with open_journal(tmp_path, algorithm="sm3", operator="zhao.min") as j:
        _fill(j, 4)
        ts, action = _record(j, 2)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify", "--estate", str(tmp_path), "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert data["ok"] and data["algorithm"] == "sm3" and data["records"] == 4
    shown = runner.invoke(main, ["audit", "show", "--estate", str(tmp_path), "--json",
                                 "--system", "sys-1"])
    assert shown.exit_code == 0
    assert [e["action"] for e in json.loads(shown.output)] == ["action-1", "action-3"]
    assert all(e["operator"] == "zhao.min" for e in json.loads(shown.output))
    table = runner.invoke(main, ["audit", "show", "--estate", str(tmp_path)])
    assert table.exit_code == 0 and "action-4" in table.output

    _sql(str(tmp_path), "UPDATE audit_log SET operator = 'someone-else' WHERE seq = 2")
    bad = runner.invoke(main, ["audit", "verify", "--estate", str(tmp_path)])
    assert bad.exit_code == 1
    assert f"record 2 ({ts}, {action})" in bad.output and "altered" in bad.output
    bad_json = runner.invoke(main, ["audit", "verify", "--estate", str(tmp_path), "--json"])
    assert bad_json.exit_code == 1
    assert json.loads(bad_json.output)["first_problem"]["seq"] == 2


def test_cli_names_a_missing_journal(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["audit", "verify", "--estate", str(tmp_path)])
    assert result.exit_code == 1 and "no journal at" in result.output
    assert not (tmp_path / "journal.db").exists()  # verify never creates one


def test_cli_reads_a_journal_by_url(journal_target: str, tmp_path: Path) -> None:
    with open_journal(journal_target, algorithm="sha256") as j:
        _fill(j, 3)
    estate = tmp_path / "other-estate"
    estate.mkdir()
    result = CliRunner().invoke(main, ["audit", "verify", "--estate", str(estate),
                                       "--journal", journal_target, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] and data["records"] == 3 and data["algorithm"] == "sha256"
    assert not (estate / "journal.db").exists()  # --journal wins over --estate


def test_anchor_catches_a_rewrite_of_the_whole_chain(tmp_path: Path) -> None:
    from shangyun.journal.audit import GENESIS, canonical_json, record_hash

    with open_journal(tmp_path, algorithm="sm3") as j:
        _fill(j, 5)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify", "--estate", str(tmp_path)])
    assert ok.exit_code == 0
    anchor = ok.output.split("head ")[1].split()[0]
    assert anchor.startswith("5:")
    # an intruder with write access edits record 3 and recomputes every hash and the head
    with open_journal(tmp_path) as j:
        rows = [e.to_dict() for e in j.audit_entries()]
    rows[2]["result"] = "forged"
    prev = GENESIS
    statements = []
    for r in rows:
        r["details"] = canonical_json(r["details"])
        r["hash"] = record_hash("sm3", r, prev)
        statements.append((r["seq"], r["result"], r["hash"], prev))
        prev = r["hash"]
    for seq, result, h, p in statements:
        _sql(str(tmp_path), "UPDATE audit_log SET result = :r, hash = :h, prev_hash = :p "
                            "WHERE seq = :s", r=result, h=h, p=p, s=seq)
    head = canonical_json({"seq": 5, "hash": prev})
    _sql(str(tmp_path), "UPDATE journal_meta SET value = :v WHERE key = 'audit_head'", v=head)
    # the keyed head and the published heads catch it without the anchor
    plain = runner.invoke(main, ["audit", "verify", "--estate", str(tmp_path)])
    assert plain.exit_code == 1 and "without the key" in plain.output
    assert "rewritten" in plain.output
    caught = runner.invoke(main, ["audit", "verify", "--estate", str(tmp_path),
                                  "--anchor", anchor])
    assert caught.exit_code == 1 and "record 5 has hash" in caught.output
    assert "rewritten" in caught.output
    bad = runner.invoke(main, ["audit", "verify", "--estate", str(tmp_path), "--anchor", "x"])
    assert bad.exit_code == 2 and "SEQ:HASH" in bad.output
