"""The user-facing error hierarchy: every expected failure is a LayerCiError that prints as one line."""

from __future__ import annotations

from dataclasses import dataclass

# Exit codes shared by the CLI and the Action, so callers can tell a bad config from a failed gate.
EXIT_OK = 0
EXIT_FAILURE = 1  # the job ran and found a real problem (tests failed, audit found deleted pins, ...)
EXIT_USAGE = 2  # the input is wrong (config, arguments); fix it and rerun


class LayerCiError(Exception):
    """An expected failure whose message (one line) tells the user what is wrong and how to fix it."""

    exit_code = EXIT_FAILURE

    def one_line(self) -> str:
        return " ".join(str(self).split())


class UsageError(LayerCiError):
    """Bad command-line arguments or references (unknown layer, missing file)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Location:
    """A place in a user's file; ``line`` is 1-based, 0 when unknown."""

    path: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class ConfigError(LayerCiError):
    """A problem in layer-ci.yml (or a template it reads), rendered as ``file:line: field: problem; fix``."""

    exit_code = EXIT_USAGE

    def __init__(self, location: Location, field: str, problem: str, fix: str) -> None:
        self.location = location
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{location}: {field}: {problem}; {fix}")


class BuildError(LayerCiError):
    """A layer could not be built (missing wheel for the target, failing build command, ...)."""


class LimitError(LayerCiError):
    """A Lambda limit would be exceeded; the message names function, layer and numbers."""


class ServiceError(LayerCiError):
    """A remote service (AWS, GitHub, git remote) refused or failed an operation after retries."""

    def __init__(self, service: str, operation: str, detail: str) -> None:
        self.service = service
        self.operation = operation
        super().__init__(f"{service} {operation} failed: {detail}")


class OutcomeUnknown(ServiceError):
    """A publish whose result never arrived (timeouts after every retry): a version may or may not exist."""
