"""The ``layer-ci`` command line: parses arguments and hands each subcommand to its module."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

from layer_ci import __version__
from layer_ci.errors import EXIT_USAGE, LayerCiError

# One module per subcommand under layer_ci/commands/, each exposing HELP, add_arguments(parser) and
# run(args) -> int. Command modules import heavy libraries (boto3, PyGithub) inside run() so that
# `layer-ci plan` stays fast when nothing changed.
COMMANDS: tuple[str, ...] = (
    "plan",
    "build",
    "test",
    "invoke",
    "publish",
    "audit",
    "prune",
    "pins",
    "bump",
    "verify",
    "run",
    "schema",
    "watch",
)

NO_COMMAND = ""  # what _chosen_command answers when argv needs no command's module loaded
BUG_REPORT_URL = "https://github.com/layer-ci/layer-ci/issues"
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a program ended by SIGPIPE


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"layer_ci.commands.{name}_command")
    except ModuleNotFoundError as exc:
        if exc.name == f"layer_ci.commands.{name}_command":
            return None
        raise


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given the ``argv`` it will parse, only the chosen command's module loads.

    Top-level help and errors list every command with its help, so without a recognisable command (or
    with -h before it) every module is loaded. Loading one instead of all keeps `layer-ci plan` fast.
    """
    chosen = _chosen_command(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="layer-ci",
        description="Build, publish, bump and test AWS Lambda layers safely.",
    )
    parser.add_argument("--version", action="version", version=f"layer-ci {__version__}")
    parser.add_argument(
        "--config",
        default=None,
        help="path to layer-ci.yml (default: ./layer-ci.yml, the repository root is its folder)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        if chosen is not None and name != chosen:
            continue  # the command line names another command: no parser, nothing loaded
        module = _load(name)
        if module is None:
            continue
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names, or None when there is none or help comes first.

    ``--version`` before any command answers as "no command's module is needed" (an empty name):
    argparse prints the version and exits before it would look at a command.
    """
    args = list(argv)
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-h", "--help", "--"):
            return None
        if arg == "--version":
            return NO_COMMAND
        if arg == "--config":
            index += 2
        elif arg.startswith("-"):
            index += 1
        else:
            return arg if arg in COMMANDS else None
    return None


def run() -> int:
    """The ``layer-ci`` program (console script, ``python -m layer_ci``): ``main()`` in a process ending next.

    The garbage collector is tuned for a process this short. Loading a command's modules allocates tens of
    thousands of objects that live until the end, and the default threshold (700) had the collector walk
    them some 25 times in a build (3-4 ms); at 20,000 it runs as often as a long command's own garbage
    needs. The interpreter's last collection walks every object of every module loaded, about 10 ms of a
    build; the process ends right after, so what exists then is frozen out of that walk (``gc.freeze``).
    Files are still flushed and closed and atexit handlers still run. Not in ``main``: tests and other
    long-lived callers keep the interpreter's defaults.
    """
    import gc

    gc.set_threshold(20_000, 10, 10)
    try:
        return main()
    finally:
        gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    with _runner_safe_output(args):
        return _main(args)


@contextlib.contextmanager
def _runner_safe_output(args: argparse.Namespace) -> Iterator[None]:
    """In a GitHub Actions step, print nothing the runner could take as a workflow command.

    Messages carry file names, layer reasons and test output from the repository (and a pull request
    is untrusted): risky lines are fenced by ``::stop-commands::``. JSON output stays valid JSON.
    """
    if os.environ.get("GITHUB_ACTIONS") != "true":
        yield
        return
    from layer_ci.report.workflow_commands import PlainLog

    # Machine-read stdout stays byte-for-byte JSON: --json, --matrix, the schema, an invocation's payload.
    json_out = bool(
        getattr(args, "json", False)
        or getattr(args, "matrix", False)
        or getattr(args, "command", None) in ("schema", "invoke")
    )
    out = PlainLog(sys.stdout, json_lines=json_out)
    err = PlainLog(sys.stderr)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    finally:
        for stream in (out, err):
            with contextlib.suppress(OSError, ValueError):  # a reader that went away: nothing to add
                stream.finish_line()


def _main(args: argparse.Namespace) -> int:
    try:
        code: int = args.handler(args)
        sys.stdout.flush()  # a reader that went away surfaces here rather than at interpreter exit
        return code
    except BrokenPipeError:
        # `layer-ci plan --json | head`: the reader has what it wanted; end as a program killed by
        # SIGPIPE would, without a traceback or a complaint about the unflushable buffer.
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except LayerCiError as exc:
        print(f"layer-ci: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("layer-ci: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        given = _path_the_user_gave(exc, args)
        if given is None:
            return _internal_error(exc)
        failing = os.fsdecode(exc.filename)
        where = "" if Path(failing).absolute() == Path(given).absolute() else f" ({failing})"
        print(
            f"layer-ci: error: cannot write {given}: {exc.strerror or type(exc).__name__}{where}; "
            "choose a writable path",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except Exception as exc:
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    """A bug: say so in one line, keep the traceback for those who ask."""
    if os.environ.get("LAYER_CI_DEBUG"):
        import traceback  # only a bug needs it: not worth loading on every start

        traceback.print_exception(exc)
    print(
        f"layer-ci: internal error (a bug, not your input): {type(exc).__name__}: {exc}; "
        f"rerun with LAYER_CI_DEBUG=1 for the traceback and report it at {BUG_REPORT_URL}",
        file=sys.stderr,
    )
    return EXIT_USAGE + 68  # 70 = EX_SOFTWARE


def _path_the_user_gave(exc: OSError, args: argparse.Namespace) -> str | None:
    """The command-line path an OSError is about: the path itself, a folder above it, or a file in it.

    Paths the user named (--out, --cache-dir, --junit-xml, ...) fail for reasons only the user can fix;
    an OSError anywhere else is a bug. Arguments naming the working folder or one above it are not
    matched: every path would lie inside them.
    """
    if exc.filename is None:
        return None
    failing = Path(os.fsdecode(exc.filename)).absolute()
    cwd = Path.cwd()
    for value in _string_arguments(args):
        given = Path(value).absolute()
        if given == cwd or given in cwd.parents:
            continue
        if failing == given or failing in given.parents or given in failing.parents:
            return value
    return None


def _string_arguments(args: argparse.Namespace) -> list[str]:
    values: list[str] = []
    for value in vars(args).values():
        if isinstance(value, str):
            values.append(value)
        elif isinstance(value, list | tuple):
            values.extend(item for item in value if isinstance(item, str))
    return [value for value in values if value]


def _discard_stdout() -> None:
    # Later writes (and the flush at exit) go nowhere instead of raising again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (captured in tests): nothing will flush it
        pass
