"""Object storage (S3 API, boto3): resumable, verified multipart uploads for staging images.

:class:`ObjectStore` talks to one endpoint (AWS, or an S3-compatible store: MinIO, Huawei
OBS, Ceph RGW, moto in tests). What it adds to a plain ``upload_file``:

* **Resume after a crash.** The multipart upload id and part size go to the caller's
  ``on_state`` callback *before* any part is sent (store them in the journal's undo payload,
  or a :class:`FileState`). Given that state back as ``resume``, the upload lists the parts
  already there (``ListParts``), checks each one's ETag against the MD5 of the local bytes,
  and sends only the missing or different parts. ``UploadResult.parts_sent`` counts them.
* **Our own digest end to end.** SHA-256 or SM3 of the whole object is stored as object
  metadata ``x-amz-meta-shangyun-digest`` (e.g. ``sm3:66c7…``). S3 fixes metadata when an
  upload is created, so a digest the caller does not pass as ``digest=`` is computed first
  (a local read); it is computed again from the very bytes sent, and verified: each part
  is sent with ``Content-MD5`` and its returned ETag compared; the completed object's
  multipart ETag (MD5 of the part MD5s) is compared with ours; ``verify="read"`` (or
  :meth:`ObjectStore.verify`) reads the object back with concurrent ranged GETs and
  recomputes the digest. A known digest passed as ``digest=``
  is checked before the upload is completed: a mismatch aborts it, nothing is promoted.
* **Tuned transfers.** Part size (≥ 5 MiB, grown so a file needs ≤ 10,000 parts) and the
  number of parts in flight, with a connection pool to match; bounded memory
  (``(concurrency + 1) × part_size``).
* **Non-AWS endpoints** get ``request_checksum_calculation`` / ``response_checksum_validation``
  = ``"when_required"`` (boto3 ≥ 1.36's default checksums are refused by many S3-compatible
  stores) and path-style addressing.
* **Undo**: :meth:`ObjectStore.undo` aborts the multipart upload(s) of the key and deletes
  the object; safe to call twice.

Errors are :class:`ObjectStoreError` (a :class:`~shangyun.errors.ConnectorError`),
:class:`ObjectStoreTransientError` (a :class:`~shangyun.errors.TransientError`: retry) or
:class:`DigestMismatch` (a :class:`~shangyun.errors.VerificationError`), each naming the
endpoint, bucket and key. Credentials come from boto3's usual chain (environment, profile);
they are never logged or recorded.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import math
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from shangyun.digest import (
    DEFAULT_ALGORITHM,
    Digest,
    DigestError,
    check_algorithm,
    digest_file,
    parse_label,
)
from shangyun.errors import ConnectorError, TransientError, VerificationError

MiB = 1 << 20
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000
DIGEST_META = "shangyun-digest"
DEFAULT_PART_SIZE = 16 * MiB
DEFAULT_CONCURRENCY = 4
_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "Throttling", "ThrottlingException",
                    "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed", "503",
                    "500", "502", "504"}

T = TypeVar("T")
Progress = Callable[[int, int], None]


def _where(endpoint: str, bucket: str, key: str | None) -> str:
    return f"s3 {endpoint} bucket {bucket}" + (f" key {key}" if key else "")


class ObjectStoreError(ConnectorError):
    """An object storage request failed; the message names endpoint, bucket and key."""

    def __init__(self, message: str, *, endpoint: str, bucket: str, key: str | None = None,
                 operation: str | None = None, code: str | None = None) -> None:
        self.endpoint, self.bucket, self.key = endpoint, bucket, key
        self.operation, self.code, self.reason = operation, code, message
        op = f"{operation}: " if operation else ""
        super().__init__(f"{_where(endpoint, bucket, key)}: {op}{message}")


class ObjectStoreTransientError(ObjectStoreError, TransientError):
    """A retryable object storage failure (timeout, refused connection, throttling, 5xx)."""


class DigestMismatch(VerificationError):
    """The object's bytes do not have the digest they should have."""

    def __init__(self, *, endpoint: str, bucket: str, key: str, expected: str,
                 actual: str, what: str) -> None:
        self.endpoint, self.bucket, self.key = endpoint, bucket, key
        self.expected, self.actual = expected, actual
        super().__init__(f"{_where(endpoint, bucket, key)}: {what}: digest {actual}, "
                         f"expected {expected}")


def is_aws(endpoint_url: str | None) -> bool:
    """Whether ``endpoint_url`` is AWS itself (None means AWS's default endpoints)."""
    if not endpoint_url:
        return True
    host = (urlparse(endpoint_url).hostname or "").lower()
    return host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn")


def part_size_for(size: int, wanted: int = DEFAULT_PART_SIZE) -> int:
    """The part size for a ``size``-byte object: ≥ 5 MiB, whole MiB, ≤ 10,000 parts."""
    part = max(wanted, MIN_PART_SIZE)
    if size > part * MAX_PARTS:
        part = math.ceil(size / MAX_PARTS / MiB) * MiB
    return part


def _normalise_digest(digest: str, algorithm: str) -> str:
    """``digest`` as a labelled digest; a bare hex digest takes ``algorithm``."""
    if ":" in digest:
        alg, hexpart = parse_label(digest)
        if alg != algorithm:
            raise DigestError(f"digest {digest} is {alg}, but the upload computes {algorithm}")
        return f"{alg}:{hexpart}"
    return f"{algorithm}:{parse_label(f'{algorithm}:{digest}')[1]}"


@dataclass
class UploadState:
    """What a crashed multipart upload needs to resume (JSON-able; keep it in the journal)."""

    endpoint: str
    bucket: str
    key: str
    upload_id: str
    part_size: int
    size: int
    mtime_ns: int
    algorithm: str
    digest: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the journal's undo payload or a state file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UploadState | None:
        """Rebuild from :meth:`to_dict`'s output; None when it is not such a state."""
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError:
            return None


class FileState:
    """A local JSON file holding one upload's state (written atomically)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None."""
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None

    def save(self, state: Mapping[str, Any]) -> None:
        """Replace the saved state (fsynced before returning)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(dict(state), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def clear(self) -> None:
        """Forget the state (after the upload completed or was undone)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@dataclass
class UploadResult:
    """What an upload did; ``to_dict()`` is what the journal records (and undo reads).

    ``etag`` is the stored object's ETag; ``verified`` says how the bytes were checked:
    ``"etag"`` (every part's and the assembled object's MD5) or ``"read"`` (read back).
    """

    endpoint: str
    bucket: str
    key: str
    size: int
    digest: str
    algorithm: str
    part_size: int
    parts_total: int
    parts_sent: int
    parts_reused: int
    upload_id: str | None
    etag: str
    verified: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return asdict(self)


@dataclass(frozen=True)
class ObjectInfo:
    """Size, ETag and our digest (from metadata) of a stored object."""

    size: int
    etag: str
    digest: str | None
    metadata: dict[str, str]


class ObjectStore:
    """One S3 endpoint with tuned, resumable, verified transfers (see the module doc)."""

    def __init__(self, endpoint_url: str | None = None, *, region: str | None = None,
                 part_size: int = DEFAULT_PART_SIZE, concurrency: int = DEFAULT_CONCURRENCY,
                 session: boto3.Session | None = None, connect_timeout: float = 10.0,
                 read_timeout: float = 120.0, max_attempts: int = 5) -> None:
        self.endpoint_url = endpoint_url
        self.endpoint = endpoint_url or "aws"
        self.part_size = max(part_size, MIN_PART_SIZE)
        self.concurrency = max(1, concurrency)
        options: dict[str, Any] = {
            "max_pool_connections": self.concurrency + 2,
            "connect_timeout": connect_timeout, "read_timeout": read_timeout,
            "retries": {"mode": "standard", "max_attempts": max_attempts},
        }
        if not is_aws(endpoint_url):
            options.update(request_checksum_calculation="when_required",
                           response_checksum_validation="when_required",
                           s3={"addressing_style": "path"})
        self.config = Config(**options)
        sess = session or boto3.session.Session()
        self.client = sess.client(
            "s3", endpoint_url=endpoint_url,
            region_name=region or sess.region_name or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1", config=self.config)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def __enter__(self) -> ObjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------
    def _call(self, operation: str, bucket: str, key: str | None,
              fn: Callable[..., T], **kwargs: Any) -> T:
        try:
            return fn(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            cls = (ObjectStoreTransientError if code in _TRANSIENT_CODES or status >= 500
                   else ObjectStoreError)
            raise cls(f"{code or status} {err.get('Message', '')}".strip(),
                      endpoint=self.endpoint, bucket=bucket, key=key, operation=operation,
                      code=code) from exc
        except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
                ConnectionClosedError) as exc:
            raise ObjectStoreTransientError(str(exc), endpoint=self.endpoint, bucket=bucket,
                                            key=key, operation=operation) from exc
        except NoCredentialsError:
            raise ObjectStoreError("no credentials (set AWS_ACCESS_KEY_ID and "
                                   "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)",
                                   endpoint=self.endpoint, bucket=bucket, key=key,
                                   operation=operation) from None
        except BotoCoreError as exc:
            raise ObjectStoreError(str(exc), endpoint=self.endpoint, bucket=bucket, key=key,
                                   operation=operation) from exc

    def ensure_bucket(self, bucket: str) -> None:
        """Create ``bucket`` unless it exists already."""
        try:
            self._call("HeadBucket", bucket, None, self.client.head_bucket, Bucket=bucket)
        except ObjectStoreError as exc:
            if exc.code not in ("404", "NoSuchBucket", "NotFound"):
                raise
            self._call("CreateBucket", bucket, None, self.client.create_bucket, Bucket=bucket)

    def check_bucket(self, bucket: str) -> None:
        """Look, without writing, that the endpoint answers and ``bucket`` is usable: it
        exists, or may be created by the first upload (a 404). Raises
        :class:`ObjectStoreError` (:class:`ObjectStoreTransientError` when the endpoint does
        not answer) naming the endpoint and bucket."""
        try:
            self._call("HeadBucket", bucket, None, self.client.head_bucket, Bucket=bucket)
        except ObjectStoreError as exc:
            if exc.code not in ("404", "NoSuchBucket", "NotFound"):
                raise

    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        """Size, ETag and recorded digest of an object, or None if there is none."""
        try:
            head = self._call("HeadObject", bucket, key, self.client.head_object,
                              Bucket=bucket, Key=key)
        except ObjectStoreError as exc:
            if exc.code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        return ObjectInfo(int(head["ContentLength"]), str(head["ETag"]).strip('"'),
                          meta.get(DIGEST_META), meta)

    # -- upload --------------------------------------------------------------------------
    def upload_file(self, path: str | os.PathLike[str], bucket: str, key: str, *,
                    algorithm: str | None = None, digest: str | None = None,
                    resume: Mapping[str, Any] | None = None,
                    on_state: Callable[[dict[str, Any]], None] | None = None,
                    progress: Progress | None = None,
                    metadata: Mapping[str, str] | None = None,
                    verify: str = "etag") -> UploadResult:
        """Upload ``path`` to ``bucket``/``key``, resuming ``resume`` if it still applies.

        ``digest`` (hex or labelled) is what the file must hash to; it is checked before
        the upload completes; ``algorithm`` defaults to the labelled digest's, else the
        ``resume`` state's, else SHA-256.
        ``on_state(state)`` receives the resumable state as soon as the multipart upload
        exists. ``progress(done_bytes, total_bytes)`` is called as
        parts finish. ``verify``: ``"etag"`` (part and object ETags against our MD5s; falls
        back to ``"read"`` when the store's ETags are not MD5s) or ``"read"`` (read the
        object back and recompute the digest).
        """
        if verify not in ("etag", "read"):
            raise ValueError(f"verify must be 'etag' or 'read', not {verify!r}")
        t0 = time.monotonic()
        if algorithm is None:
            algorithm = (parse_label(digest)[0] if digest and ":" in digest
                         else str((resume or {}).get("algorithm") or DEFAULT_ALGORITHM))
        algorithm = check_algorithm(algorithm)
        expected = _normalise_digest(digest, algorithm) if digest else None
        src = Path(path)
        try:
            st = src.stat()
        except OSError as exc:
            raise ObjectStoreError(f"cannot read {src}: {exc.strerror}", endpoint=self.endpoint,
                                   bucket=bucket, key=key, operation="upload") from None
        size = st.st_size
        meta = {**{k.lower(): v for k, v in (metadata or {}).items()}}
        prior = UploadState.from_dict(resume) if resume else None
        part_size = part_size_for(size, self.part_size)
        if prior is not None and not self._resumable(prior, bucket, key, size,
                                                     st.st_mtime_ns, algorithm, expected):
            self.abort_uploads(bucket, key, prior.upload_id)
            prior = None
        if prior is None and size <= part_size:
            res = self._put_small(src, bucket, key, algorithm, expected, meta, progress)
        else:
            if prior is not None:
                part_size, expected = prior.part_size, expected or prior.digest
            elif expected is None:
                # S3 metadata is fixed when the upload is created: hash the file first (a
                # local read, cheaper than copying the object onto itself afterwards)
                expected = f"{algorithm}:{digest_file(src, algorithm)}"
            res = self._multipart(src, bucket, key, size, st.st_mtime_ns, part_size,
                                  algorithm, expected, meta, prior, on_state, progress)
        if verify == "read" or res.verified == "unverified":
            self.verify(bucket, key, res.digest)
            res.verified = "read"
        res.seconds = time.monotonic() - t0
        return res

    def _resumable(self, prior: UploadState, bucket: str, key: str, size: int,
                   mtime_ns: int, algorithm: str, expected: str | None) -> bool:
        if not prior.digest or (expected and expected != prior.digest):
            return False
        return (prior.bucket, prior.key, prior.size, prior.mtime_ns, prior.algorithm) == (
            bucket, key, size, mtime_ns, algorithm) and prior.part_size >= MIN_PART_SIZE

    def _put_small(self, src: Path, bucket: str, key: str, algorithm: str,
                   expected: str | None, meta: dict[str, str],
                   progress: Progress | None) -> UploadResult:
        data = src.read_bytes()
        d = Digest(algorithm)
        d.update(data)
        got = d.labelled()
        if expected and got != expected:
            raise DigestMismatch(endpoint=self.endpoint, bucket=bucket, key=key,
                                 expected=expected, actual=got, what=f"local file {src}")
        md5 = hashlib.md5(data)
        resp = self._call("PutObject", bucket, key, self.client.put_object, Bucket=bucket,
                          Key=key, Body=data, ContentMD5=base64.b64encode(md5.digest()).decode(),
                          Metadata={**meta, DIGEST_META: got})
        etag = str(resp["ETag"]).strip('"')
        verified = "etag" if etag == md5.hexdigest() else "unverified"
        if progress is not None:
            progress(len(data), len(data))
        return UploadResult(self.endpoint, bucket, key, len(data), got, algorithm,
                            len(data), 1, 1, 0, None, etag, verified, 0.0)

    def _list_parts(self, bucket: str, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        parts: dict[int, tuple[str, int]] = {}
        marker = 0
        for _ in range(MAX_PARTS):
            resp = self._call("ListParts", bucket, key, self.client.list_parts, Bucket=bucket,
                              Key=key, UploadId=upload_id, PartNumberMarker=marker)
            for p in resp.get("Parts", []):
                parts[int(p["PartNumber"])] = (str(p["ETag"]).strip('"'), int(p["Size"]))
            if not resp.get("IsTruncated"):
                break
            marker = int(resp["NextPartNumberMarker"])
        return parts

    def _multipart(self, src: Path, bucket: str, key: str, size: int, mtime_ns: int,
                   part_size: int, algorithm: str, expected: str | None,
                   meta: dict[str, str], prior: UploadState | None,
                   on_state: Callable[[dict[str, Any]], None] | None,
                   progress: Progress | None) -> UploadResult:
        existing: dict[int, tuple[str, int]] = {}
        state = prior
        if state is not None:
            try:
                existing = self._list_parts(bucket, key, state.upload_id)
            except ObjectStoreError as exc:
                if exc.code != "NoSuchUpload":
                    raise
                state = None
        if state is None:
            assert expected is not None
            resp = self._call("CreateMultipartUpload", bucket, key,
                              self.client.create_multipart_upload, Bucket=bucket, Key=key,
                              Metadata={**meta, DIGEST_META: expected})
            state = UploadState(self.endpoint, bucket, key, str(resp["UploadId"]), part_size,
                                size, mtime_ns, algorithm, expected)
            if on_state is not None:
                on_state(state.to_dict())
        nparts = max(1, math.ceil(size / state.part_size))
        d, sent, reused, etags, md5s = Digest(algorithm), 0, 0, {}, {}
        with open(src, "rb") as f:
            for number, kind, etag, md5 in self._send_parts(
                    f, bucket, key, state, nparts, existing, d, progress, size):
                etags[number], md5s[number] = etag, md5
                sent, reused = sent + (kind == "sent"), reused + (kind == "reused")
        got = d.labelled()
        if d.size != size:
            raise ObjectStoreError(f"{src} changed size while uploading ({size} → {d.size})",
                                   endpoint=self.endpoint, bucket=bucket, key=key)
        want = state.digest or expected
        if got != want:
            self.abort_uploads(bucket, key, state.upload_id)
            raise DigestMismatch(endpoint=self.endpoint, bucket=bucket, key=key, expected=want,
                                 actual=got, what=f"local file {src} (upload aborted)")
        resp = self._call("CompleteMultipartUpload", bucket, key,
                          self.client.complete_multipart_upload, Bucket=bucket, Key=key,
                          UploadId=state.upload_id, MultipartUpload={"Parts": [
                              {"PartNumber": n, "ETag": f'"{etags[n]}"'} for n in sorted(etags)]})
        etag = str(resp["ETag"]).strip('"')
        composite = hashlib.md5(b"".join(md5s[n] for n in sorted(md5s))).hexdigest()
        # a store whose ETags are not AWS-style MD5s is checked by reading the object back
        verified = "etag" if etag == f"{composite}-{nparts}" else "unverified"
        return UploadResult(self.endpoint, bucket, key, size, got, algorithm, state.part_size,
                            nparts, sent, reused, state.upload_id, etag, verified, 0.0)

    def _send_parts(self, f: Any, bucket: str, key: str, state: UploadState, nparts: int,
                    existing: Mapping[int, tuple[str, int]], d: Digest,
                    progress: Progress | None,
                    size: int) -> Iterator[tuple[int, str, str, bytes]]:
        """Read parts in order (hashing them), send them concurrently; yield as they finish."""
        done_bytes = 0
        pending: set[Future[tuple[int, str, str, bytes, int]]] = set()

        def drain(keep: int) -> Iterator[tuple[int, str, str, bytes]]:
            """Wait for sent parts until at most ``keep`` are in flight; yield each finished."""
            nonlocal pending, done_bytes
            while len(pending) > keep:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    n, kind, etag, md5, length = fut.result()
                    done_bytes += length
                    if progress is not None:
                        progress(done_bytes, size)
                    yield n, kind, etag, md5

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3-part") as pool:
            try:
                for number in range(1, nparts + 1):
                    data = f.read(state.part_size)
                    d.update(data)
                    pending.add(pool.submit(self._send_part, bucket, key, state.upload_id,
                                            number, data, existing.get(number)))
                    yield from drain(self.concurrency - 1)
                yield from drain(0)
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise

    def _send_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes,
                   have: tuple[str, int] | None) -> tuple[int, str, str, bytes, int]:
        md5 = hashlib.md5(data).digest()
        if have is not None and have[1] == len(data) and have[0] == md5.hex():
            return number, "reused", md5.hex(), md5, len(data)
        resp = self._call(f"UploadPart {number}", bucket, key, self.client.upload_part,
                          Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                          Body=data, ContentMD5=base64.b64encode(md5).decode())
        etag = str(resp["ETag"]).strip('"')
        if _looks_like_md5(etag) and etag != md5.hex():
            raise ObjectStoreTransientError(
                f"part {number} arrived as ETag {etag}, expected MD5 {md5.hex()}",
                endpoint=self.endpoint, bucket=bucket, key=key, operation="UploadPart")
        return number, "sent", md5.hex(), md5, len(data)

    # -- read back -----------------------------------------------------------------------
    def read_digest(self, bucket: str, key: str, algorithm: str = DEFAULT_ALGORITHM, *,
                    progress: Progress | None = None,
                    sink: Callable[[bytes], None] | None = None) -> tuple[str, int]:
        """Read the object with concurrent ranged GETs; return (labelled digest, size).

        ``sink`` receives the bytes in order (a download writes them to a file).
        """
        info = self.stat(bucket, key)
        if info is None:
            raise ObjectStoreError("no such object", endpoint=self.endpoint, bucket=bucket,
                                   key=key, operation="read")
        d = Digest(algorithm)
        part = part_size_for(info.size, self.part_size)
        ranges = [(a, min(a + part, info.size) - 1) for a in range(0, info.size, part)]

        def get(r: tuple[int, int]) -> bytes:
            resp = self._call("GetObject", bucket, key, self.client.get_object, Bucket=bucket,
                              Key=key, Range=f"bytes={r[0]}-{r[1]}")
            return bytes(resp["Body"].read())

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3-get") as pool:
            queue: deque[Future[bytes]] = deque()
            todo = iter(ranges)
            for r in itertools.islice(todo, self.concurrency + 1):
                queue.append(pool.submit(get, r))
            while queue:
                data = queue.popleft().result()
                for r in itertools.islice(todo, 1):
                    queue.append(pool.submit(get, r))
                d.update(data)
                if sink is not None:
                    sink(data)
                if progress is not None:
                    progress(d.size, info.size)
        if d.size != info.size:
            raise ObjectStoreError(f"read {d.size} bytes, object has {info.size}",
                                   endpoint=self.endpoint, bucket=bucket, key=key,
                                   operation="read")
        return d.labelled(), d.size

    def verify(self, bucket: str, key: str, expected: str | None = None, *,
               progress: Progress | None = None) -> str:
        """Read the object back and check its digest against its metadata and ``expected``.

        Returns the labelled digest; raises :class:`DigestMismatch` on any difference.
        """
        info = self.stat(bucket, key)
        if info is None:
            raise ObjectStoreError("no such object", endpoint=self.endpoint, bucket=bucket,
                                   key=key, operation="verify")
        recorded = info.digest
        want = expected or recorded
        if not want:
            raise ObjectStoreError(f"object has no {DIGEST_META} metadata and no digest was "
                                   f"given", endpoint=self.endpoint, bucket=bucket, key=key,
                                   operation="verify")
        algorithm = parse_label(want)[0] if ":" in want else DEFAULT_ALGORITHM
        want = _normalise_digest(want, algorithm)
        got, _ = self.read_digest(bucket, key, algorithm, progress=progress)
        if got != want:
            raise DigestMismatch(endpoint=self.endpoint, bucket=bucket, key=key, expected=want,
                                 actual=got, what="object read back")
        if recorded and expected and _normalise_digest(recorded, algorithm) != want:
            raise DigestMismatch(endpoint=self.endpoint, bucket=bucket, key=key, expected=want,
                                 actual=recorded, what=f"{DIGEST_META} metadata")
        return got

    def download_file(self, bucket: str, key: str, dest: str | os.PathLike[str], *,
                      progress: Progress | None = None) -> str:
        """Download to ``dest`` (written beside it, verified, then renamed into place)."""
        target = Path(dest)
        info = self.stat(bucket, key)
        if info is None or not info.digest:
            raise ObjectStoreError("no such object, or it has no recorded digest",
                                   endpoint=self.endpoint, bucket=bucket, key=key,
                                   operation="download")
        algorithm = parse_label(info.digest)[0]
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                got, _ = self.read_digest(bucket, key, algorithm, progress=progress,
                                          sink=out.write)
                out.flush()
                os.fsync(out.fileno())
            if got != info.digest:
                raise DigestMismatch(endpoint=self.endpoint, bucket=bucket, key=key,
                                     expected=info.digest, actual=got, what="download")
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return got

    # -- undo ----------------------------------------------------------------------------
    def abort_uploads(self, bucket: str, key: str, upload_id: str | None = None) -> list[str]:
        """Abort ``upload_id`` and any other unfinished multipart upload of ``key``."""
        ids = {upload_id} if upload_id else set()
        resp = self._call("ListMultipartUploads", bucket, key,
                          self.client.list_multipart_uploads, Bucket=bucket, Prefix=key)
        ids |= {u["UploadId"] for u in resp.get("Uploads", []) if u.get("Key") == key}
        aborted = []
        for uid in sorted(ids):
            try:
                self._call("AbortMultipartUpload", bucket, key,
                           self.client.abort_multipart_upload, Bucket=bucket, Key=key,
                           UploadId=uid)
                aborted.append(uid)
            except ObjectStoreError as exc:
                if exc.code != "NoSuchUpload":
                    raise
        return aborted

    def delete(self, bucket: str, key: str, upload_id: str | None = None) -> dict[str, Any]:
        """Abort unfinished uploads of ``key`` and delete the object; safe to call twice."""
        aborted = self.abort_uploads(bucket, key, upload_id)
        existed = self.stat(bucket, key) is not None
        if existed:
            self._call("DeleteObject", bucket, key, self.client.delete_object, Bucket=bucket,
                       Key=key)
        return {"bucket": bucket, "key": key, "aborted": aborted, "deleted": existed}

    def undo(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Undo an upload from its journaled :class:`UploadResult` or :class:`UploadState`."""
        try:
            bucket, key = str(payload["bucket"]), str(payload["key"])
        except KeyError:
            raise ObjectStoreError("undo payload names no bucket/key", endpoint=self.endpoint,
                                   bucket=str(payload.get("bucket", "?")),
                                   key=payload.get("key")) from None
        return self.delete(bucket, key, payload.get("upload_id"))


def _looks_like_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())
