"""SSH connector (paramiko): run one script on many hosts, safely and in bounded numbers.

Security rules, all enforced here:

* Host keys are verified against one known_hosts file only. A host whose key is not there
  is refused (:class:`UnknownHostKeyError`); a host presenting a different key than the one
  recorded is refused (:class:`ChangedHostKeyError`). Both are :class:`HostKeyError`, never
  retried, never auto-accepted (a :class:`paramiko.RejectPolicy` subclass).
* Only the explicit private key given is used (``allow_agent=False``,
  ``look_for_keys=False``); no agent forwarding is ever requested.
* A jump host (``[user@]host[:port]``) is reached first and verified the same way; the target
  is reached through a ``direct-tcpip`` channel of the jump host's transport, which is shared
  by every target behind that jump host.

Errors name the host: :class:`AuthError` (never retried), :class:`TransientError`
(timeouts, refused or reset connections, a silent server; retried ``retries`` times —
except :class:`CommandTimeoutError`, a script that ran past the command timeout, which
carries the output received until then).

Latency: each target's TCP socket has Nagle off (``TCP_NODELAY``) and, on Linux, asks for
immediate ACKs (``TCP_QUICKACK``, re-armed before every read): an SSH handshake is a
string of small request/answer packets, and otherwise a server packet held back by Nagle
waits for our ACK, which the kernel delays by up to 40 ms — twice per connection
(authentication, and the session channel, where OpenSSH sends its host-keys notice first).
Quick ACKs stop once the session channel is open.

Limits: :class:`SSHPool` holds at most ``max_connections`` target connections at once and at
most ``per_bureau`` per bureau; each target gets exactly one connection, used for one
``/bin/sh -s`` session fed the whole script on stdin (one round trip for all facts).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from shangyun.discovery.jump import parse_jump
from shangyun.discovery.model import ScriptResult, SSHOptions, SSHSettings, SSHTarget, host_port
from shangyun.errors import AuthError, ConnectorError, HostKeyError, TransientError

__all__ = [
    "ChangedHostKeyError", "CommandTimeoutError", "NotSSHError", "RevokedHostKeyError",
    "SSHPool",
    "SSHSettings", "SSHTarget", "SSHTimeoutError", "ScriptResult", "UnknownHostKeyError",
    "UnreachableError", "discovery_pool",
    "known_hosts_name", "parse_jump",
]


# paramiko's transport thread logs each failed handshake with its traceback; without a
# handler anywhere, Python's last-resort handler prints that on stderr, once per bad host.
# Every failure reaches the caller as one of our errors naming the host: that is the report.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class UnknownHostKeyError(HostKeyError):
    """The host's key is not in known_hosts: refused (add it after checking it out of band)."""

    status = "unknown-host-key"


class ChangedHostKeyError(HostKeyError):
    """The host presented a key different from the one in known_hosts: refused."""

    status = "changed-host-key"


class RevokedHostKeyError(ChangedHostKeyError):
    """The host presented a key that known_hosts marks ``@revoked``: refused, whatever
    else the file says about it (as OpenSSH does)."""


class NotSSHError(ConnectorError):
    """Something other than an SSH server answered the host's SSH port (a web or FTP
    server: the port is wrong, or the service moved). Not retried."""

    status = "error"


class UnreachableError(TransientError):
    """The host refused or dropped the connection (nothing listening, reset, no route)."""

    status = "unreachable"


class SSHTimeoutError(TransientError):
    """The host did not answer in time (connect, SSH banner, or the command itself)."""

    status = "timeout"


class CommandTimeoutError(SSHTimeoutError):
    """The script ran past the command timeout: not retried (it would hang again, and each
    try holds a connection slot for the whole timeout). ``partial_output``: what the
    script printed before it was stopped (discovery keeps the facts in it)."""

    partial_output: str = ""


def known_hosts_name(host: str, port: int) -> str:
    """The name known_hosts files use: ``host`` for port 22, ``[host]:port`` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _LowLatencySocket(socket.socket):
    """A TCP socket that acknowledges at once during the handshake: ``TCP_QUICKACK`` is not
    sticky (the kernel drops back to delayed ACKs), so it is re-armed before each read
    paramiko makes, until ``quick_ack`` is turned off (once the session channel is open,
    the script's output needs no extra ACK packets)."""

    quick_ack = True
    #: the first bytes the server sent (up to 256): what answered, when it is not SSH
    first_bytes = b""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Read, asking the kernel to ACK what arrives without delay (while ``quick_ack``)."""
        if _QUICKACK is not None and self.quick_ack:
            with suppress(OSError):
                self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        data = super().recv(bufsize, flags)
        if len(self.first_bytes) < 256:
            self.first_bytes += data[:256 - len(self.first_bytes)]
        return data


def _open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A connected TCP socket to ``host:port`` with Nagle off and quick ACKs (see the
    module's notes); raises what :func:`socket.create_connection` raises."""
    plain = socket.create_connection((host, port), timeout=timeout)
    sock = _LowLatencySocket(fileno=plain.detach())
    sock.settimeout(timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _Reject(paramiko.RejectPolicy):
    """Refuse unknown (and revoked) host keys with our own error naming the host."""

    def __init__(self, revoked: frozenset[bytes] = frozenset()) -> None:
        self.revoked = revoked

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        if key.asbytes() in self.revoked:
            rev = RevokedHostKeyError(f"{hostname}: host key REVOKED ({_describe(key)} is "
                                      "marked @revoked in known_hosts); refused")
            rev.key = key  # type: ignore[attr-defined]
            raise rev
        exc = UnknownHostKeyError(f"{hostname}: host key unknown ({_describe(key)}) — not "
                                  "in known_hosts; refused")
        exc.key = key  # type: ignore[attr-defined]
        raise exc


@dataclass
class _Jump:
    client: paramiko.SSHClient
    lock: threading.Lock = field(default_factory=threading.Lock)


class SSHPool:
    """A bounded pool of SSH connections: at most ``max_connections`` at once overall and
    ``per_bureau`` per bureau; jump host connections are opened once and shared.

    Implements :class:`shangyun.discovery.ports.ScriptRunner` (what discovery is given)."""

    def __init__(self, settings: SSHSettings, *, max_connections: int = 32,
                 per_bureau: int | None = None) -> None:
        self.settings = settings
        self._slots = threading.BoundedSemaphore(max(1, max_connections))
        self._per_bureau = per_bureau
        self._bureau_slots: dict[str, threading.BoundedSemaphore] = {}
        self._jumps: dict[tuple[str, str, int], _Jump] = {}
        self._lock = threading.Lock()
        self._pkey = _load_key(settings.key_file)
        self._known, self._revoked = _load_known_hosts(settings.known_hosts)

    # ------------------------------------------------------------------ public
    def run_script(self, target: SSHTarget, script: str) -> ScriptResult:
        """Run ``script`` with ``/bin/sh -s`` on ``target``; retry only transient failures.

        Raises :class:`HostKeyError`, :class:`AuthError` or (after the retries)
        :class:`TransientError`, each naming the host.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                result = self._run_once(target, script)
                result.attempts = attempt
                return result
            except TransientError as exc:
                if attempt > self.settings.retries or isinstance(exc, CommandTimeoutError):
                    exc.attempts = attempt  # type: ignore[attr-defined]
                    raise
                time.sleep(self.settings.retry_delay * attempt)

    def close(self) -> None:
        """Close the shared jump host connections."""
        with self._lock:
            jumps, self._jumps = list(self._jumps.values()), {}
        for j in jumps:
            j.client.close()

    def __enter__(self) -> SSHPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    @contextmanager
    def _slot(self, bureau: str) -> Iterator[None]:
        sem = None
        if self._per_bureau:
            with self._lock:
                sem = self._bureau_slots.setdefault(
                    bureau, threading.BoundedSemaphore(self._per_bureau))
            sem.acquire()
        try:
            with self._slots:
                yield
        finally:
            if sem is not None:
                sem.release()

    def _run_once(self, target: SSHTarget, script: str) -> ScriptResult:
        with self._slot(target.bureau):
            start = time.monotonic()
            client = self._connect(target)
            try:
                out, err, status = self._exec(client, target, script)
            finally:
                client.close()
            return ScriptResult(out, status, time.monotonic() - start, stderr=err)

    def _client(self, host: str, port: int) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_Reject(self._revoked))
        name = known_hosts_name(host, port)
        for keytype, key in (self._known.lookup(name) or {}).items():
            if key.asbytes() not in self._revoked:
                client.get_host_keys().add(name, keytype, key)
        return client

    def _connect(self, target: SSHTarget) -> paramiko.SSHClient:
        sock: paramiko.Channel | socket.socket | None = None
        if target.jump:
            sock = self._through_jump(target)
        client = self._client(target.host, target.port)
        s = self.settings
        try:
            if sock is None:
                sock = _open_socket(target.host, target.port, s.connect_timeout)
            client.connect(target.host, target.port, username=target.user, pkey=self._pkey,
                           timeout=s.connect_timeout, banner_timeout=s.banner_timeout,
                           auth_timeout=s.auth_timeout, channel_timeout=s.connect_timeout,
                           allow_agent=False, look_for_keys=False, sock=sock)
        except Exception as exc:
            cause = _root_cause(client, exc)
            client.close()
            if sock is not None:
                sock.close()
            said = _not_ssh(sock)
            if said:
                raise NotSSHError(f"{target.label}: does not speak SSH on this port — it said "
                                  f"{said!r} (another service: check the host's SSH port, "
                                  "hosts.ssh_port or bureaus.ssh_port)") from exc
            if isinstance(cause, paramiko.AuthenticationException):
                raise AuthError(f"{target.label}: authentication refused for user "
                                f"{target.user!r} with the key {Path(s.key_file).name} "
                                f"({cause}) — is its public key in that user's "
                                "authorized_keys (and may that user log in)?") from exc
            raise _translate(cause, target.label) from exc
        return client

    def _through_jump(self, target: SSHTarget) -> paramiko.Channel:
        user, host, port = parse_jump(target.jump, target.user)
        key = (user, host, port)
        with self._lock:
            jump = self._jumps.get(key)
        if jump is None or not _alive(jump.client):
            label = f"jump host {host_port(host, port)} (for {target.label})"
            client = self._client(host, port)
            s = self.settings
            try:
                client.connect(host, port, username=user, pkey=self._pkey,
                               timeout=s.connect_timeout, banner_timeout=s.banner_timeout,
                               auth_timeout=s.auth_timeout, allow_agent=False,
                               look_for_keys=False,
                               sock=_open_socket(host, port, s.connect_timeout))
            except Exception as exc:
                cause = _root_cause(client, exc)
                client.close()
                raise _translate(cause, label) from exc
            with self._lock:
                jump = self._jumps.setdefault(key, _Jump(client))
                if jump.client is not client:
                    client.close()
        transport = jump.client.get_transport()
        try:
            assert transport is not None
            return transport.open_channel("direct-tcpip", (target.host, target.port),
                                          ("127.0.0.1", 0), timeout=self.settings.connect_timeout)
        except Exception as exc:
            raise _translate(exc, f"{target.label} via jump host {host_port(host, port)}") from exc

    def _exec(self, client: paramiko.SSHClient, target: SSHTarget,
              script: str) -> tuple[str, str, int]:
        s = self.settings
        deadline = time.monotonic() + s.command_timeout
        try:
            transport = client.get_transport()
            assert transport is not None
            chan = transport.open_session(timeout=s.connect_timeout)
            if isinstance(transport.sock, _LowLatencySocket):
                transport.sock.quick_ack = False
            chan.settimeout(min(5.0, s.command_timeout))
            chan.exec_command("/bin/sh -s")
            sent = _send_script(chan, script)
            out, err = bytearray(), bytearray()
            while True:
                if time.monotonic() > deadline:
                    late = CommandTimeoutError(f"{target.label}: the command did not finish "
                                               f"within {s.command_timeout:g} s (not retried)")
                    late.partial_output = out.decode("utf-8", "replace")
                    raise late
                try:
                    chunk = chan.recv(65536)
                except TimeoutError:
                    continue
                if chunk:
                    out += chunk
                    continue
                break
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            if sent is not None and not out:
                raise sent  # the shell was gone before it said anything: the send's error
            # a shell that exits before reading the script (a nologin shell) closes the
            # session; what it printed is still the evidence the caller reports
            status = chan.recv_exit_status() if sent is None else (
                chan.exit_status if chan.exit_status_ready() else -1)
            chan.close()
        except ConnectorError:
            raise
        except Exception as exc:
            raise _translate(exc, target.label) from exc
        return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), status


def _send_script(chan: paramiko.Channel, script: str) -> BaseException | None:
    """Write ``script`` to the session's stdin and close it; ``None`` when sent, else the
    send's error. A login shell that does not read stdin (nologin, a restricted shell) may
    end the session, and the server its connection, while the script is still being sent:
    the connection is then reset, but what the shell printed is already in the channel's
    buffer and tells why — so the caller reads it before deciding."""
    try:
        chan.sendall(script.encode())
        chan.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException) as exc:
        return exc
    return None


def discovery_pool(options: SSHOptions) -> SSHPool:
    """An :class:`SSHPool` with a discovery run's settings and limits (``concurrency``
    connections at most, ``per_bureau`` per bureau)."""
    return SSHPool(options.settings(), max_connections=options.concurrency,
                   per_bureau=options.per_bureau)


def _not_ssh(sock: object) -> str:
    """What the server sent, when it sent something and none of it is an SSH banner (the
    protocol allows text lines before ``SSH-``); else ``""``."""
    data = getattr(sock, "first_bytes", b"") if isinstance(sock, _LowLatencySocket) else b""
    lines = data.decode("utf-8", "replace").splitlines()
    if not data or any(line.startswith("SSH-") for line in lines) or (
            len(lines) == 1 and "SSH-".startswith(lines[0])):
        return ""
    return " ".join(line.strip() for line in lines if line.strip())[:120]


def _root_cause(client: paramiko.SSHClient, exc: Exception) -> BaseException:
    """The transport's own failure (e.g. no banner) behind a vaguer one ("No existing
    session") raised later by the client."""
    t = client.get_transport()
    saved = getattr(t, "saved_exception", None) if t is not None else None
    if isinstance(exc, paramiko.SSHException) and not isinstance(
            exc, paramiko.AuthenticationException | paramiko.BadHostKeyException) and \
            isinstance(saved, BaseException):
        return saved
    return exc


def _describe(key: paramiko.PKey) -> str:
    """``ssh-ed25519 SHA256:…`` for messages."""
    return f"{key.get_name()} {key.fingerprint}"


def _alive(client: paramiko.SSHClient) -> bool:
    t = client.get_transport()
    return bool(t and t.is_active())


def _load_key(path: str) -> paramiko.PKey:
    p = Path(path).expanduser()
    if not p.is_file():
        raise AuthError(f"{p}: private key file not found")
    try:
        return paramiko.PKey.from_path(p)
    except paramiko.PasswordRequiredException as exc:
        raise AuthError(f"{p}: the private key is passphrase-protected; "
                        "use an unprotected deployment key") from exc
    except (paramiko.SSHException, ValueError, OSError) as exc:
        raise AuthError(f"{p}: not a usable private key ({exc})") from exc


def _load_known_hosts(path: str) -> tuple[paramiko.HostKeys, frozenset[bytes]]:
    """The host keys of a known_hosts file and the keys it marks ``@revoked``.

    Read line by line (paramiko's own reader raises on any marker line): hashed names are
    kept as they are (matched by hashing), ``@cert-authority`` lines are skipped (host
    certificates are not checked here: a host known only through its CA is refused as
    unknown), a key type paramiko does not know is skipped; a line that cannot be read is
    one error naming the file and the line."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise HostKeyError(f"{p}: known_hosts file not found (host keys must be known)")
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise HostKeyError(f"{p}: cannot read known_hosts ({exc})") from exc
    keys = paramiko.HostKeys()
    revoked: set[bytes] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker = ""
        if line.startswith("@"):
            marker, _, line = line.replace("\t", " ").partition(" ")
            line = line.strip()
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
        except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError) as exc:
            raise HostKeyError(f"{p}, line {number}: not a known_hosts entry "
                               f"({raw.strip()[:80]!r}); fix or delete the line") from exc
        if entry is None or entry.key is None:
            continue
        if marker == "@revoked":
            revoked.add(entry.key.asbytes())
        elif not marker:
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    return keys, frozenset(revoked)


def _translate(exc: BaseException, label: str) -> BaseException:
    """Turn a paramiko/socket failure into our error naming the host."""
    if isinstance(exc, ConnectorError):
        key = getattr(exc, "key", None)
        if isinstance(exc, RevokedHostKeyError) and key is not None:
            return RevokedHostKeyError(f"{label}: host key REVOKED ({_describe(key)} is "
                                       "marked @revoked in known_hosts); refused")
        if isinstance(exc, UnknownHostKeyError) and key is not None:
            return UnknownHostKeyError(f"{label}: host key unknown ({_describe(key)}) — not "
                                       "in known_hosts; refused")
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        return ChangedHostKeyError(
            f"{label}: host key CHANGED — got {_describe(exc.key)}, known_hosts has "
            f"{_describe(exc.expected_key)}; refused (possible "
            "man-in-the-middle, or the host was reinstalled)")
    if isinstance(exc, paramiko.AuthenticationException):
        return AuthError(f"{label}: authentication refused ({exc})")
    if isinstance(exc, TimeoutError | socket.timeout):
        return SSHTimeoutError(f"{label}: timed out")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return UnreachableError(f"{label}: connection refused")
    if isinstance(exc, ConnectionRefusedError):
        return UnreachableError(f"{label}: connection refused")
    if isinstance(exc, paramiko.ChannelException):
        return UnreachableError(f"{label}: the jump host could not open a channel ({exc})")
    if isinstance(exc, paramiko.SSHException):
        msg = str(exc)
        if "no existing session" in msg.lower():
            # paramiko's start_client gives up silently at its timeout and auth then finds
            # no session: the server did not complete the SSH handshake in time
            return SSHTimeoutError(f"{label}: the SSH handshake did not complete in time")
        if "banner" in msg.lower():
            return SSHTimeoutError(f"{label}: no SSH banner (the server accepted the "
                                  f"connection but did not speak SSH in time)")
        return TransientError(f"{label}: SSH failure ({msg})")
    if isinstance(exc, OSError | EOFError):
        return UnreachableError(f"{label}: network error ({exc})")
    return exc
