"""The nnc command line: parses (runtime/cli_args.py), calls the command (runtime/commands.py),
and turns every failure into one line and an exit code through one table (`_failures`): 0 ok,
1 invalid spec/data or failed run, 2 usage error, 3 stopped by the NaN guard (non-finite step
results, or parameters that would be checkpointed or exported) or a failed gradient check,
130 interrupted (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import sys

from nnc.runtime.cli_args import build_parser
from nnc.runtime.errors import EXIT_CHECK, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_USAGE

__all__ = ["build_parser", "exit_code", "main"]


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _failures():
    """The exit-code table: (exception classes, exit code, the lines to print), tried in order.

    A generator, so that each row's classes are imported only when an error gets that far: the
    first row needs no import at all (a Ctrl-C can cut an import in half, after which that module
    cannot be imported again), and `nnc --version` imports none of them."""
    yield (KeyboardInterrupt,), EXIT_INTERRUPTED, lambda e: [str(e) or "interrupted"]
    from nnc.compiler.spec.errors import SpecError

    def diagnostics(e):
        n = len(e.diagnostics)
        return [str(d) for d in e.diagnostics] + [f"{n} error{'s' if n != 1 else ''}"]

    yield (SpecError,), EXIT_INVALID, diagnostics
    from nnc.runtime.errors import RunError, UsageError

    yield (UsageError,), EXIT_USAGE, lambda e: [str(e)]
    from nnc.runtime.nanguard import NonFiniteValues

    yield (NonFiniteValues,), EXIT_CHECK, lambda e: [f"error: {e}"]
    from nnc.compiler.autodiff import GradientError
    from nnc.runtime.checkpoint import CheckpointError
    from nnc.runtime.data import DataError
    from nnc.runtime.engines import EngineError
    from nnc.runtime.interpreter.errors import UnsupportedOpError

    failed = (RunError, DataError, CheckpointError, EngineError, GradientError, UnsupportedOpError)
    yield (*failed, FileNotFoundError, ValueError), EXIT_INVALID, lambda e: [f"error: {e}"]
    # the file system said no (read-only, full, permissions) where no caller said it better
    yield (OSError,), EXIT_INVALID, lambda e: [f"error: {_os_error(e)}"]


def _os_error(e: OSError) -> str:
    what = f"{e.filename}: " if e.filename else ""
    return f"{what}{e.strerror or e}"


def exit_code(e: BaseException) -> int | None:
    """Prints what went wrong and -> its exit code; None for a failure nnc does not expect (a
    bug, to be shown with its traceback)."""
    for classes, code, lines in _failures():
        if isinstance(e, classes):
            for line in lines(e):
                _err(line)
            return code
    return None


def main(argv: list[str] | None = None) -> int:
    """Runs one command -> its exit code. argv None: the process's own command line, and the
    process ends with this command: once its exit code is decided, Ctrl-C is ignored, since the
    interpreter's shutdown would otherwise die of it (exit -2, no message) after a finished run."""
    try:
        code = _run(argv)
    except KeyboardInterrupt:  # landed between _run's own handler and here
        _err("interrupted")
        code = EXIT_INTERRUPTED
    if argv is None:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            sys.stdout.flush()  # here, not in the interpreter's shutdown, which would complain
        except BrokenPipeError:
            code = _closed_pipe()
    return code


def _closed_pipe() -> int:
    """stdout's reader went away (`nnc predict ... | head`): stop quietly, as Unix tools do.
    stdout is pointed at /dev/null so that no later flush fails again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # a stdout without a file descriptor (captured in tests)
        pass
    return EXIT_OK


def _run(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:
            return int(e.code or 0) and EXIT_USAGE
        if not getattr(args, "fn", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return args.fn(args)
    except BrokenPipeError:
        return _closed_pipe()
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - one clear line, never a traceback
        code = exit_code(e)
        if code is None:
            raise
        return code


if __name__ == "__main__":
    sys.exit(main())
