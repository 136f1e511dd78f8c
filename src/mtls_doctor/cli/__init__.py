"""The ``mtls-doctor`` command line: a thin shell over the library.

Each command module below registers its commands on :data:`cli`. A command parses options,
calls one library function, renders the result to stdout, and exits with an :class:`ExitCode`.
Errors from the library are turned into one stderr line plus a hint, in one place
(:class:`DoctorGroup`); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

from mtls_doctor.cli._base import DoctorGroup, cli

# Command modules: importing one registers its commands on ``cli``.
from mtls_doctor.cli import logs_cmds  # noqa: F401  isort: skip
from mtls_doctor.cli import report_cmds  # noqa: F401  isort: skip
from mtls_doctor.cli import athena_cmds  # noqa: F401  isort: skip
from mtls_doctor.cli import sandbox_cmds  # noqa: F401  isort: skip
from mtls_doctor.cli import diagnose_cmds  # noqa: F401  isort: skip
from mtls_doctor.cli import explain_cmds  # noqa: F401  isort: skip
from mtls_doctor.cli import cert_cmds  # noqa: F401  isort: skip
from mtls_doctor.cli import aws_cmds  # noqa: F401  isort: skip
from mtls_doctor.cli import probe_cmds  # noqa: F401  isort: skip

__all__ = ["DoctorGroup", "cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; ``argv`` makes it callable in-process (tests)."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="mtls-doctor")
