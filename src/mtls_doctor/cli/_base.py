"""The root click group, the error boundary and the options shared by many commands."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from mtls_doctor import __version__
from mtls_doctor.errors import EXIT_CODES_HELP, ExitCode, MtlsDoctorError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


class DoctorError(click.ClickException):
    """A library error on its way out: one line on stderr, the hint, the documented exit code."""

    def __init__(self, error: MtlsDoctorError) -> None:
        super().__init__(error.message)
        self.exit_code = int(error.exit_code)  # type: ignore[misc]
        self.hint = error.hint

    def show(self, file: Any = None) -> None:
        stream = file if file is not None else sys.stderr
        click.echo(f"error: {self.message}", file=stream)
        if self.hint:
            click.echo(f"hint: {self.hint}", file=stream)


# Inputs that failed while the others were read (a refused or missing cloudwatch: group):
# the command still ends with their exit code, after its output.
INPUT_FAILURES = "mtls_doctor.input_failures"


def record_input_failure(error: MtlsDoctorError) -> None:
    """Fail the running command with ``error``'s exit code once it has done the rest."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta.setdefault(INPUT_FAILURES, []).append(error)


def _worst_failure(ctx: click.Context, code: int) -> MtlsDoctorError | None:
    """The recorded input failure that outranks exit ``code`` (ok, findings, bad input)."""
    failures: list[MtlsDoctorError] = ctx.meta.get(INPUT_FAILURES) or []
    if not failures or code not in (ExitCode.OK, ExitCode.FINDINGS, ExitCode.BAD_INPUT):
        return None
    worst = max(failures, key=lambda e: int(e.exit_code))
    return worst if int(worst.exit_code) > code else None


def _after_failures(ctx: click.Context, code: int) -> click.exceptions.Exit:
    worst = _worst_failure(ctx, code)
    if worst is None:
        return click.exceptions.Exit(code)
    DoctorError(worst).show()
    return click.exceptions.Exit(int(worst.exit_code))


def _debug_enabled(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool((root.obj or {}).get("debug")) or os.environ.get("MTLS_DOCTOR_DEBUG") == "1"


class DoctorGroup(click.Group):
    """A group that converts library errors and Ctrl-C into documented exit codes.

    ``lazy_commands`` maps a command name to the module that registers it; the module is
    imported the first time the command is looked up.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = {}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            importlib.import_module(self.lazy_commands[cmd_name])
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _complete(command)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy_commands))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                value = super().invoke(ctx)
                if _worst_failure(ctx, ExitCode.OK) is not None:
                    raise click.exceptions.Exit(int(ExitCode.OK))  # said below
                return value
            finally:
                # Flush here, where a closed pipe can still be told apart from other faults;
                # Python's own flush at exit would print "Exception ignored" and exit 120.
                sys.stdout.flush()
        except BrokenPipeError:
            _drop_stdout()
            raise click.exceptions.Exit(int(ExitCode.PIPE_CLOSED)) from None
        except MtlsDoctorError as error:
            if _debug_enabled(ctx):
                raise
            # Nothing could be read because the one input failed: say that failure.
            worst = _worst_failure(ctx, int(error.exit_code))
            raise DoctorError(worst or error) from None
        except click.exceptions.Exit as done:
            raise _after_failures(ctx, done.exit_code) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(int(ExitCode.INTERRUPTED)) from None
        except (click.ClickException, click.exceptions.Abort):
            raise
        except duckdb_errors() as error:
            if _is_interrupt(error):
                click.echo("interrupted", err=True)
                raise click.exceptions.Exit(int(ExitCode.INTERRUPTED)) from None
            if _debug_enabled(ctx):
                raise
            raise DoctorError(
                MtlsDoctorError(
                    f"database error: {str(error).splitlines()[0]}", hint="--debug shows the trace."
                )
            ) from None
        except OSError as error:
            if _debug_enabled(ctx):
                raise
            name = f" {error.filename}" if getattr(error, "filename", None) else ""
            raise DoctorError(
                MtlsDoctorError(
                    f"cannot use{name}: {error.strerror or error}",
                    hint="Check the path and its permissions; --debug shows the trace.",
                )
            ) from None
        except Exception as error:  # a bug: say so in one line, keep the trace for --debug
            if _is_interrupt(error):
                click.echo("interrupted", err=True)
                raise click.exceptions.Exit(int(ExitCode.INTERRUPTED)) from None
            if _debug_enabled(ctx):
                raise
            internal = MtlsDoctorError(
                f"internal error: {type(error).__name__}: {error}",
                hint="This is a bug in mtls-doctor; rerun with --debug and report the trace.",
            )
            internal.exit_code = ExitCode.INTERNAL
            raise DoctorError(internal) from None


def _drop_stdout() -> None:
    """The reader of stdout is gone (``| head``): send what is still buffered nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (tests): nothing is flushed at exit
        pass


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().ensure_object(dict)["debug"] = True


DEBUG_HELP = "Show full tracebacks on errors."


class NonEmpty(click.ParamType):  # type: ignore[type-arg]
    """A text or path value that may not be empty: ``--log-line "$(grep ...)"`` where the
    grep found nothing is a mistake to report, not a value to run with (an empty path would
    even mean the current folder)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    def get_metavar(self, *args: Any, **kwargs: Any) -> str | None:
        metavar = self.inner.get_metavar(*args, **kwargs)
        return str(metavar) if metavar is not None else None

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip() and _typed(param, ctx):
            name = param.opts[0] if isinstance(param, click.Option) else None
            shown = name or (param.human_readable_name if param is not None else "a value")
            raise UsageError(
                f"{shown} is empty",
                hint="Give a value; if it came from $(...), that command found nothing.",
            )
        return self.inner.convert(value, param, ctx)


def _typed(param: click.Parameter | None, ctx: click.Context | None) -> bool:
    """The value came from the command line or the environment, not from a default."""
    if param is None or ctx is None or param.name is None:
        return True
    source = ctx.get_parameter_source(param.name)
    return source not in (
        click.core.ParameterSource.DEFAULT,
        click.core.ParameterSource.DEFAULT_MAP,
    )


def _refuse_empty(param: click.Parameter) -> None:
    if isinstance(param.type, click.types.StringParamType | click.Path):
        param.type = NonEmpty(param.type)


def _complete(command: click.Command) -> None:
    """What every command has: the exit codes under its --help, ``--debug`` after the
    command name too (``mtls-doctor diagnose logs/ --debug``), and no empty values."""
    if command.epilog is None:
        command.epilog = EXIT_CODES_HELP
    for param in command.params:
        _refuse_empty(param)
    if any(p.name == "debug" for p in command.params):
        return
    command.params.append(
        click.Option(
            ["--debug"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_set_debug,
            help=DEBUG_HELP,
        )
    )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _complete(sub)


def _is_interrupt(error: BaseException) -> bool:
    # DuckDB turns Ctrl-C during a query into its own exception, not KeyboardInterrupt.
    import duckdb

    return isinstance(error, duckdb.InterruptException) or (
        isinstance(error, RuntimeError) and "Query interrupted" in str(error)
    )


def duckdb_errors() -> tuple[type[BaseException], ...]:
    import duckdb

    return (duckdb.Error,)


@click.group(cls=DoctorGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="mtls-doctor")
@click.option("--debug", is_flag=True, help=DEBUG_HELP + " Also accepted after the command.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Find out why clients fail mutual TLS on an AWS Application Load Balancer.

    \b
    Example:
      mtls-doctor logs query logs/ --client-ip 203.0.113.9 --status failed
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug or bool(ctx.obj.get("debug"))


def finish(code: ExitCode | int) -> NoReturn:
    """Leave the command with ``code`` (click ignores return values in standalone mode)."""
    raise click.exceptions.Exit(int(code))


def warn(message: str) -> None:
    """A warning for the human: stderr, never stdout."""
    click.echo(f"warning: {message}", err=True)


def info(message: str) -> None:
    """A progress or summary line for the human: stderr."""
    click.echo(message, err=True)


def format_option(*choices: str, default: str | None = None) -> Callable[[F], F]:
    """The one ``--format`` option every command shares (choices vary per command)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices), case_sensitive=False),
        default=default or choices[0],
        show_default=True,
        help="Output format on stdout.",
    )
