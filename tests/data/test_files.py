"""Files connector: rsync over a real sshd on 127.0.0.1, verification, delta, undo."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors import files
from shangyun.errors import HostKeyError, StepError, VerificationError
from tests.discovery.sshd import SshdFarm, keygen, one_sshd


@pytest.fixture(scope="module")
def farm() -> Iterator[SshdFarm]:
    """One sshd for this module."""
    with one_sshd("sy-files-sshd-") as f:
        yield f


@pytest.fixture
def tree(tmp_path: Path, farm: SshdFarm) -> tuple[files.SshSource, Path]:
    """A source folder with nested, binary and Chinese-named files, and a target path."""
    src = tmp_path / "src"
    (src / "sub" / "深层").mkdir(parents=True)
    (src / "a.txt").write_text("hello\n")
    (src / "sub" / "b.bin").write_bytes(os.urandom(200_000))
    (src / "sub" / "深层" / "文件 with space.txt").write_text("数据\n")
    (src / "empty").write_bytes(b"")
    srv = farm.servers[0]
    source = files.SshSource("127.0.0.1", srv.port, "root", str(farm.client_key),
                             str(farm.root / "known_hosts"), str(src))
    return source, tmp_path / "landing" / "app-files"


def test_copy_verify_delta_undo(tree: tuple[files.SshSource, Path]) -> None:
    source, target = tree
    first = files.sync(source, target)
    assert first.files == 4 and first.bytes == 200_000 + 6 + len("数据\n".encode()) + 0
    manifest = files.verify(source, target)
    assert set(manifest) == {"a.txt", "sub/b.bin", "sub/深层/文件 with space.txt", "empty"}
    # the source changes after the first copy: a write, a new file, a deletion
    src = Path(source.path)
    (src / "a.txt").write_text("hellO\n")
    (src / "new.txt").write_text("late\n")
    (src / "empty").unlink()
    with pytest.raises(VerificationError) as err:
        files.verify(source, target)
    msg = str(err.value)
    assert "a.txt: SHA-256 differs" in msg and "new.txt: missing on the target" in msg
    assert "empty: only on the target" in msg
    delta = files.sync(source, target)
    assert "new.txt" in delta.changed and "a.txt" in delta.changed
    files.verify(source, target)
    assert (target / "a.txt").read_text() == "hellO\n" and not (target / "empty").exists()
    # nothing changes on a second delta
    assert files.sync(source, target).changed == []
    assert files.remove_copy(target) is True
    assert files.remove_copy(target) is False
    assert (src / "new.txt").exists()  # the source is untouched


def test_unknown_host_key_refused(tree: tuple[files.SshSource, Path], tmp_path: Path) -> None:
    source, target = tree
    other = tmp_path / "kh"
    pub = keygen(tmp_path / "otherkey")
    other.write_text(f"[127.0.0.1]:{source.port} {pub}\n")
    bad = files.SshSource(source.host, source.port, source.user, source.key_file, str(other),
                          source.path)
    with pytest.raises(HostKeyError, match="host key"):
        files.sync(bad, target)
    empty = tmp_path / "empty_kh"
    empty.write_text("")
    bad2 = files.SshSource(source.host, source.port, source.user, source.key_file,
                           str(empty), source.path)
    with pytest.raises(HostKeyError):
        files.verify(bad2, tmp_path)
    assert not any(p.is_file() and p.name != files.MARKER for p in target.rglob("*"))
    assert empty.read_text() == ""  # never added


def test_foreign_folder_never_overwritten_or_removed(tree: tuple[files.SshSource, Path]) -> None:
    source, target = tree
    target.mkdir(parents=True)
    (target / "precious").write_text("keep")
    with pytest.raises(StepError, match="not made by shangyun"):
        files.sync(source, target)
    with pytest.raises(StepError, match="marker"):
        files.remove_copy(target)
    assert (target / "precious").read_text() == "keep"
    shutil.rmtree(target)


def test_verify_missing_target(tree: tuple[files.SshSource, Path]) -> None:
    source, target = tree
    with pytest.raises(VerificationError, match="missing"):
        files.verify(source, target)


def test_devices_specials_owners_setuid_never_land(tree: tuple[files.SshSource, Path]) -> None:
    """rsync runs as root on both ends here: a device node, a fifo, a setuid binary and a
    file owned by another user on the source land as plain data or not at all."""
    source, target = tree
    src = Path(source.path)
    os.mknod(src / "null-device", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mkfifo(src / "pipe")
    (src / "suid").write_bytes(b"#!/bin/sh\n")
    os.chmod(src / "suid", 0o4755)
    (src / "theirs.txt").write_text("owned by uid 12345\n")
    os.chown(src / "theirs.txt", 12345, 12345)
    result = files.sync(source, target)
    assert sorted(result.skipped) == ["null-device", "pipe"]
    assert not (target / "null-device").exists() and not (target / "pipe").exists()
    mode = (target / "suid").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID) and mode & 0o755 == 0o755
    owned = (target / "theirs.txt").stat()
    assert (owned.st_uid, owned.st_gid) == (os.getuid(), os.getgid())
    files.verify(source, target)  # the regular files are all there, equal


@pytest.mark.parametrize("user,host", [
    ("-oProxyCommand=touch /tmp/sy-pwned", "127.0.0.1"),
    ("root", "-oProxyCommand=touch /tmp/sy-pwned"),
    ("root", "host name"),
    ("ro ot", "127.0.0.1"),
])
def test_hostile_login_refused_before_anything_runs(farm: SshdFarm, tmp_path: Path,
                                                    user: str, host: str) -> None:
    with pytest.raises(StepError, match="refused"):
        files.SshSource(host, farm.servers[0].port, user, str(farm.client_key),
                        str(farm.root / "known_hosts"), str(tmp_path))
    assert not Path("/tmp/sy-pwned").exists()


def test_names_starting_with_dash_are_names(tree: tuple[files.SshSource, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A local target and a remote folder whose names start with ``-`` are names after
    ``--``: never rsync/ssh/cd options."""
    source, _ = tree
    src = Path(source.path)
    odd = src.parent / "-e touch pwned"
    src.rename(odd)
    source = files.SshSource(source.host, source.port, source.user, source.key_file,
                             source.known_hosts, str(odd))
    monkeypatch.chdir(src.parent)
    target = Path("--delete-excluded")
    files.sync(source, target)
    assert (src.parent / "--delete-excluded" / "a.txt").read_text() == "hello\n"
    assert set(files.verify(source, target)) >= {"a.txt", "sub/b.bin"}
    assert not (src.parent / "pwned").exists()
