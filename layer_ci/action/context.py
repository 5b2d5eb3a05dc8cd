"""The Action's view of its run: the runner's GITHUB_* variables, the event payload and its own inputs.

Inputs arrive under explicit non-hyphenated names (``LAYER_CI_*``) that action.yml maps one by one in
``runs.env``: Docker actions cannot rely on the runner's hyphenated ``INPUT_*`` variables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from layer_ci.errors import UsageError

Command = Literal["auto", "plan", "run", "verify", "audit", "prune"]
COMMANDS: tuple[str, ...] = ("auto", "plan", "run", "verify", "audit", "prune")

# input name in action.yml -> the environment variable action.yml maps it to
INPUT_ENV: dict[str, str] = {
    "github-token": "LAYER_CI_GITHUB_TOKEN",
    "config": "LAYER_CI_CONFIG",
    "command": "LAYER_CI_COMMAND",
    "layers": "LAYER_CI_LAYERS",
    "force": "LAYER_CI_FORCE",
    "regions": "LAYER_CI_REGIONS",
    "dry-run": "LAYER_CI_DRY_RUN",
    "test": "LAYER_CI_TEST",
    "release": "LAYER_CI_RELEASE",
    "release-any-branch": "LAYER_CI_RELEASE_ANY_BRANCH",
}
# Events whose payload carries the pull request (head repository included): a fork's is read-only.
PULL_REQUEST_EVENTS = frozenset(
    {"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment"}
)

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off", ""})
_NAME_LIST = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class ActionSettings:
    """Everything the Action reads from its environment, parsed once; the token stays out of ``repr``."""

    event_name: str
    event: Mapping[str, Any] = field(hash=False, compare=False, repr=False)
    repository: str
    sha: str
    ref: str
    api_url: str
    server_url: str
    run_id: str
    workspace: Path
    config_path: Path
    token: str = field(repr=False)
    command: Command = "auto"
    layers: tuple[str, ...] = ()
    force: bool = False
    regions: tuple[str, ...] = ()
    dry_run: bool = False
    run_tests: bool = True
    release: bool = False
    release_any_branch: bool = False

    @property
    def default_branch(self) -> str:
        repository = self.event.get("repository")
        branch = repository.get("default_branch") if isinstance(repository, Mapping) else None
        return str(branch) if branch else "main"

    @property
    def branch(self) -> str | None:
        """The pushed branch (``refs/heads/X`` -> ``X``), None for tags and pull request merge refs."""
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def on_default_branch(self) -> bool:
        return self.branch == self.default_branch

    @property
    def pull_request(self) -> Mapping[str, Any]:
        pull = self.event.get("pull_request")
        return pull if isinstance(pull, Mapping) else {}

    @property
    def pr_number(self) -> int | None:
        number = self.pull_request.get("number", self.event.get("number"))
        if number is None and self.is_pull_request_comment:
            number = self.event["issue"].get("number")
        return number if isinstance(number, int) and not isinstance(number, bool) else None

    @property
    def is_pull_request_comment(self) -> bool:
        """An ``issue_comment`` event on a pull request (its payload names the issue, not the head)."""
        issue = self.event.get("issue")
        return (
            self.event_name == "issue_comment"
            and isinstance(issue, Mapping)
            and bool(issue.get("pull_request"))
        )

    @property
    def pr_head_repository(self) -> str:
        head = self.pull_request.get("head")
        repo = head.get("repo") if isinstance(head, Mapping) else None
        name = repo.get("full_name") if isinstance(repo, Mapping) else None
        return str(name) if name else ""

    @property
    def is_fork(self) -> bool:
        """A pull request whose head lives in another repository (or whose repository was deleted).

        Such runs get a read-only token and no secrets, and the code is not the repository owner's: the
        Action then runs read-only whatever credentials happen to be present.
        """
        if self.event_name not in PULL_REQUEST_EVENTS:
            return False
        head = self.pr_head_repository
        return not head or head.lower() != self.repository.lower()

    @property
    def workflow_run_from_elsewhere(self) -> str | None:
        """For a ``workflow_run`` event: the head repository of the run that triggered it, when that is not
        this repository (a fork's pull request; "(unknown repository)" when the payload does not say).

        Such a workflow often checks out the triggering run's ``head_sha``: a fork's code, with this
        repository's secrets in reach. ``workflow_run.pull_requests`` is empty for forks, so the head
        repository is what tells.
        """
        if self.event_name != "workflow_run":
            return None
        run = self.event.get("workflow_run")
        head = run.get("head_repository") if isinstance(run, Mapping) else None
        name = head.get("full_name") if isinstance(head, Mapping) else None
        if not name:
            return "(unknown repository)"
        return None if str(name).lower() == self.repository.lower() else str(name)

    @property
    def read_only_reason(self) -> str | None:
        """Why this run must write nothing (no AWS, no pushes, no comments), or None when it may.

        A fork's pull request, a review or review comment on one, and any comment on a pull request: an
        ``issue_comment`` payload does not say where the head lives, so it is taken for a fork's.
        """
        if self.is_fork:
            return f"pull request from the fork {self.pr_head_repository or '(deleted repository)'}"
        foreign_run = self.workflow_run_from_elsewhere
        if foreign_run is not None:
            return f"a workflow_run of a run on {foreign_run}'s code"
        if self.is_pull_request_comment:
            return (
                f"a comment on pull request #{self.pr_number}, whose head may be a fork's (the event does "
                "not say)"
            )
        return None

    @property
    def releasable_ref(self) -> bool:
        """A workflow_dispatch may publish: from the default branch, or anywhere with release-any-branch."""
        return self.on_default_branch or self.release_any_branch

    @property
    def pr_head_sha(self) -> str:
        head = self.pull_request.get("head")
        sha = head.get("sha") if isinstance(head, Mapping) else None
        return str(sha) if sha else self.sha

    @property
    def pr_base_ref(self) -> str:
        base = self.pull_request.get("base")
        ref = base.get("ref") if isinstance(base, Mapping) else None
        return str(ref) if ref else self.default_branch

    @property
    def run_url(self) -> str:
        if not self.run_id:
            return ""
        return f"{self.server_url.rstrip('/')}/{self.repository}/actions/runs/{self.run_id}"


def parse_bool(name: str, value: str | None, default: bool) -> bool:
    """An Action input as a boolean (YAML 1.2 spellings); anything else is a usage error naming the input."""
    if value is None or not value.strip():
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise UsageError(f"input {name}: {value!r} is not a boolean; use true or false")


def parse_names(value: str | None) -> tuple[str, ...]:
    """``"a, b c"`` -> ``("a", "b", "c")``: commas or whitespace separate, duplicates dropped."""
    if not value:
        return ()
    return tuple(dict.fromkeys(name for name in _NAME_LIST.split(value.strip()) if name))


def read_event(path: str | None) -> dict[str, Any]:
    """The webhook payload GitHub wrote to GITHUB_EVENT_PATH ({} when there is none)."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"GITHUB_EVENT_PATH names {path}, which does not exist") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"GITHUB_EVENT_PATH {path}: cannot read the event payload ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"GITHUB_EVENT_PATH {path}: the event payload is not a JSON object")
    return data


def read_settings(environ: Mapping[str, str]) -> ActionSettings:
    """Parse the runner's environment; a missing or malformed value is a UsageError naming it."""

    def env(name: str, default: str = "") -> str:
        return environ.get(name, default).strip()

    def value(input_name: str, default: str = "") -> str:
        # The explicit LAYER_CI_* mapping first; INPUT_* for runners that do pass it (JavaScript-style).
        explicit = environ.get(INPUT_ENV[input_name])
        if explicit is not None:
            return explicit.strip()
        fallback = environ.get("INPUT_" + input_name.upper().replace("-", "_"))
        return fallback.strip() if fallback is not None else default

    repository = env("GITHUB_REPOSITORY")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository):
        raise UsageError(
            f"GITHUB_REPOSITORY is {repository!r}, not owner/name; the Action must run inside GitHub Actions"
        )
    event_name = env("GITHUB_EVENT_NAME")
    if not event_name:
        raise UsageError("GITHUB_EVENT_NAME is not set; the Action must run inside GitHub Actions")
    workspace = Path(env("GITHUB_WORKSPACE") or ".").absolute()
    config = value("config", "layer-ci.yml") or "layer-ci.yml"
    config_path = Path(config)
    if not config_path.is_absolute():
        config_path = workspace / config_path
    command = value("command", "auto") or "auto"
    if command not in COMMANDS:
        raise UsageError(f"input command: {command!r} is not one of {', '.join(COMMANDS)}")
    server_url = env("GITHUB_SERVER_URL") or "https://github.com"
    return ActionSettings(
        event_name=event_name,
        event=read_event(env("GITHUB_EVENT_PATH")),
        repository=repository,
        sha=env("GITHUB_SHA"),
        ref=env("GITHUB_REF"),
        api_url=env("GITHUB_API_URL") or "https://api.github.com",
        server_url=server_url,
        run_id=env("GITHUB_RUN_ID"),
        workspace=workspace,
        config_path=config_path,
        token=value("github-token") or env("GITHUB_TOKEN"),
        command=command,  # type: ignore[arg-type]  # checked against COMMANDS above
        layers=parse_names(value("layers")),
        force=parse_bool("force", value("force"), False),
        regions=parse_names(value("regions")),
        dry_run=parse_bool("dry-run", value("dry-run"), False),
        run_tests=parse_bool("test", value("test"), True),
        release=parse_bool("release", value("release"), False),
        release_any_branch=parse_bool("release-any-branch", value("release-any-branch"), False),
    )
