"""``shangyun --help`` lists every command without importing it (the summaries in
``shangyun/cli``): each summary must be the command's own first help sentence, and the help
page the same as click writes it after loading every command — at any terminal width."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shangyun.cli import SUMMARIES, main
from shangyun.cli.inventory import SUMMARIES as INVENTORY_SUMMARIES
from shangyun.cli.inventory import inventory
from shangyun.cli.lazy import LazyGroup

ROOT = Path(__file__).resolve().parents[1]
GROUPS = [(main, SUMMARIES), (inventory, INVENTORY_SUMMARIES)]


@pytest.mark.parametrize(("group", "summaries"), GROUPS, ids=["shangyun", "inventory"])
def test_every_lazy_command_has_its_own_summary(group: LazyGroup,
                                                summaries: dict[str, str]) -> None:
    assert set(summaries) == set(group.lazy), "a lazy command without a summary, or a stale one"
    ctx = click.Context(group)
    for name in group.lazy:
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        assert summaries[name] == cmd.get_short_help_str(10**6), (
            f"{name}: the summary in shangyun/cli differs from the command's help; "
            f"write {cmd.get_short_help_str(10**6)!r}")


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
@pytest.mark.parametrize(("group", "summaries"), GROUPS, ids=["shangyun", "inventory"])
def test_the_help_page_is_what_click_writes_with_every_command_loaded(
        group: LazyGroup, summaries: dict[str, str], width: int) -> None:
    fast = CliRunner().invoke(group, ["--help"], terminal_width=width)
    loaded = LazyGroup(name=group.name, help=group.help, lazy=group.lazy,
                       commands=group.commands, params=group.params,
                       context_settings=group.context_settings)  # no summaries: loads each
    slow = CliRunner().invoke(loaded, ["--help"], terminal_width=width)
    assert fast.exit_code == slow.exit_code == 0, (fast.output, slow.output)
    # the Commands section (click caches a command's help option once it ran under a
    # parent: the options section may say "-h, --help" on one and "--help" on the other)
    assert fast.output.count("Commands:") == 1
    assert fast.output.split("Commands:")[1] == slow.output.split("Commands:")[1]
    assert all(name in fast.output for name in summaries)


def test_shangyun_help_imports_no_command_module() -> None:
    code = ("import sys; from shangyun.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('connectors', 'flows', "
            "'sqlalchemy', 'prefect', 'pandas')) or m.startswith('shangyun.cli.') and "
            "m not in ('shangyun.cli.lazy',)), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Commands:" in proc.stdout and "wave" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1] == "[]", proc.stderr
