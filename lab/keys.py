"""SSH keys and sshd configuration for lab hosts (ed25519, key-only, known_hosts)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab.state import LabHost


def ensure_keypair(path: Path, comment: str) -> str:
    """Create an ed25519 key at ``path`` (0600) and ``path.pub`` unless present; return pub."""
    pub_path = path.with_name(path.name + ".pub")
    if path.exists() and pub_path.exists():
        return pub_path.read_text().strip()
    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                        serialization.PublicFormat.OpenSSH).decode()
    pub = f"{pub} {comment}"
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(priv)
    tmp.replace(path)
    pub_path.write_text(pub + "\n")
    return pub


def known_hosts_lines(hosts: list[LabHost], pubkeys: dict[str, str]) -> list[str]:
    """known_hosts lines: ``hostname,ip`` (or ``[ip]:port``) and the host's public key."""
    lines = []
    for h in hosts:
        key = " ".join(pubkeys[h.id].split()[:2])
        if h.port == 22:
            names = f"{h.hostname},{h.ip}"
        else:
            names = f"[{h.hostname}]:{h.port},[{h.ip}]:{h.port}"
        lines.append(f"{names} {key}")
    return lines


def sshd_config(h: LabHost, host_dir: Path, authorized_keys: Path) -> str:
    """The sshd_config of one lab host: its own key, pid file and address; key-only root."""
    return "\n".join([
        f"ListenAddress {h.ip}:{h.port}",
        f"HostKey {host_dir / 'ssh_host_ed25519_key'}",
        f"PidFile {host_dir / 'sshd.pid'}",
        f"AuthorizedKeysFile {authorized_keys}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "UseDNS no",
        "AllowAgentForwarding no",
        "X11Forwarding no",
        "MaxStartups 500:30:1000",
        "MaxSessions 64",
        "LoginGraceTime 30",
        "LogLevel ERROR",
        "Subsystem sftp internal-sftp",
        "",
    ])
