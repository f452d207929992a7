"""The `tether` command: the typer app, its commands, and one place that turns
errors into a one-line message and an exit code."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import Annotated, NoReturn

import typer
from typer._click.exceptions import NoArgsIsHelpError

from tether.core import __version__, errors
from tether.core.exit_codes import ExitCode, for_error

from . import console

app = typer.Typer(
    name="tether",
    help="Run Claude as a long-lived agent: a stateless harness, a Docker sandbox, "
    "and an append-only session log you can tail, resume and kill.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.out.print(f"tether {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug detail to stderr."),
) -> None:
    console.setup_logging(verbose)


# Each command and the module that holds it, in the order `--help` lists them.
COMMAND_MODULES = {
    "run": "run_commands", "resume": "run_commands", "tail": "read_commands",
    "ls": "read_commands", "show": "read_commands", "export": "read_commands",
    "kill": "run_commands", "rm": "clean_commands", "prune": "clean_commands",
    "diff": "workspace_commands", "apply": "workspace_commands", "cp": "workspace_commands",
    "fork": "workspace_commands", "approve": "approve_commands", "deny": "approve_commands",
    "config": "setup_commands", "doctor": "setup_commands", "logs": "read_commands",
    "help": "app", "_wake": "run_commands",
}  # fmt: skip
ALIASES = {"logs": "tail"}  # another name for a command, kept out of the command list
HIDDEN = {"logs", "_wake"}


def help_command(
    command: Annotated[str | None, typer.Argument(metavar="[COMMAND]")] = None,
) -> None:
    """Show the help of tether, or of one of its commands."""
    raise typer.Exit(main([command, "--help"] if command else ["--help"]))


COMMANDS = {"help": help_command}


_registered: set[str] = set()  # commands added to `app` so far ("" for the shells)


def _register(argv: list[str]) -> None:
    """Add the commands. When argv names one, only its module is imported, so that
    `tether tail` does not pay for loading `run` and `doctor`; help, completion and
    mistakes get them all."""
    from importlib import import_module

    wanted = _command_in(argv)
    wanted = None if wanted == "help" else wanted  # help may name any command
    names = [wanted] if wanted else list(COMMAND_MODULES)
    if not wanted and "" not in _registered:
        from . import completion

        completion.register_shells()  # `_TETHER_COMPLETE=complete_bash tether` answers scripts
        _registered.add("")
    for name in names:
        if name in _registered:
            continue
        _registered.add(name)
        module = import_module(f"{__package__}.{COMMAND_MODULES[name]}")
        command = module.COMMANDS[ALIASES.get(name, name)]
        app.command(name, hidden=name in HIDDEN)(command)


def _promises_json(argv: list[str]) -> bool:
    """`run --json` and `resume --json` end stdout with a result line, even on a bad flag."""
    return _command_in(argv) in ("run", "resume") and "--json" in argv


def _command_in(argv: list[str]) -> str | None:
    """The command argv names, if it names a known one (options before it skipped)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMAND_MODULES else None
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    console.guard_streams()
    _register(args)
    if not args:
        args = ["--help"]  # bare `tether`: the help, and success
    try:
        _check_utf8(args)
    except errors.UsageError as exc:
        return _usage_error(args, str(exc))
    try:
        # Without standalone mode, typer returns (not raises) the code of a `typer.Exit`.
        code = app(args=args, prog_name="tether", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except NoArgsIsHelpError as exc:  # bare `tether` or `tether run` with nothing: show help
        console.err.print(exc.format_message(), markup=False, highlight=False)
        return ExitCode.USAGE
    except typer.TyperException as exc:  # typer >= 0.25 vendors click as typer._click
        return _usage_error(args, _click_message(exc))
    except errors.Interrupted as exc:  # a signal before a run's session existed
        return for_error(exc)
    except (typer.Abort, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    except errors.TetherError as exc:
        console.fail(str(exc))
        return for_error(exc)
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`); nothing more to say
        return ExitCode.OK
    except Exception as exc:  # a bug of ours: one line for the person, the trace with -v
        logging.getLogger("tether").debug("unexpected error", exc_info=True)
        console.fail(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)")
        return ExitCode.ERROR
    return code if isinstance(code, int) else ExitCode.OK


def _check_utf8(args: list[str]) -> None:
    """Refuse an argument with bytes that are not UTF-8 before anything reads it."""
    for arg in args:
        if not arg.isascii():
            from tether.core.encoding import utf8

            utf8(arg, "an argument")


def _usage_error(args: list[str], message: str) -> int:
    console.fail(message)
    if _promises_json(args):
        from .results import write_error_result

        write_error_result(ExitCode.USAGE, message)
    return ExitCode.USAGE


def _click_message(exc: typer.TyperException) -> str:
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


def run() -> None:
    leave(main())


def leave(code: int) -> NoReturn:
    """Exit with `code`. A thread still at work (the workspace being made ready when a
    signal stopped the run, the MCP loop) is not waited for: finalizing the interpreter
    under it can abort the process (glibc's "FATAL: exception not rethrown" as the thread
    unwinds through native code), turning the exit code into SIGABRT. Everything tether
    records is written and synced before this; stdout and stderr are flushed here."""
    if threading.active_count() == 1:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code)
