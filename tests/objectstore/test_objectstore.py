"""The S3 connector against moto's real HTTP server: upload, verify, resume, tamper, undo."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from connectors.objectstore import (
    DIGEST_META,
    DigestMismatch,
    FileState,
    MiB,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreTransientError,
    part_size_for,
)
from shangyun.digest import digest_bytes, digest_file
from shangyun.errors import TransientError, VerificationError

ROOT = Path(__file__).resolve().parents[2]


def _blob(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def _count_part_uploads(store: ObjectStore) -> list[int]:
    """Count the UploadPart requests the client really sends (botocore's own event)."""
    sent: list[int] = []

    def on_send(request: Any, **_: Any) -> None:
        sent.append(1)

    store.client.meta.events.register("before-send.s3.UploadPart", on_send)
    return sent


@pytest.mark.parametrize("algorithm", ["sha256", "sm3"])
def test_multipart_upload_is_verified_end_to_end(s3_endpoint: str, bucket: str,
                                                 tmp_path: Path, algorithm: str) -> None:
    data = _blob(tmp_path / "disk.qcow2", 23 * MiB + 123)
    seen: list[tuple[int, int]] = []
    with ObjectStore(s3_endpoint, part_size=5 * MiB, concurrency=3) as store:
        sent = _count_part_uploads(store)
        res = store.upload_file(tmp_path / "disk.qcow2", bucket, "w1/sys-1/disk.qcow2",
                                algorithm=algorithm, progress=lambda d, t: seen.append((d, t)))
        want = f"{algorithm}:{digest_bytes(data, algorithm)}"
        assert res.digest == want and res.size == len(data) and res.verified == "etag"
        assert (res.parts_total, res.parts_sent, res.parts_reused) == (5, 5, 0) and len(sent) == 5
        assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (len(data),) * 2
        info = store.stat(bucket, "w1/sys-1/disk.qcow2")
        assert info is not None and info.digest == want and info.size == len(data)
        assert info.etag == res.etag
        assert store.verify(bucket, "w1/sys-1/disk.qcow2", want) == want
        out = tmp_path / "back.qcow2"
        assert store.download_file(bucket, "w1/sys-1/disk.qcow2", out) == want
        assert out.read_bytes() == data


def test_known_digest_is_recorded_at_creation_and_read_back(s3_endpoint: str, bucket: str,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "img.raw"
    _blob(path, 11 * MiB)
    expected = digest_file(path, "sm3")  # a bare hex digest plus its algorithm
    with ObjectStore(s3_endpoint, part_size=5 * MiB) as store:
        res = store.upload_file(path, bucket, "img.raw", algorithm="sm3", digest=expected,
                                verify="read", metadata={"System": "sys-9"})
        assert res.digest == f"sm3:{expected}" and res.verified == "read"
        info = store.stat(bucket, "img.raw")
        assert info is not None and info.metadata == {DIGEST_META: f"sm3:{expected}",
                                                      "system": "sys-9"}


def test_small_file_is_one_put(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    data = _blob(tmp_path / "small", 300_000)
    with ObjectStore(s3_endpoint) as store:
        res = store.upload_file(tmp_path / "small", bucket, "small", algorithm="sm3")
        assert (res.parts_total, res.parts_sent, res.upload_id) == (1, 1, None)
        assert store.verify(bucket, "small") == f"sm3:{digest_bytes(data, 'sm3')}"


CHILD = """
    import os, sys
    from connectors.objectstore import FileState, ObjectStore
    state = FileState({state!r})
    store = ObjectStore({endpoint!r}, part_size=5 << 20, concurrency=1)
    def progress(done, total):
        print(done // (5 << 20), flush=True)
    store.upload_file({path!r}, {bucket!r}, "big.img", algorithm="sm3",
                      on_state=state.save, progress=progress)
    print("finished", flush=True)
"""


def _start_and_kill(s3_endpoint: str, bucket: str, path: Path, state: Path,
                    after_parts: int) -> None:
    code = textwrap.dedent(CHILD).format(state=str(state), endpoint=s3_endpoint,
                                         path=str(path), bucket=bucket)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(20):
            line = child.stdout.readline().strip()  # type: ignore[union-attr]
            assert line and line != "finished", child.stderr.read()  # type: ignore[union-attr]
            if int(line) >= after_parts:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def test_resume_after_kill_sends_only_the_missing_parts(s3_endpoint: str, bucket: str,
                                                         tmp_path: Path) -> None:
    path, state = tmp_path / "big.img", FileState(tmp_path / "upload.json")
    data = _blob(path, 30 * MiB)  # 6 parts of 5 MiB
    _start_and_kill(s3_endpoint, bucket, path, state.path, after_parts=2)
    saved = state.load()
    assert saved is not None and saved["part_size"] == 5 * MiB
    with ObjectStore(s3_endpoint, part_size=8 * MiB, concurrency=2) as store:
        already = store.client.list_parts(Bucket=bucket, Key="big.img",
                                          UploadId=saved["upload_id"]).get("Parts", [])
        assert 2 <= len(already) < 6
        assert store.stat(bucket, "big.img") is None  # nothing promoted by the dead upload
        # part 1 up there gets damaged: its ETag no longer matches the local bytes' MD5
        store.client.upload_part(Bucket=bucket, Key="big.img", UploadId=saved["upload_id"],
                                 PartNumber=1, Body=b"\0" * (5 * MiB))
        sent = _count_part_uploads(store)
        res = store.upload_file(path, bucket, "big.img", algorithm="sm3", resume=saved)
        assert res.upload_id == saved["upload_id"] and res.part_size == 5 * MiB
        assert res.parts_reused == len(already) - 1
        assert res.parts_sent == len(sent) == 6 - len(already) + 1
        assert res.digest == f"sm3:{digest_bytes(data, 'sm3')}"
        assert store.verify(bucket, "big.img", res.digest) == res.digest


def test_resume_of_a_changed_file_starts_over(s3_endpoint: str, bucket: str,
                                              tmp_path: Path) -> None:
    path, state = tmp_path / "big.img", FileState(tmp_path / "upload.json")
    _blob(path, 30 * MiB)
    _start_and_kill(s3_endpoint, bucket, path, state.path, after_parts=1)
    saved = state.load()
    assert saved is not None
    data = _blob(path, 30 * MiB)  # rewritten: the parts up there are stale
    with ObjectStore(s3_endpoint, part_size=5 * MiB) as store:
        res = store.upload_file(path, bucket, "big.img", algorithm="sm3", resume=saved)
        assert res.upload_id != saved["upload_id"]
        assert (res.parts_sent, res.parts_reused) == (6, 0)
        assert res.digest == f"sm3:{digest_bytes(data, 'sm3')}"
        uploads = store.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert uploads == []  # the stale upload was aborted


@pytest.mark.parametrize("size", [12 * MiB, 200_000])
def test_wrong_expected_digest_promotes_nothing(s3_endpoint: str, bucket: str, tmp_path: Path,
                                                size: int) -> None:
    path = tmp_path / "img"
    _blob(path, size)
    wrong = f"sha256:{digest_bytes(b'something else')}"
    with ObjectStore(s3_endpoint, part_size=5 * MiB) as store:
        with pytest.raises(DigestMismatch, match=f"bucket {bucket} key img") as err:
            store.upload_file(path, bucket, "img", digest=wrong)
        assert isinstance(err.value, VerificationError) and err.value.expected == wrong
        assert store.stat(bucket, "img") is None
        assert store.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_tampered_object_is_detected(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    path = tmp_path / "img"
    data = _blob(path, 6 * MiB)
    with ObjectStore(s3_endpoint, part_size=5 * MiB) as store:
        res = store.upload_file(path, bucket, "img", algorithm="sm3")
        flipped = bytearray(data)
        flipped[4 * MiB] ^= 0x01
        store.client.put_object(Bucket=bucket, Key="img", Body=bytes(flipped),
                                Metadata={DIGEST_META: res.digest})
        with pytest.raises(DigestMismatch, match="object read back"):
            store.verify(bucket, "img")
        with pytest.raises(DigestMismatch, match="download"):
            store.download_file(bucket, "img", tmp_path / "out")
        assert not (tmp_path / "out").exists()
        assert [p.name for p in tmp_path.iterdir()] == ["img"]  # no partial download left


def test_undo_deletes_the_object_and_aborts_uploads(s3_endpoint: str, bucket: str,
                                                    tmp_path: Path) -> None:
    path = tmp_path / "img"
    _blob(path, 11 * MiB)
    with ObjectStore(s3_endpoint, part_size=5 * MiB) as store:
        res = store.upload_file(path, bucket, "done.img")
        assert store.undo(res.to_dict())["deleted"] is True
        assert store.stat(bucket, "done.img") is None
        assert store.undo(res.to_dict()) == {"bucket": bucket, "key": "done.img",
                                             "aborted": [], "deleted": False}
        # a half upload, as a crash leaves it: only the state recorded before the first part
        states: list[dict[str, Any]] = []
        up = store.client.create_multipart_upload(Bucket=bucket, Key="half.img")
        store.client.upload_part(Bucket=bucket, Key="half.img", UploadId=up["UploadId"],
                                 PartNumber=1, Body=b"x" * (5 * MiB))
        states.append({"bucket": bucket, "key": "half.img", "upload_id": up["UploadId"]})
        assert store.undo(states[0])["aborted"] == [up["UploadId"]]
        assert store.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_errors_name_endpoint_bucket_and_key(s3_endpoint: str, tmp_path: Path) -> None:
    path = tmp_path / "f"
    _blob(path, 1000)
    with ObjectStore(s3_endpoint) as store:
        with pytest.raises(ObjectStoreError, match=f"s3 {s3_endpoint} bucket no-such-bucket-x "
                                                   "key k: PutObject: NoSuchBucket") as err:
            store.upload_file(path, "no-such-bucket-x", "k")
        assert not isinstance(err.value, TransientError)
        with pytest.raises(ObjectStoreError, match="cannot read"):
            store.upload_file(tmp_path / "absent", "b", "k")
    with closed_port() as port, ObjectStore(
            f"http://127.0.0.1:{port}", max_attempts=1, connect_timeout=1) as dead, \
            pytest.raises(ObjectStoreTransientError, match=f"127.0.0.1:{port} bucket b key k"):
        dead.stat("b", "k")


@contextmanager
def closed_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that nobody listens on (bound, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_client_settings_for_s3_compatible_endpoints(s3_endpoint: str) -> None:
    with ObjectStore(s3_endpoint, concurrency=6) as store:
        assert store.config.request_checksum_calculation == "when_required"
        assert store.config.response_checksum_validation == "when_required"
        assert store.config.max_pool_connections == 8
    with ObjectStore("https://s3.cn-north-1.amazonaws.com.cn") as aws:
        assert aws.config.request_checksum_calculation != "when_required"
    assert part_size_for(30 * MiB, 1) == 5 * MiB
    assert part_size_for(200 * 1024 * MiB, 16 * MiB) == 21 * MiB  # ≤ 10,000 parts
