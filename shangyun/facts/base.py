"""The fact base class and small helpers shared by the parsers."""

from __future__ import annotations

from typing import Any, ClassVar


class Fact:
    """One fact: ``command()`` prints it on the host, ``process(lines)`` parses the output.

    Subclasses set ``name`` (the section name in the gather script and the key in the
    facts JSON) and implement both methods. ``process`` must be pure and must accept the
    output of every fallback the command can take.
    """

    name: ClassVar[str] = ""

    @classmethod
    def command(cls) -> str:
        """The POSIX shell snippet that prints this fact (stderr is discarded)."""
        raise NotImplementedError

    @classmethod
    def process(cls, lines: list[str]) -> Any:
        """Parse the snippet's output lines (without trailing newlines) into plain data."""
        raise NotImplementedError


def shell_lines_starting(path: str, keys: tuple[str, ...]) -> str:
    """A shell loop printing the lines of ``path`` that start with ``KEY:`` for one of
    ``keys``, unchanged, with built-ins only (what ``grep -E '^(K1|K2):'`` prints, without
    a process)."""
    pattern = "|".join(f"{k}:*" for k in keys)
    return (f"while IFS= read -r _l; do case $_l in {pattern}) printf '%s\\n' \"$_l\";; "
            f"esac; done < {path}")


def split_format(lines: list[str], default: str = "") -> tuple[str, list[str]]:
    """Split a leading ``#fmt <name>`` line off ``lines``: ``(name, rest)``."""
    if lines and lines[0].startswith("#fmt "):
        return lines[0][5:].strip(), lines[1:]
    return default, lines


def key_values(lines: list[str], sep: str = "=") -> dict[str, str]:
    """``KEY=value`` (or ``KEY: value``) lines as a dict, quotes stripped, others skipped."""
    out: dict[str, str] = {}
    for line in lines:
        if sep not in line or line.lstrip().startswith("#"):
            continue
        k, v = line.split(sep, 1)
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        out[k.strip()] = v
    return out


def to_int(text: str, default: int | None = None) -> int | None:
    """``int(text)`` or ``default`` when it is not a whole number."""
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        return default
