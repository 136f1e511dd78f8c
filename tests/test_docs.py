"""Every command is documented: help text with an example, and a place in the README."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from mtls_doctor.cli import cli
from mtls_doctor.errors import ExitCode

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))


def commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(cli)

    def walk(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            full = f"{prefix} {name}".strip()
            if isinstance(command, click.Group):
                yield from walk(command, full)
            else:
                yield full, command

    return walk(cli, "")


LEAVES = sorted(commands(), key=lambda item: item[0])


def test_there_are_commands() -> None:
    assert len(LEAVES) > 20


@pytest.mark.parametrize(("name", "command"), LEAVES, ids=[n for n, _ in LEAVES])
def test_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    assert command.help, f"{name} has no help text"
    assert re.search(r"Examples?:", command.help), f"{name} --help shows no example"


@pytest.mark.parametrize(("name", "command"), LEAVES, ids=[n for n, _ in LEAVES])
def test_command_is_in_the_readme_and_the_docs(name: str, command: click.Command) -> None:
    assert f"mtls-doctor {name}" in README or f"`{name}`" in README, f"{name} not in README"
    assert f"mtls-doctor {name}" in DOCS + README, f"{name} has no example in the docs"


def test_readme_starts_with_the_two_commands() -> None:
    lines = [line for line in README.splitlines() if line.strip()]
    assert lines[1] == "```"
    assert lines[2].startswith("make demo") and lines[3].startswith("make test")


def test_exit_codes_are_documented_in_readme_and_help() -> None:
    for code in ExitCode:
        assert f"| {int(code)} |" in README, f"exit code {int(code)} missing from README"
        assert str(int(code)) in (cli.epilog or ""), f"exit code {int(code)} missing from --help"
