"""The error boundary of the command group: each kind of failure gets its exit code."""

from __future__ import annotations

import click
import duckdb
import pytest
from click.testing import CliRunner

from mtls_doctor.cli._base import DoctorGroup
from mtls_doctor.errors import InputError


def group_raising(error: BaseException) -> click.Group:
    @click.group(cls=DoctorGroup)
    def root() -> None:
        pass

    @root.command()
    def boom() -> None:
        raise error

    return root


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (InputError("x.pem: unreadable", hint="check it"), 3, "error: x.pem: unreadable"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (duckdb.InterruptException("INTERRUPT Error: Interrupted!"), 130, "interrupted"),
        (RuntimeError("Query interrupted"), 130, "interrupted"),
        (RuntimeError("something else"), 70, "internal error: RuntimeError"),
        (duckdb.IOException("disk"), 3, "database error"),
    ],
)
def test_each_failure_has_its_exit_code(error: BaseException, code: int, message: str) -> None:
    result = CliRunner().invoke(group_raising(error), ["boom"])
    assert result.exit_code == code
    assert message in result.stderr and "Traceback" not in result.stderr
