"""The ``mtls-doctor`` command line: a thin shell over the library.

Each command module below registers its commands on :data:`cli`. A command parses options,
calls one library function, renders the result to stdout, and exits with an :class:`ExitCode`.
Errors from the library are turned into one stderr line plus a hint, in one place
(:class:`DoctorGroup`); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

from mtls_doctor.cli._base import DoctorGroup, cli

# Which module registers each command. Modules are imported only when their command runs
# (or for --help), so `mtls-doctor logs query` does not pay for boto3, pyOpenSSL or the web UI.
cli.lazy_commands.update(
    {
        "athena": "mtls_doctor.cli.athena_cmds",
        "aws": "mtls_doctor.cli.aws_cmds",
        "cert": "mtls_doctor.cli.cert_cmds",
        "demo": "mtls_doctor.cli.report_cmds",
        "diagnose": "mtls_doctor.cli.diagnose_cmds",
        "explain": "mtls_doctor.cli.explain_cmds",
        "header": "mtls_doctor.cli.header_cmds",
        "ingest": "mtls_doctor.cli.logs_cmds",
        "logs": "mtls_doctor.cli.logs_cmds",
        "pki": "mtls_doctor.cli.sandbox_cmds",
        "policy": "mtls_doctor.cli.policy_cmds",
        "probe": "mtls_doctor.cli.probe_cmds",
        "report": "mtls_doctor.cli.report_cmds",
        "sandbox": "mtls_doctor.cli.sandbox_cmds",
        "serve": "mtls_doctor.cli.report_cmds",
        "sql": "mtls_doctor.cli.logs_cmds",
        "support-bundle": "mtls_doctor.cli.probe_cmds",
        "trust-store": "mtls_doctor.cli.cert_cmds",
    }
)

__all__ = ["DoctorGroup", "cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; ``argv`` makes it callable in-process (tests)."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="mtls-doctor")
