"""The Action's entry: read the runner's environment, build the real clients, hand them to ``action``."""

from __future__ import annotations

import base64
import contextlib
import logging
import math
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

from layer_ci.action.context import read_settings
from layer_ci.action.routing import DefaultAwsProvider, action
from layer_ci.cli import BUG_REPORT_URL
from layer_ci.errors import LayerCiError, UsageError
from layer_ci.report.workflow_commands import PlainLog, Runner

if TYPE_CHECKING:
    from layer_ci.adapters.github import RetryPolicy

EXIT_INTERNAL = 70  # EX_SOFTWARE, as the CLI uses for bugs
# Values that must never appear in the log even if some library echoes them.
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "LAYER_CI_GITHUB_TOKEN", "GITHUB_TOKEN")
TOKEN_VARIABLES = ("LAYER_CI_GITHUB_TOKEN", "GITHUB_TOKEN")


def git_basic_credential(token: str) -> str:
    """The Basic-auth value git sends for ``token`` (as actions/checkout does): a secret of its own.

    It is the base64 of ``x-access-token:<token>``, which masking the token alone does not hide.
    """
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()


class AnnotationHandler(logging.Handler):
    """Library log records as runner annotations: WARNING -> ``::warning::``, ERROR -> ``::error::``."""

    def __init__(self, runner: Runner) -> None:
        super().__init__(level=logging.WARNING)
        self.runner = runner

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:  # a broken log call must not end the run
            return
        if record.levelno >= logging.ERROR:
            self.runner.error(message)
        else:
            self.runner.warning(message)


def github_policy(environ: Mapping[str, str]) -> RetryPolicy:
    """GitHub pacing and patience: the defaults GitHub asks for, unless LAYER_CI_GITHUB_* say otherwise.

    GitHub Enterprise Server without secondary rate limits (and the loopback stand-in the tests use) can
    run with 0 intervals; github.com wants about a second between content-creating requests.
    LAYER_CI_GITHUB_TIMEOUT is each request's socket timeout, LAYER_CI_GITHUB_MAX_WAIT the most one
    request may wait out rate limits and retries in all before the run fails naming it.
    """
    from layer_ci.adapters.github import RetryPolicy

    overrides: dict[str, Any] = {}
    for name, attribute, low, high in (
        ("LAYER_CI_GITHUB_WRITE_INTERVAL", "seconds_between_writes", 0, 60),
        ("LAYER_CI_GITHUB_REQUEST_INTERVAL", "seconds_between_requests", 0, 60),
        ("LAYER_CI_GITHUB_TIMEOUT", "timeout_s", 1, 600),
        ("LAYER_CI_GITHUB_MAX_WAIT", "max_total_wait_s", 0, 3600),
    ):
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        try:
            seconds = float(raw)
        except ValueError:
            raise UsageError(f"{name}={raw!r} is not a number of seconds") from None
        if not low <= seconds <= high:
            raise UsageError(f"{name}={raw!r} must be between {low} and {high} seconds")
        overrides[attribute] = math.ceil(seconds) if attribute == "timeout_s" else seconds
    return replace(RetryPolicy(), **overrides)


def main(environ: Mapping[str, str] | None = None, stdout: TextIO | None = None) -> int:
    """Run the Action; returns its exit code (0 ok, 1 a real failure, 2 bad input, 70 a bug)."""
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    runner = Runner(stdout, environ)
    # Whatever any module prints (file names, layer reasons, installer and test output) is plain text the
    # runner would otherwise scan for commands, on stderr as on stdout: both go through PlainLog.
    plain_stderr = PlainLog(sys.stderr)
    with contextlib.redirect_stdout(runner.plain), contextlib.redirect_stderr(plain_stderr):
        try:
            return _main(environ, runner)
        finally:
            runner.plain.finish_line()
            plain_stderr.finish_line()


def _main(environ: Mapping[str, str], runner: Runner) -> int:
    masked: set[str] = set()

    def mask(secret: str) -> None:
        if secret and secret not in masked:
            masked.add(secret)
            runner.mask(secret)

    for name in SECRET_VARIABLES:
        mask(environ.get(name, ""))
    for name in TOKEN_VARIABLES:
        if environ.get(name):
            mask(git_basic_credential(environ[name]))
    handler = AnnotationHandler(runner)
    root = logging.getLogger()
    root.addHandler(handler)
    github = None
    try:
        settings = read_settings(environ)
        mask(settings.token)
        if settings.token:
            mask(git_basic_credential(settings.token))
        from layer_ci.adapters.git import GitRepo

        git = GitRepo(settings.workspace, token=settings.token or None, work_tree=settings.workspace)
        if settings.token:
            from layer_ci.adapters.github import GitHubClient

            github = GitHubClient(
                settings.token, settings.repository, api_url=settings.api_url, policy=github_policy(environ)
            )
        # A fork's code runs with a read-only token and must not reach AWS: it gets no AWS provider at all,
        # also on a review or a comment of a fork's pull request (see ActionSettings.read_only_reason).
        aws = None if settings.read_only_reason is not None else DefaultAwsProvider()
        return action(settings, github, git, aws, runner=runner)
    except LayerCiError as exc:
        runner.error(exc.one_line(), title="layer-ci")
        return exc.exit_code
    except Exception as exc:  # a bug: one annotation, the traceback only on request
        if environ.get("LAYER_CI_DEBUG"):
            runner.log(traceback.format_exc().rstrip("\n"))  # names and messages in it are untrusted
        runner.error(
            f"internal error (a bug, not your input): {type(exc).__name__}: {exc}; rerun with "
            f"LAYER_CI_DEBUG=1 for the traceback and report it at {BUG_REPORT_URL}",
            title="layer-ci",
        )
        return EXIT_INTERNAL
    finally:
        root.removeHandler(handler)
        if github is not None:
            github.close()
