"""Everything a function's process needs before it starts: layers resolved, checked, assembled; env built."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from layer_ci.adapters import sandbox
from layer_ci.engine.assemble import AssembledOpt, assemble_opt, discard_opt, verify_opt
from layer_ci.engine.extract import DEFAULT_LIMITS, ExtractLimits, default_cache_dir, extract_layer
from layer_ci.engine.interpreters import (
    Interpreter,
    LanguageHome,
    find_interpreter,
    lambda_environment,
    language_home,
    search_paths,
)
from layer_ci.engine.preflight import LayerUnderTest, PreflightReport, function_code_bytes, preflight
from layer_ci.engine.sources import default_region, resolve_layers
from layer_ci.errors import LayerCiError, UsageError
from layer_ci.lambda_spec.runtimes import Runtime, parse_runtime
from layer_ci.model import Config, FunctionSpec

RUNTIME_FILES = ("bootstrap.py", "bootstrap.js")


class PreflightError(LayerCiError):
    """The layers would not work for the function in Lambda; nothing was run."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


@dataclass(frozen=True)
class EngineOptions:
    """Knobs shared by ``test`` and ``invoke``; the defaults are what the CLI uses."""

    region: str | None = None
    cache_dir: Path | None = None
    allow_other_python: bool = False
    extract_limits: ExtractLimits = DEFAULT_LIMITS
    search_path: str | None = None  # replaces $PATH when looking for interpreters (tests use it)
    use_uv: bool = True
    caller_env: Mapping[str, str] | None = None  # the environment to filter (default: os.environ)


@dataclass(frozen=True)
class PreparedFunction:
    """A function ready to run: ``opt`` and ``interpreter`` are None when the preflight refused it."""

    function: FunctionSpec
    runtime: Runtime
    region: str
    cache_dir: Path
    layers: tuple[LayerUnderTest, ...]
    report: PreflightReport
    opt: AssembledOpt | None = None
    interpreter: Interpreter | None = None
    home: LanguageHome | None = None
    runtime_dir: Path | None = None

    @property
    def task_root(self) -> Path:
        return self.function.source.absolute()


def lookup_function(config: Config, function: FunctionSpec | str) -> FunctionSpec:
    if isinstance(function, FunctionSpec):
        return function
    try:
        return config.function(function)
    except KeyError:
        names = ", ".join(f.name for f in config.functions) or "none"
        raise UsageError(f"{config.path}: no function named {function!r} (functions: {names})") from None


def prepare_function(
    config: Config,
    function: FunctionSpec,
    layer_sources: Mapping[str, str] | None,
    options: EngineOptions,
    *,
    with_test_tools: bool,
) -> PreparedFunction:
    """Resolve, extract and check the layers; assemble /opt and find the interpreter if they pass."""
    if not function.source.is_dir():
        raise UsageError(
            f"{function.location}: functions.{function.name}.source: {function.source} is not a folder; "
            "point it at the function's code"
        )
    cache_dir = (options.cache_dir or default_cache_dir()).absolute()
    region = options.region or default_region(config, function)
    runtime = parse_runtime(function.runtime)
    resolved = resolve_layers(config, function, layer_sources or {}, region=region, cache_dir=cache_dir)
    layers = tuple(
        LayerUnderTest(layer, extract_layer(layer.zip_path, cache_dir, limits=options.extract_limits))
        for layer in resolved
    )
    report = preflight(config, function, runtime, layers, function_bytes=function_code_bytes(function.source))
    prepared = PreparedFunction(function, runtime, region, cache_dir, layers, report)
    if not report.ok:
        return prepared
    opt = assemble_opt([layer.tree for layer in layers], cache_dir, names=[layer.name for layer in layers])
    interpreter = find_interpreter(
        runtime,
        function_name=function.name,
        allow_other=options.allow_other_python,
        search_path=options.search_path,
        use_uv=options.use_uv,
    )
    home = language_home(interpreter, cache_dir, with_test_tools=with_test_tools) if interpreter else None
    return PreparedFunction(
        function,
        runtime,
        region,
        cache_dir,
        layers,
        report,
        opt,
        interpreter,
        home,
        runtime_directory(cache_dir),
    )


def runtime_directory(cache_dir: Path) -> Path:
    """LAMBDA_RUNTIME_DIR's stand-in: the bootstraps that load a handler the way Lambda's runtime does."""
    sources = {name: resources.files("layer_ci.engine").joinpath(name).read_bytes() for name in RUNTIME_FILES}
    digest = hashlib.sha256(b"".join(sources[name] for name in RUNTIME_FILES)).hexdigest()[:32]
    final = cache_dir / "runtime" / digest
    if all((final / name).is_file() for name in RUNTIME_FILES):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    for name, data in sources.items():
        (work / name).write_bytes(data)
    try:
        work.rename(final)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return final


@dataclass(frozen=True)
class ProcessSetup:
    """The environment and the scratch folders (HOME, TMPDIR) of one run of the function's code.

    ``after_run`` is filled when the ``function_process`` block exits (problems found in /opt).
    """

    env: Mapping[str, str]
    scratch: Path
    warnings: tuple[str, ...]
    after_run: list[str] = field(default_factory=list)
    isolation: sandbox.Isolation = field(default_factory=lambda: sandbox.Isolation("none"))
    mounts: sandbox.Mounts | None = None  # None: /opt and /var/task are the stand-in folders
    unveil: tuple[str, ...] = ()  # see sandbox.spawn

    @property
    def real_opt(self) -> bool:
        return self.mounts is not None


def _real_paths_refusal(
    prepared: PreparedFunction, isolation: sandbox.Isolation, scratch: Path
) -> str | None:
    """Why the layers cannot be mounted at the real /opt here (None: they can)."""
    if not sandbox.real_opt_wanted():
        return f"{sandbox.REAL_OPT_ENV}=off"
    if not isolation.real_paths and not sandbox.links_allowed(isolation):
        if isolation.mode == "user":
            return f"root without namespaces, outside a container marked {sandbox.OWN_CONTAINER_ENV}=1"
        if isolation.mode == "none":
            return isolation.reason
        return f"isolation {isolation.describe()} cannot mount"
    needed = {
        "the interpreter": prepared.interpreter.path if prepared.interpreter else None,
        "the layer-ci cache": prepared.cache_dir,
        "layer-ci itself": Path(sys.prefix),
        "the run's scratch folder": scratch,
        "the function": prepared.task_root,
    }
    for what, path in needed.items():
        if path is not None and (sandbox.under(path, "/opt") or sandbox.under(path, "/var/task")):
            return f"{what} lives under /opt or /var/task ({path}), which the layers replace"
    return None


@contextlib.contextmanager
def function_process(
    prepared: PreparedFunction, options: EngineOptions, *, task_readonly: bool = False
) -> Iterator[ProcessSetup]:
    """Build the scrubbed environment and the sandbox (the real /opt and /var/task when this machine
    allows it); afterwards, check that nothing wrote into the /opt stand-in."""
    assert prepared.opt is not None and prepared.runtime_dir is not None
    shim_bin = prepared.home.bin if prepared.home else None
    isolation = sandbox.isolation()
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="layer-ci-run-")))
        (scratch / "home").mkdir()
        (scratch / "tmp").mkdir()
        refusal = _real_paths_refusal(prepared, isolation, scratch)
        linked = refusal is None and not isolation.real_paths
        if linked:
            # Root in its own container without namespaces: /opt and /var/task become links, under a lock.
            refusal = stack.enter_context(sandbox.linked_paths(prepared.opt.root, prepared.task_root))
        # Inside the namespace the code sees Lambda's own paths; elsewhere the stand-in folders.
        opt_seen = prepared.opt.root if refusal else Path("/opt")
        task_seen = prepared.task_root if refusal else Path("/var/task")
        mounts = (
            None
            if refusal
            else sandbox.Mounts(
                opt=prepared.opt.root,
                task=prepared.task_root,
                task_readonly=task_readonly,
                cwd="/var/task",
                linked=linked,
            )
        )
        paths = search_paths(
            prepared.runtime,
            opt=opt_seen,
            task_root=task_seen,
            runtime_dir=prepared.runtime_dir,
            shim_bin=shim_bin,
        )
        sandbox.give_to(isolation, [scratch, scratch / "home", scratch / "tmp"])
        unveil = sandbox.require_reachable(
            isolation,
            [
                path
                for path in (
                    prepared.interpreter.path if prepared.interpreter else None,
                    prepared.home.root if prepared.home else None,
                    *(prepared.home.linked_from() if prepared.home else ()),
                    prepared.runtime_dir,
                    prepared.opt.root,
                    prepared.task_root,
                )
                if path is not None
            ],
            f"function {prepared.function.name}",
            repair_under=prepared.cache_dir,
        )
        environment = lambda_environment(
            prepared.function,
            prepared.runtime,
            paths,
            opt=opt_seen,
            task_root=task_seen,
            runtime_dir=prepared.runtime_dir,
            region=prepared.region,
            home=scratch / "home",
            tmpdir=scratch / "tmp",
            caller_env=options.caller_env,
        )
        notes = (
            (f"function {prepared.function.name}: {sandbox.EMULATED_NOTE} ({refusal})",) if refusal else ()
        )
        setup = ProcessSetup(
            environment.variables, scratch, environment.warnings + notes, [], isolation, mounts, unveil
        )
        try:
            yield setup
        finally:
            touched = verify_opt(prepared.opt)
            if touched:
                # Hardlinks share inodes with the cache: drop both so the next run starts clean.
                discard_opt(prepared.opt)
                setup.after_run.append(
                    f"function {prepared.function.name}: its code wrote into the /opt stand-in (read-only in "
                    f"Lambda, where this fails): {', '.join(touched[:5])}; the cached layers were discarded"
                )
