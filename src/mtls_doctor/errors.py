"""One base error with a message and a hint, its families, and the process exit codes.

Library code raises these; only ``mtls_doctor.cli`` turns them into exit codes and stderr lines.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (README "Exit codes", and every command's --help)."""

    OK = 0
    FINDINGS = 1  # failures found, or a verdict other than Success
    USAGE = 2  # bad command line (click's own code)
    BAD_INPUT = 3  # unreadable log, certificate, bundle, CRL or DB schema
    ENVIRONMENT = 4  # AWS, network, locked database
    INTERRUPTED = 130  # Ctrl-C (serve: also SIGTERM)
    PIPE_CLOSED = 141  # stdout's reader went away (| head): 128 + SIGPIPE, as the shell reports
    INTERNAL = 70  # a bug in mtls-doctor (EX_SOFTWARE); --debug shows the trace


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 findings (failures found, or verdict not Success); 2 usage; "
    "3 bad input (also: nothing could be read); 4 environment (AWS, network, locked DB); "
    "130 interrupted; 141 stdout closed early (| head); 70 internal error."
)


class MtlsDoctorError(Exception):
    """Base error: a one-line ``message`` naming the object at fault and an optional ``hint``."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(MtlsDoctorError):
    """Options that make no sense together, found after click's own parsing."""

    exit_code = ExitCode.USAGE


class InputError(MtlsDoctorError):
    """A file or value given by the user cannot be read or understood."""

    exit_code = ExitCode.BAD_INPUT


class LogFormatError(InputError):
    """A connection-log line that is not in the ALB format (raised only in ``--strict`` mode)."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(
            f"{path}:{line}: {reason}",
            hint="Drop --strict to skip malformed lines and keep reading.",
        )
        self.path = path
        self.line = line
        self.reason = reason


class CertificateLoadError(InputError):
    """A certificate, bundle or CRL file that cannot be loaded."""


class StoreError(InputError):
    """The DuckDB store is unusable (wrong schema, not a DuckDB file, bad SQL)."""


class EnvironmentProblem(MtlsDoctorError):
    """Something outside the input is wrong: AWS access, the network, a locked database."""

    exit_code = ExitCode.ENVIRONMENT


class StoreLockedError(EnvironmentProblem):
    """Another process holds the DuckDB file open for writing."""


class AwsAccessError(EnvironmentProblem):
    """AWS refused or could not be reached."""


class NetworkError(EnvironmentProblem):
    """A TCP/TLS peer could not be reached."""
