"""What the flows use to reach the world, passed in so tests swap endpoints, not code.

``Services`` carries the registries, the builder, the test runner, GitHub, git, the log and the phase
wrapper; None where a run must not (or cannot) reach something.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layer_ci.gate.local_gate import TestFn, engine_tests

if TYPE_CHECKING:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.adapters.github import GitHubClient
    from layer_ci.build.targets import BuildFn
    from layer_ci.publish.registry_contract import LayerRegistry

Log = Callable[[str], None]
RegistryFactory = Callable[[str], "LayerRegistry"]


def stderr_log(message: str) -> None:
    """The CLI's log: ``layer-ci: message`` on stderr, so stdout stays the command's result."""
    print(f"layer-ci: {message}", file=sys.stderr, flush=True)


def _no_group(_title: str) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Services:
    """What a flow uses to reach the world; None where a run must not (or cannot) reach it.

    ``registry_factory`` None means nothing may be published (a fork's pull request, a dry run);
    ``build`` None is the real builder. ``phase`` wraps each stage (the Action turns it into a
    ``::group::``).
    """

    registry_factory: RegistryFactory | None = None
    build: BuildFn | None = None
    run_tests: TestFn = engine_tests
    github: GitHubClient | None = None
    git: GitRepo | None = None
    log: Log = stderr_log
    phase: Callable[[str], AbstractContextManager[None]] = _no_group
