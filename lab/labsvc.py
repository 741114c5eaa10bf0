"""A lab host's small service process (stdlib only; run by the system python3 with -I -S).

Listens on TCP ports (``http`` answers HTTP requests on a kept-alive connection; ``tcp``
accepts and holds the connection, echoing what it reads) and keeps long-lived connections
open to other hosts' services, reconnecting when one drops. It names itself (``--comm``)
so ``ss -tnp`` on the host shows a process name like a real server would (java, nginx …).

Usage: labsvc.py --comm NAME --bind IP [--listen PORT:KIND ...] [--hold IP:PORT ...]
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

BODY = b"shangyun lab service\n"


def _serve_http(conn: socket.socket) -> None:
    """Answer each HTTP request on ``conn`` until the peer closes it."""
    buf = b""
    with conn:
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n%s"
                             % (len(BODY), BODY))


def _serve_tcp(conn: socket.socket) -> None:
    """Echo what the peer sends until it closes the connection."""
    with conn:
        while True:
            data = conn.recv(4096)
            if not data:
                return
            conn.sendall(data)


def _listen(bind: str, port: int, kind: str) -> None:
    """Accept connections on ``bind:port`` forever, one thread per connection."""
    srv = socket.create_server((bind, port), reuse_port=False, backlog=512)
    handler = _serve_http if kind == "http" else _serve_tcp
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def _hold(bind: str, ip: str, port: int) -> None:
    """Keep one connection to ``ip:port`` open; reconnect a second after it drops."""
    while True:
        try:
            with socket.create_connection((ip, port), timeout=5,
                                          source_address=(bind, 0)) as s:
                s.settimeout(None)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if port in (80, 8080):
                    s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % ip.encode())
                while s.recv(4096):
                    pass
        except OSError:
            pass
        time.sleep(1)


def main() -> None:
    """Parse the arguments, start listeners and holders, then wait forever."""
    p = argparse.ArgumentParser()
    p.add_argument("--comm", default="labsvc")
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--listen", action="append", default=[])
    p.add_argument("--hold", action="append", default=[])
    a = p.parse_args()
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(a.comm[:15])
    except OSError:
        pass
    threads = []
    for spec in a.listen:
        port, _, kind = spec.partition(":")
        threads.append(threading.Thread(target=_listen, args=(a.bind, int(port), kind or "tcp"),
                                        daemon=True))
    for spec in a.hold:
        ip, _, port = spec.rpartition(":")
        threads.append(threading.Thread(target=_hold, args=(a.bind, ip, int(port)), daemon=True))
    for t in threads:
        t.start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
