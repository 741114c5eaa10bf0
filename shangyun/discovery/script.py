"""The gather script: every fact's command in one POSIX shell script, one section each.

One SSH round trip per host: the script is sent on stdin to ``/bin/sh -s`` and its output
is split back into sections at the ``@@shangyun:<fact>@@`` marker lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shangyun.facts import ALL_FACTS, Fact
from shangyun.facts.services import detect_databases
from shangyun.facts.utilisation import Utilisation

MARKER = "@@shangyun:"
END = "end"
BOUND_SECONDS = 10  # a command that can hang (see gather_script) is killed after this


def gather_script(facts: Iterable[type[Fact]] = ALL_FACTS, sample_seconds: float = 1.0) -> str:
    """The shell script printing every fact of ``facts`` in its own marked section.

    ``sample_seconds`` is the utilisation sampling interval (0: no wait). The interval
    overlaps the other facts: the first sample and a background ``sleep`` start at the top
    of the script, the second sample is taken at the end, after the other facts and once
    the interval has passed. A host thus costs max(facts, interval), not their sum; the
    script's own work (about 0.05 CPU-s) falls inside the window.
    """
    facts = list(facts)
    lines = [
        "LC_ALL=C; export LC_ALL; LANG=C; export LANG",
        "PATH=\"$PATH:/sbin:/usr/sbin:/usr/local/sbin\"; export PATH",
        # commands that can hang on a sick host (df on a dead NFS mount, systemctl with a
        # stuck D-Bus) run under $_sy_t: killed after BOUND_SECONDS where `timeout` exists
        # (an old busybox `timeout` without -s fails, and the fact takes its fallback)
        f"_sy_t=; command -v timeout >/dev/null 2>&1 && _sy_t='timeout -s KILL "
        f"{BOUND_SECONDS}'",
    ]
    sampled = [f for f in facts if issubclass(f, Utilisation)]
    if sampled:
        lines.append(f"{{ {Utilisation.start_command(sample_seconds)}\n}} 2>/dev/null")
    for fact in [f for f in facts if f not in sampled] + sampled:
        cmd = fact.finish_command() if fact in sampled else fact.command()
        lines.append(f"echo '{MARKER}{fact.name}@@'")
        lines.append(f"{{ {cmd}\n}} 2>/dev/null")
    lines.append(f"echo '{MARKER}{END}@@'")
    return "\n".join(lines) + "\n"


def split_sections(text: str) -> dict[str, list[str]]:
    """The script's output as ``{fact name: output lines}``; ``end`` marks completeness.
    Whatever the login shell printed before the first marker (motd, ``.bashrc`` echoes)
    is ignored."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        line = line.rstrip("\r")
        at = line.rfind(MARKER)
        if at >= 0 and line.endswith("@@") and (at == 0 or current is None):
            # a marker glued to noise a login shell printed without a newline (a banner,
            # a .bashrc ``printf``) still opens its section
            current = sections.setdefault(line[at + len(MARKER):-2], [])
            continue
        if current is not None:
            current.append(line.rstrip("\r"))
    return sections


def parse_output(text: str, facts: Iterable[type[Fact]] = ALL_FACTS) -> dict[str, Any]:
    """Parse the script's output into ``{fact name: value}`` plus derived facts.

    A parser that fails on odd output does not lose the others: its error is recorded
    under ``_errors``. ``_complete`` tells whether the script ran to its end marker.
    ``databases`` is derived from processes, listening sockets and binaries.
    """
    sections = split_sections(text)
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for fact in facts:
        if fact.name not in sections:
            errors[fact.name] = "section missing from the output"
            continue
        try:
            out[fact.name] = fact.process(sections[fact.name])
        except Exception as exc:  # a parser bug must not lose the host's other facts
            errors[fact.name] = f"{type(exc).__name__}: {exc}"
    out["databases"] = detect_databases(out.get("processes", []), out.get("tcp", []),
                                        out.get("db_binaries", []))
    out["_complete"] = END in sections
    out["_errors"] = errors
    return out
