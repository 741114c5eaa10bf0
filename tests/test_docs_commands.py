"""The command lines README.md and docs/*.md show are commands the CLI has.

Every ``shangyun …`` line of a code block and every inline `` `shangyun …` `` (and a span
that starts with a command group and its sub-command, `` `wave run --datastore-root DIR` ``,
or continues a README table row, `` `status N` `` after `` `shangyun wave run N` ``) is
walked down the click command tree: each sub-command must exist, each ``--option`` must be
one of the command's options, and a value written for an option with fixed choices
(``--lang zh|en``, ``--keep current|incoming``) must be among them, and a number a synopsis
shows as an option's default (``[--seed 0]``) must be its default. The demo's own lines
(``python -m demo …``) are checked against ``demo/cli.py`` the same way. Each command's
``--help`` must give every option a help text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from demo.cli import cli as demo_cli
from shangyun.cli import main

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```")
SPAN = re.compile(r"`([^`\n]+)`")
# ends of a command line: a comment, a shell operator, prose after the command
# spans that read like a command and are not one
NOT_COMMANDS = {"shangyun lab service"}  # the lab app's answer (docs/demo.md)
STOP = re.compile(r"\s(#|&&|\|\||;|—|>)\s|\s→\s")


@dataclass(frozen=True)
class Line:
    """One command line as a document shows it."""

    doc: str
    lineno: int
    text: str
    program: str  # "shangyun" or "demo"


def _sub(group: click.Command, name: str) -> click.Command | None:
    if not isinstance(group, click.Group):
        return None
    ctx = click.Context(group, info_name=group.name)
    return group.get_command(ctx, name)


def _clean(text: str) -> str:
    text = text.replace("\\|", "|")
    m = STOP.search(f" {text} ")
    return text[: m.start() - 1] if m else text


def command_lines() -> list[Line]:
    """Every command line of the documents."""
    found: list[Line] = []
    for doc in DOCS:
        in_code = False
        continued = 0  # lines a code block's command line went on for
        for lineno, raw in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if FENCE.match(raw.strip()):
                in_code = not in_code
                continue
            name = doc.relative_to(ROOT).as_posix()
            if in_code:
                text = raw.strip()
                if text.startswith(("[", "--")) and found and found[-1].doc == name and (
                        found[-1].lineno == lineno - 1 - continued):
                    # a command's options continued on the next lines of its block
                    found[-1] = Line(name, found[-1].lineno, f"{found[-1].text} {_clean(text)}",
                                     found[-1].program)
                    continued += 1
                    continue
                continued = 0
                text = text.removeprefix("$ ").removeprefix("# ")  # a prompt, a root prompt
                text = text.removeprefix("sudo ")
                if text.startswith(".venv/bin/"):
                    text = text[len(".venv/bin/"):]
                if text.startswith("shangyun "):
                    found.append(Line(name, lineno, _clean(text), "shangyun"))
                elif text.startswith("python -m demo"):
                    found.append(Line(name, lineno, _clean(text), "demo"))
                continue
            row_group: str | None = None  # the group a README table row's spans continue
            for span in SPAN.findall(raw):
                text = _clean(span.strip())
                words = text.split()
                if not words:
                    continue
                if text in NOT_COMMANDS:
                    continue
                if words[0] == "shangyun" and len(words) > 1:
                    found.append(Line(name, lineno, text, "shangyun"))
                    top = _sub(main, words[1])
                    row_group = words[1] if isinstance(top, click.Group) else None
                elif text.startswith("python -m demo"):
                    found.append(Line(name, lineno, text, "demo"))
                elif raw.lstrip().startswith("|") and row_group and _sub(
                        _sub(main, row_group), words[0].split("|")[0]) is not None:
                    found.append(Line(name, lineno, f"shangyun {row_group} {text}",
                                      "shangyun"))
                elif isinstance(_sub(main, words[0]), click.Group) and len(words) > 1 and (
                        _sub(_sub(main, words[0]), words[1]) is not None):
                    found.append(Line(name, lineno, f"shangyun {text}", "shangyun"))
    return found


def _tokens(text: str) -> list[str]:
    out = []
    for tok in re.sub(r"[\[\]{}]", " ", text).split():
        tok = tok.strip(",;:.()'\"")
        if tok and tok not in ("|", "…", "...", "\\"):
            out.append(tok)
    return out


def _option_names(cmd: click.Command) -> dict[str, click.Parameter]:
    names: dict[str, click.Parameter] = {"--help": None, "-h": None}  # type: ignore[dict-item]
    for p in cmd.params:
        if isinstance(p, click.Option):
            for o in (*p.opts, *p.secondary_opts):
                names[o] = p
    return names


def problems_of(line: Line) -> list[str]:
    """What the line says that the command tree does not have."""
    words = _tokens(line.text)
    if line.program == "demo":
        cmds: list[click.Command] = [demo_cli]
        rest = words[3:]
        path = "python -m demo"
    else:
        cmds = [main]
        rest = words[1:]
        path = "shangyun"
        while rest and isinstance(cmds[0], click.Group) and not rest[0].startswith("-"):
            alts = rest[0].split("|")
            subs = [_sub(cmds[0], a) for a in alts]
            if any(s is None for s in subs):
                missing = [a for a, s in zip(alts, subs, strict=True) if s is None]
                if cmds[0] is main or not rest[0].isupper():
                    return [f"{path}: no sub-command {', '.join(missing)}"]
                break
            cmds = [s for s in subs if s is not None]
            path += " " + rest[0]
            rest = rest[1:]
        if all(isinstance(c, click.Group) and not c.params for c in cmds) and not rest:
            return []
    bad = []
    # a synopsis writes an option's default in its brackets: [--seed 0], [--target 0.7]
    for name, shown in re.findall(r"\[(--[a-z][a-z0-9-]*) ([0-9][0-9.]*)\]", line.text):
        for cmd in cmds:
            param = _option_names(cmd).get(name)
            default = getattr(param, "default", None)
            if isinstance(default, (int, float)) and not isinstance(default, bool) and (
                    float(shown) != float(default)):
                bad.append(f"{path} {name}: the document shows {shown}, the default is "
                           f"{default}")
    i = 0
    while i < len(rest):
        tok = rest[i]
        i += 1
        if not tok.startswith("-") or tok in ("-", "--"):
            continue
        flags = [t for t in tok.split("|") if t.startswith("-")]
        for flag in flags:
            name, _, inline = flag.partition("=")
            for cmd in cmds:
                opts = _option_names(cmd)
                if name not in opts:
                    bad.append(f"{path}: no option {name}")
                    continue
                param = opts[name]
                if param is None or not isinstance(param.type, click.Choice):
                    continue
                value = inline or (rest[i] if i < len(rest) and len(flags) == 1 else "")
                for v in value.split("|"):
                    if v and not v.startswith("-") and re.fullmatch(r"[a-z0-9_-]+", v) and (
                            v not in param.type.choices):
                        bad.append(f"{path} {name}: {v!r} is not one of "
                                   f"{', '.join(map(str, param.type.choices))}")
    return bad


LINES = command_lines()


def test_the_documents_show_command_lines() -> None:
    """The extraction finds the command lines (a broken pattern would check nothing)."""
    assert len(LINES) > 100, len(LINES)
    docs = {line.doc for line in LINES}
    for doc in ("README.md", "docs/ledgers.md", "docs/planning.md", "docs/wave.md",
                "docs/distributed.md", "docs/demo.md"):
        assert doc in docs, doc


@pytest.mark.parametrize("line", LINES, ids=lambda x: f"{x.doc}:{x.lineno}")
def test_every_documented_command_and_option_exists(line: Line) -> None:
    assert problems_of(line) == [], f"{line.doc}:{line.lineno}: {line.text}"


@pytest.mark.parametrize("text,expected", [
    ("shangyun inventory import F --estate E --frobnicate", "no option --frobnicate"),
    ("shangyun wave launch 1", "no sub-command launch"),
    ("shangyun runbook 1 --lang fr|en", "'fr' is not one of zh, en"),
    ("shangyun inventory resolve --keep mine", "'mine' is not one of current, incoming"),
    ("python -m demo --fast", "no option --fast"),
    ("shangyun assess --estate E [--target 0.8]", "the document shows 0.8, the default is 0.7"),
])
def test_the_checker_catches_a_wrong_line(text: str, expected: str) -> None:
    program = "demo" if text.startswith("python") else "shangyun"
    got = problems_of(Line("x.md", 1, text, program))
    assert any(expected in p for p in got), got


def _all_commands(cmd: click.Command, path: str) -> list[tuple[str, click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd, info_name=cmd.name)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None
            out += _all_commands(sub, f"{path} {name}")
    return out


def test_every_command_and_option_has_a_help_text() -> None:
    """A user reads ``--help``: every command says what it does, every option what it is,
    and an option whose value is taken from the environment says which variable."""
    missing = []
    for path, cmd in [*_all_commands(main, "shangyun"), ("python -m demo", demo_cli)]:
        if not (cmd.help or "").strip():
            missing.append(f"{path}: no help text")
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                if not (p.help or "").strip():
                    missing.append(f"{path} {p.opts[0]}: no help text")
                if p.envvar and not p.show_envvar:
                    missing.append(f"{path} {p.opts[0]}: reads ${p.envvar} but --help "
                                   "does not say so")
    assert missing == []


def test_every_environment_variable_an_option_reads_is_documented() -> None:
    """An option that takes its value from the environment (``envvar=``) is named in the
    documents too: a variable only the code knows changes a run nobody can explain."""
    text = " ".join(doc.read_text(encoding="utf-8") for doc in DOCS)
    undocumented = sorted({
        f"{path} {p.opts[0]}: ${var}"
        for path, cmd in [*_all_commands(main, "shangyun"), ("python -m demo", demo_cli)]
        for p in cmd.params if isinstance(p, click.Option) and p.envvar
        for var in ([p.envvar] if isinstance(p.envvar, str) else p.envvar)
        if not re.search(rf"\b{re.escape(var)}\b", text)})
    assert undocumented == []


def test_every_option_is_named_in_a_document() -> None:
    """Each option of each command appears in README.md or docs/ (its synopsis or its
    guide): an option only --help knows is one nobody reading the guides finds."""
    text = " ".join(doc.read_text(encoding="utf-8") for doc in DOCS)
    nowhere = sorted({
        f"{path} {'/'.join(p.opts + p.secondary_opts)}"
        for path, cmd in _all_commands(main, "shangyun")
        for p in cmd.params if isinstance(p, click.Option) and p.name != "help"
        if not any(re.search(rf"{re.escape(o)}(?![\w-])", text)
                   for o in (*p.opts, *p.secondary_opts) if o.startswith("--"))})
    assert nowhere == []
