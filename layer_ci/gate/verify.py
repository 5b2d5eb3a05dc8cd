"""`layer-ci verify` for pull requests people write: moved pins and changed layer sources, checked and tested.

Between a base and a head revision it finds the pins that were added or moved (the pins at base against
the pins at head, file by file) and the layers whose sources changed. Each moved pin of one of our layers
must name a version that exists in every region it applies to and that is compatible with the functions it
feeds; those functions' tests then run against the pinned versions (fetched from the registry), and the
consumers of a changed layer against a local build of it. Lambda's size limits are checked on the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from layer_ci.adapters.git import GitRepo
from layer_ci.errors import LayerCiError
from layer_ci.gate.consumers import GateResult, TestRunner, run_gate
from layer_ci.lambda_spec.arn import layer_name_of
from layer_ci.lambda_spec.limits import check_function_limits
from layer_ci.model import Config
from layer_ci.pins.find import Pin, is_binary, is_source_path
from layer_ci.pins.owners import PinReader, pin_owners
from layer_ci.plan.changes import make_plan
from layer_ci.plan.lockfile import Lock
from layer_ci.publish.audit import pin_regions
from layer_ci.publish.registry_contract import LayerRegistry, LayerVersionInfo
from layer_ci.report.facts import PinChange, VerifyReport

RegistryFactory = Callable[[str], LayerRegistry]
Log = Callable[[str], None]

VERIFY_CONTEXT = "layer-ci/verify"  # the commit status verify sets on a pull request's head commit


def verify_status(report: VerifyReport) -> tuple[Literal["success", "failure"], str]:
    """The ``layer-ci/verify`` status of a report: its state and a description (cut to 140 by the adapter)."""
    if not report.relevant:
        return "success", "nothing to verify: no layer pins or layer sources changed"
    if report.ok:
        tested = len(report.results)
        moved = len(report.pin_changes)
        return "success", (
            f"passed: {moved} pin change{'' if moved == 1 else 's'} checked, "
            f"{tested} function{'' if tested == 1 else 's'} tested"
        )
    failed = [result for result in report.results if not result.passed]
    first = (
        report.problems[0]
        if report.problems
        else f"{failed[0].function}: {failed[0].headline or failed[0].status}"
    )
    count = len(report.problems) + len(failed)
    return "failure", f"{count} problem{'' if count == 1 else 's'}: {first}"


@dataclass(frozen=True)
class PinDiff:
    """The pins of one file that a change added or moved, and how each moved."""

    changes: tuple[PinChange, ...] = ()
    moved: tuple[Pin, ...] = ()  # head pins whose version is new to their place
    head_pins: tuple[Pin, ...] = ()


def diff_pins(base_pins: Sequence[Pin], head_pins: Sequence[Pin]) -> PinDiff:
    """Pair the pins of one file by (layer, region, account), in order, and report those that differ.

    Lines move when text is added above a pin, so pins are matched by what they reference and their
    order, not by position: the n-th reference to ``common-deps`` in us-east-1 at head is compared with
    the n-th one at base.
    """

    def key(pin: Pin) -> tuple[str, str | None, str | None, str | None]:
        return pin.layer, pin.region, pin.account, pin.partition

    at_base: dict[tuple[str, str | None, str | None, str | None], list[Pin]] = {}
    for pin in base_pins:
        at_base.setdefault(key(pin), []).append(pin)
    at_head: dict[tuple[str, str | None, str | None, str | None], list[Pin]] = {}
    for pin in head_pins:
        at_head.setdefault(key(pin), []).append(pin)
    changes: list[PinChange] = []
    moved: list[Pin] = []
    for group_key, pins in at_head.items():
        before = at_base.get(group_key, [])
        for index, pin in enumerate(pins):
            old = before[index].version if index < len(before) else None
            if old != pin.version:
                changes.append(
                    PinChange(pin.path, pin.line, pin.layer, pin.region, old, pin.version, pin.text)
                )
                moved.append(pin)
    for group_key, pins in at_base.items():
        for pin in pins[len(at_head.get(group_key, [])) :]:
            changes.append(PinChange(pin.path, pin.line, pin.layer, pin.region, pin.version, None, pin.text))
    changes.sort(key=lambda change: (change.path, change.line))
    return PinDiff(tuple(changes), tuple(moved), tuple(head_pins))


@dataclass
class _Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skip: dict[str, str] = field(default_factory=dict)  # function -> why its tests cannot run

    def problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)


def verify_change(
    config: Config,
    *,
    git: GitRepo,
    base: str,
    head: str = "HEAD",
    lock: Lock,
    registry_factory: RegistryFactory,
    test_runner: TestRunner,
    repo_prefix: str = "",
    run_url: str | None = None,
    log: Log | None = None,
) -> VerifyReport:
    """Check and test what the change from ``base`` to ``head`` does to pins and layer sources.

    Tests run on the checkout (the working tree), which should be ``head``: the engine reads the pins and
    the functions' code from it. ``lock`` is the checkout's layer-ci.lock (the plan for layer sources).
    """
    say = log or (lambda _message: None)
    base_sha, head_sha = git.current_sha(base), git.current_sha(head)
    changed = [
        path[len(repo_prefix) :]
        for path in git.changed_files(base_sha, head_sha)
        if path.startswith(repo_prefix)
    ]
    reader = PinReader(config)
    changes: list[PinChange] = []
    moved: list[Pin] = []
    owners: dict[Pin, tuple[str, ...]] = {}
    for path in changed:
        if not is_source_path(path):
            continue
        before = _text(git, base_sha, repo_prefix + path)
        after = _text(git, head_sha, repo_prefix + path)
        diff = diff_pins(reader.pins(path, before), reader.pins(path, after))
        changes.extend(diff.changes)
        moved.extend(diff.moved)
        owners.update(pin_owners(config, diff.head_pins))

    rebuilt = changed_layers(config, lock, changed)
    say(f"verify: {len(changes)} pin change(s), changed layer sources: {', '.join(rebuilt) or 'none'}")
    findings = _Findings()
    _check_pins(config, moved, owners, registry_factory, findings)

    own = {layer.name for layer in config.layers}
    functions = {
        name
        for pin in moved
        if pin.layer in own or config.settings.registry == "aws"
        for name in owners.get(pin, ())
    }
    functions.update(f.name for layer in rebuilt for f in config.consumers(layer))
    say(f"verify: testing {len(functions)} function(s)")
    gate = run_gate(config, functions, {layer: "local" for layer in rebuilt}, test_runner, skip=findings.skip)
    _check_limits(config, gate, findings)
    return VerifyReport(
        base=base_sha,
        head=head_sha,
        pin_changes=tuple(changes),
        rebuilt_layers=tuple(rebuilt),
        problems=tuple(findings.problems),
        results=gate.results,
        warnings=tuple(findings.warnings),
        run_url=run_url,
    )


def changed_layers(config: Config, lock: Lock, changed: Iterable[str]) -> tuple[str, ...]:
    """Layers the change rebuilt: their inputs differ from the lock and the change touched their source.

    The base branch's lock lags behind until a bump merges, so "differs from the lock" alone would blame
    every pull request for a pending release; the touched files say which change is this one's. An edit of
    layer-ci.yml counts for every layer whose inputs differ (a build setting may have changed).
    """
    paths = set(changed)
    config_name = _relative(config.path, config)
    plan = make_plan(config, lock)
    names = []
    for change in plan.changes:
        if not change.needs_build:
            continue
        source = _relative(config.layer(change.layer).source, config)
        touched = any(path == source or path.startswith(source + "/") for path in paths)
        if touched or config_name in paths:
            names.append(change.layer)
    return tuple(names)


def _relative(path: Path, config: Config) -> str:
    try:
        return path.resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _text(git: GitRepo, ref: str, path: str) -> str:
    data = git.read_file(ref, path)
    if data is None or is_binary(data):
        return ""
    return data.decode("utf-8", "surrogateescape")


def _check_pins(
    config: Config,
    moved: Sequence[Pin],
    owners: dict[Pin, tuple[str, ...]],
    registry_factory: RegistryFactory,
    findings: _Findings,
) -> None:
    """Every moved pin of our layers names an existing version, compatible with the functions it feeds."""
    own = {layer.name for layer in config.layers}
    registries: dict[str, LayerRegistry] = {}
    for pin in moved:
        where = f"{pin.path}:{pin.line}"
        if pin.layer not in own:
            findings.warnings.append(
                f"{where}: {pin.layer} v{pin.version}: not checked (not a layer of this repository)"
            )
            continue
        regions = pin_regions(config, pin)
        for region in regions:
            registry = registries.get(region) or registries.setdefault(region, registry_factory(region))
            if pin.account is not None and pin.account != registry.account:
                findings.warnings.append(
                    f"{where}: {pin.layer} v{pin.version}: not checked (account {pin.account} is not the "
                    f"registry's {registry.account})"
                )
                continue
            try:
                info = registry.get_version(pin.layer, pin.version)
            except LayerCiError as exc:
                findings.warnings.append(
                    f"{where}: {pin.layer} v{pin.version}: not checked: {exc.one_line()}"
                )
                continue
            if info is None:
                message = _missing(registry, pin, region)
                findings.problem(message)
                for name in owners.get(pin, ()):
                    findings.skip.setdefault(name, message)
                continue
            for name in owners.get(pin, ()):
                for problem in _incompatibility(config, name, info):
                    findings.problem(f"{where}: {problem}")


def _missing(registry: LayerRegistry, pin: Pin, region: str) -> str:
    try:
        versions = [info.version for info in registry.list_versions(pin.layer)]
    except LayerCiError:
        versions = []
    hint = f"pin an existing version (newest: v{max(versions)})" if versions else f"publish {pin.layer} first"
    return (
        f"{pin.path}:{pin.line}: {pin.layer} v{pin.version} does not exist in {region} (deleted, or never "
        f"published), so deploys referencing it fail; {hint}"
    )


def _incompatibility(config: Config, function_name: str, info: LayerVersionInfo) -> list[str]:
    function = config.function(function_name)
    problems = []
    if info.compatible_runtimes and function.runtime not in info.compatible_runtimes:
        problems.append(
            f"{info.layer} v{info.version} in {info.region} is compatible with "
            f"{', '.join(info.compatible_runtimes)} only, but function {function.name} runs "
            f"{function.runtime}"
        )
    if info.compatible_architectures and function.architecture not in info.compatible_architectures:
        problems.append(
            f"{info.layer} v{info.version} in {info.region} is built for "
            f"{', '.join(info.compatible_architectures)} only, but function {function.name} runs on "
            f"{function.architecture}"
        )
    return problems


def _check_limits(config: Config, gate: GateResult, findings: _Findings) -> None:
    """Lambda's per-function limits with the layer sizes the tests actually used."""
    from layer_ci.engine.preflight import function_code_bytes

    for check in gate.checks:
        result = check.result
        for problem in result.preflight_errors:
            findings.problem(f"function {check.function}: {problem}")
        if not result.layers:
            continue
        function = config.function(check.function)
        by_name = {layer.name: layer.unzipped_bytes for layer in result.layers}
        sizes = {
            entry: by_name[name]
            for entry in function.ordered_layers()
            if (name := layer_name_of(entry)) in by_name
        }
        code = function_code_bytes(function.source) if function.source.is_dir() else 0
        for problem in check_function_limits(config, function, sizes, code):
            if problem not in result.preflight_errors:
                findings.problem(problem)
