"""Lambda runtimes on this machine: which interpreter stands in, and the paths and variables it sees."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from layer_ci.engine.extract import remove_tree
from layer_ci.errors import EXIT_USAGE, LayerCiError
from layer_ci.lambda_spec.runtimes import RESERVED_VARIABLES, Runtime, RuntimeFamily
from layer_ci.model import FunctionSpec

PYTHON_ENV_FORMAT = "layer-ci python env v1"
# Lambda's Python runtimes ship the AWS SDK (boto3 and its dependencies) outside the function and its
# layers; a faithful stand-in offers it too, or functions relying on it would fail only here.
RUNTIME_DISTRIBUTIONS: tuple[str, ...] = ("boto3",)
# The test runner is not part of Lambda, but a function's test command needs it importable.
TEST_DISTRIBUTIONS: tuple[str, ...] = ("pytest",)
# Base PATH of Lambda's execution environment minus /var/lang/bin, whose role the shim folder plays.
BASE_PATH: tuple[str, ...] = ("/usr/local/bin", "/usr/bin", "/bin")
# The only variables copied from the caller: everything else (credentials, tokens, CI context) stays out.
CALLER_ALLOW_LIST: tuple[str, ...] = ("TERM",)
OPT_ENV = "LAYER_CI_OPT"


_PROBE_TIMEOUT_S = 15.0
_PY_PROBE = (
    "import json,os,sys;print(json.dumps({'executable':os.path.realpath("
    "getattr(sys,'_base_executable',None) or sys.executable),"
    "'version':'.'.join(map(str,sys.version_info[:3])),'implementation':sys.implementation.name}))"
)
_NODE_PROBE = "console.log(JSON.stringify({executable: process.execPath, version: process.versions.node}))"


class InterpreterNotFoundError(LayerCiError):
    """The runtime's interpreter is not installed here (and running on another one was not allowed)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Interpreter:
    """The executable that stands in for the runtime; ``mismatch`` marks a version other than asked."""

    family: RuntimeFamily
    path: Path
    version: str
    wanted: str
    mismatch: bool = False
    found_via: str = "PATH"

    def describe(self) -> str:
        note = f" (runtime wants {self.wanted}: --allow-other-python)" if self.mismatch else ""
        return f"{self.family} {self.version} at {self.path}{note}"


# ----------------------------------------------------------------------------------------------------
# Finding interpreters


def find_interpreter(
    runtime: Runtime,
    *,
    function_name: str,
    allow_other: bool = False,
    search_path: str | None = None,
    use_uv: bool = True,
) -> Interpreter | None:
    """The interpreter for ``runtime``: exact version first; a near one only when ``allow_other``.

    Returns None for runtimes layer-ci cannot stand in for (java, ruby, provided.*): their tests run
    with whatever their command names. ``search_path`` replaces $PATH for the search (tests use it).
    """
    if runtime.family == "python":
        return _find_python(runtime, function_name, allow_other, search_path, use_uv)
    if runtime.family == "nodejs":
        return _find_node(runtime, function_name, allow_other, search_path)
    return None


def _find_python(
    runtime: Runtime, function_name: str, allow_other: bool, search_path: str | None, use_uv: bool
) -> Interpreter:
    wanted = runtime.wanted
    found = _exact_python(wanted, search_path, use_uv)
    if found is not None:
        return Interpreter("python", Path(found[0]), found[1], wanted, found_via=found[2])
    if not allow_other:
        raise InterpreterNotFoundError(
            f"function {function_name} runs on {runtime.name} but no Python {wanted} was found on PATH "
            f"or by `uv python find {wanted}`; install it (`uv python install {wanted}`, "
            f"`apt install python{wanted}` or `pyenv install {wanted}`) or rerun with --allow-other-python"
        )
    others = _other_pythons(search_path, use_uv)
    if not others:
        raise InterpreterNotFoundError(
            f"function {function_name} runs on {runtime.name} and no Python 3 interpreter at all was found; "
            f"install one with `uv python install {wanted}`"
        )
    target = runtime.version

    def distance(item: tuple[str, str, str]) -> tuple[int, int]:
        major, minor = (int(part) for part in item[1].split(".")[:2])
        return (abs((major - target[0]) * 100 + minor - target[1]), -minor)

    path, version, via = min(others, key=distance)
    return Interpreter(
        "python", Path(path), version, wanted, mismatch=_minor(version) != wanted, found_via=via
    )


@functools.lru_cache(maxsize=32)
def _exact_python(wanted: str, search_path: str | None, use_uv: bool) -> tuple[str, str, str] | None:
    """(executable, version, how found) for Python ``wanted``: PATH first, then ``uv python find``.

    Remembered for the process: a gate testing many functions asks the same question many times.
    """
    exact = shutil.which(f"python{wanted}", path=search_path)
    if exact:
        probe = _probe_python(exact)
        if probe is not None and _minor(probe[1]) == wanted:
            return probe[0], probe[1], "PATH"
    if use_uv:
        candidate = _uv_find(wanted, search_path)
        if candidate:
            probe = _probe_python(candidate)
            if probe is not None and _minor(probe[1]) == wanted:
                return probe[0], probe[1], "uv python find"
    return None


def _other_pythons(search_path: str | None, use_uv: bool) -> list[tuple[str, str, str]]:
    names = ["python3", *(f"python3.{minor}" for minor in range(6, 21))]
    seen: dict[str, tuple[str, str, str]] = {}
    for name in names:
        found = shutil.which(name, path=search_path)
        if found:
            probe = _probe_python(found)
            if probe is not None:
                seen.setdefault(probe[0], (probe[0], probe[1], "PATH"))
    if use_uv:
        for found in _uv_list(search_path):
            probe = _probe_python(found)
            if probe is not None:
                seen.setdefault(probe[0], (probe[0], probe[1], "uv python list"))
    return list(seen.values())


def _uv_bin() -> str | None:
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return shutil.which("uv")


# Every query: no settings found from its folder upward (a uv.toml planted in /tmp), never a download.
_UV_QUERY_FLAGS = ("--no-config", "--no-python-downloads")


def _uv_env(search_path: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["UV_PYTHON_DOWNLOADS"] = "never"  # finding must never turn into downloading
    # Run by root too: no cache folder, from which uv would run its interpreter-query script, in a place
    # another user might choose or write.
    env["UV_NO_CACHE"] = "1"
    if search_path is not None:
        env["PATH"] = search_path
    return env


def _uv_find(wanted: str, search_path: str | None) -> str | None:
    uv = _uv_bin()
    if uv is None:
        return None
    try:
        done = subprocess.run(
            [uv, "python", "find", "--no-project", *_UV_QUERY_FLAGS, wanted],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            env=_uv_env(search_path),
            cwd="/",
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else ""
    return path or None


def _uv_list(search_path: str | None) -> list[str]:
    uv = _uv_bin()
    if uv is None:
        return []
    try:
        done = subprocess.run(
            [uv, "python", "list", "--only-installed", *_UV_QUERY_FLAGS, "--output-format", "json"],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            env=_uv_env(search_path),
            cwd="/",
            check=False,
        )
        rows = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    return [str(row["path"]) for row in rows if isinstance(row, dict) and row.get("path")]


def _probe_python(candidate: str) -> tuple[str, str] | None:
    """(real executable, version) of a working CPython, or None (pyenv shims for absent versions fail)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    facts = _probe([candidate, "-I", "-c", _PY_PROBE], env)
    if facts is None or facts.get("implementation") != "cpython":
        return None
    return str(facts["executable"]), str(facts["version"])


def _find_node(
    runtime: Runtime, function_name: str, allow_other: bool, search_path: str | None
) -> Interpreter:
    """``nodeNN`` on PATH (the image's per-major links), then ``node``: the first of the wanted major wins.

    Several Node.js majors cannot share the name ``node`` on one PATH, so a machine that keeps more than
    one (the Action's image, or a developer's ``ln -s ~/.nvm/versions/node/v22.*/bin/node ~/bin/node22``)
    names each by its major; a lone ``node`` serves whichever major it is.
    """
    wanted = runtime.wanted
    seen: list[tuple[str, str, str]] = []
    for name in (f"node{wanted}", "node"):
        found = shutil.which(name, path=search_path)
        facts = _probe_node(found) if found else None
        if facts is None:
            continue
        executable, version = facts
        if version.split(".")[0] == wanted:
            return Interpreter("nodejs", Path(executable), version, wanted, found_via=f"PATH ({name})")
        seen.append((executable, version, name))
    if not seen:
        raise InterpreterNotFoundError(
            f"function {function_name} runs on {runtime.name} but neither `node{wanted}` nor `node` "
            f"was found on PATH; install Node.js {wanted} "
            f"(e.g. `nvm install {wanted}` or your package manager)"
        )
    executable, version, name = seen[0]
    if not allow_other:
        raise InterpreterNotFoundError(
            f"function {function_name} runs on {runtime.name} but `{name}` on PATH is {version}; "
            f"install Node.js {wanted} (e.g. `nvm install {wanted}`, or link it as `node{wanted}` on PATH) "
            "or rerun with --allow-other-python"
        )
    return Interpreter("nodejs", Path(executable), version, wanted, mismatch=True, found_via=f"PATH ({name})")


def _probe_node(candidate: str) -> tuple[str, str] | None:
    """(real executable, version) of a working ``node``, or None."""
    facts = _probe([candidate, "-e", _NODE_PROBE], None)
    if facts is None or "version" not in facts:
        return None
    return os.path.realpath(str(facts["executable"])), str(facts["version"])


def _probe(argv: list[str], env: dict[str, str] | None) -> dict[str, Any] | None:
    """The JSON object an interpreter's probe printed, or None when it did not run or printed none."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, env=env, check=False
        )
        facts = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return facts if isinstance(facts, dict) else None


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


# ----------------------------------------------------------------------------------------------------
# The interpreter's surroundings: a folder standing in for /var/lang


@dataclass(frozen=True)
class LanguageHome:
    """``bin`` goes first on PATH (``python``/``python3``/``node`` resolve to the runtime's version);
    ``distributions`` names the packages it offers besides the standard library (``boto3 1.34.0``)."""

    root: Path
    bin: Path
    distributions: tuple[str, ...] = field(default=())

    def linked_from(self) -> tuple[Path, ...]:
        """The folders its links lead into (layer-ci's own site-packages, the interpreter's folder)."""
        folders: dict[Path, None] = {}
        for folder in (self.bin, *self.root.glob("lib/python*/site-packages")):
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        folders[Path(os.path.realpath(entry.path)).parent] = None
        return tuple(folders)


def language_home(interpreter: Interpreter, cache_dir: Path, *, with_test_tools: bool) -> LanguageHome:
    """A cached stand-in for Lambda's /var/lang around ``interpreter``.

    For Python it is a minimal virtual environment (a ``pyvenv.cfg`` and symlinks, no pip): isolated
    from the interpreter's own site-packages, holding only what Lambda's runtime ships (boto3) plus,
    for tests, pytest, linked from layer-ci's environment. Running the function's tests with the
    layer-ci venv's own python instead would let every package installed there (requests, PyYAML, ...)
    hide a module the layer forgot: exactly the failure the gate exists to catch.
    """
    if interpreter.family == "python":
        roots = RUNTIME_DISTRIBUTIONS + (TEST_DISTRIBUTIONS if with_test_tools else ())
        version = tuple(int(part) for part in interpreter.version.split(".")[:2])
        links, labels = _distribution_links(tuple(roots), version)
        material = json.dumps(
            [PYTHON_ENV_FORMAT, str(interpreter.path), interpreter.version, sorted(links.items())]
        )
        key = hashlib.sha256(material.encode()).hexdigest()[:32]
        root = cache_dir / "runtimes" / f"python-{key}"
        if not (root / "pyvenv.cfg").is_file():
            _publish_dir(root, lambda work: _write_python_home(work, interpreter, links))
        return LanguageHome(root, root / "bin", tuple(labels))
    key = hashlib.sha256(f"{interpreter.path}\0{interpreter.version}".encode()).hexdigest()[:32]
    root = cache_dir / "runtimes" / f"{interpreter.family}-{key}"
    if not (root / "bin").is_dir():

        def write(work: Path) -> None:
            (work / "bin").mkdir(parents=True)
            (work / "bin" / "node").symlink_to(interpreter.path)

        _publish_dir(root, write)
    return LanguageHome(root, root / "bin")


def _write_python_home(work: Path, interpreter: Interpreter, links: Mapping[str, str]) -> None:
    minor = _minor(interpreter.version)
    (work / "bin").mkdir(parents=True)
    for name in ("python", "python3", f"python{minor}"):
        (work / "bin" / name).symlink_to(interpreter.path)
    (work / "pyvenv.cfg").write_text(
        f"home = {interpreter.path.parent}\n"
        "include-system-site-packages = false\n"
        f"version = {interpreter.version}\n"
    )
    site = work / "lib" / f"python{minor}" / "site-packages"
    site.mkdir(parents=True)
    for name, target in links.items():
        if not (site / name).exists():
            (site / name).symlink_to(target)


@functools.lru_cache(maxsize=16)
def _distribution_links(roots: tuple[str, ...], version: tuple[int, ...]) -> tuple[dict[str, str], list[str]]:
    """Top-level names (packages, modules, dist-info) of ``roots`` and their dependencies -> real paths,
    and the ``name version`` of each distribution linked."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    marker_env = {
        "python_version": ".".join(map(str, version[:2])),
        "python_full_version": ".".join(map(str, version[:2])) + ".0",
        "extra": "",
    }
    queue = list(roots)
    seen: set[str] = set()
    links: dict[str, str] = {}
    labels: list[str] = []
    while queue:
        name = queue.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        labels.append(f"{dist.metadata['Name']} {dist.version}")
        for text in dist.requires or ():
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate(marker_env):
                queue.append(requirement.name)
        site = Path(str(dist.locate_file("")))
        for item in dist.files or ():
            parts = PurePosixPath(str(item)).parts
            if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(".pth"):
                continue
            links.setdefault(parts[0], str(site / parts[0]))
    return links, sorted(labels)


def _publish_dir(final: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temp folder beside ``final`` and rename it into place (a concurrent twin wins harmlessly)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        fill(work)
        try:
            os.rename(work, final)
        except OSError:
            if not final.exists():
                raise
            remove_tree(work)
    except BaseException:
        remove_tree(work)
        raise


# ----------------------------------------------------------------------------------------------------
# Search paths and environment variables


@dataclass(frozen=True)
class SearchPaths:
    """Where the runtime looks, in Lambda's order, with the /opt stand-in in place of /opt."""

    pythonpath: tuple[str, ...] = ()
    node_path: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    ld_library_path: tuple[str, ...] = ()


def search_paths(
    runtime: Runtime, *, opt: Path, task_root: Path, runtime_dir: Path, shim_bin: Path | None
) -> SearchPaths:
    """Lambda's search order for ``runtime`` with ``opt`` standing in for /opt.

    Python: the runtime's bootstrap puts LAMBDA_TASK_ROOT first, then /opt/python/lib/pythonX.Y/site-packages,
    then /opt/python ("precedence: LAMBDA_TASK_ROOT -> /opt/python/lib/pythonN.N/site-packages ->
    /opt/python" in /var/runtime/bootstrap.py of the AWS base images), then the runtime's own folders;
    the layer paths for each runtime are listed at
    https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths .
    Node.js: NODE_PATH=/opt/nodejs/nodeNN/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:
    /var/runtime:/var/task. Every runtime: PATH ends with /opt/bin, LD_LIBRARY_PATH ends with /opt/lib
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
    """
    bin_dirs = ((str(shim_bin),) if shim_bin else ()) + BASE_PATH + (str(opt / "bin"),)
    libraries = ("/lib64", "/usr/lib64", str(task_root), str(task_root / "lib"), str(opt / "lib"))
    if runtime.family == "python":
        minor = runtime.wanted
        pythonpath = (
            str(task_root),
            str(opt / "python" / "lib" / f"python{minor}" / "site-packages"),
            str(opt / "python"),
            str(runtime_dir),
        )
        return SearchPaths(pythonpath=pythonpath, path=bin_dirs, ld_library_path=libraries)
    if runtime.family == "nodejs":
        node_path = (
            str(opt / "nodejs" / f"node{runtime.wanted}" / "node_modules"),
            str(opt / "nodejs" / "node_modules"),
            str(runtime_dir / "node_modules"),
            str(runtime_dir),
            str(task_root),
        )
        return SearchPaths(node_path=node_path, path=bin_dirs, ld_library_path=libraries)
    return SearchPaths(path=bin_dirs, ld_library_path=libraries)


@dataclass(frozen=True)
class LambdaEnvironment:
    """The complete environment of a function's process, plus notes on what was left out."""

    variables: Mapping[str, str]
    warnings: tuple[str, ...] = ()


def lambda_environment(
    function: FunctionSpec,
    runtime: Runtime,
    paths: SearchPaths,
    *,
    opt: Path,
    task_root: Path,
    runtime_dir: Path,
    region: str,
    home: Path,
    tmpdir: Path,
    caller_env: Mapping[str, str] | None = None,
) -> LambdaEnvironment:
    """Build the environment from nothing: Lambda's variables, the function's own, and an allow-list.

    Nothing else is inherited from the caller, so AWS credentials, GitHub tokens and CI secrets never
    reach the function's code. ``AWS_EC2_METADATA_DISABLED`` keeps the SDK from picking up the host's
    instance role on a self-hosted runner.
    """
    caller = os.environ if caller_env is None else caller_env
    stream_id = hashlib.sha256(f"{function.name}{time.time_ns()}".encode()).hexdigest()[:32]
    env: dict[str, str] = {
        "PATH": os.pathsep.join(paths.path),
        "LD_LIBRARY_PATH": os.pathsep.join(paths.ld_library_path),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(home),
        "TMPDIR": str(tmpdir),
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "_HANDLER": function.handler,
        "AWS_EXECUTION_ENV": runtime.execution_env,
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/", time.gmtime()) + f"[$LATEST]{stream_id}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        # No bytecode is written, and none is kept between runs: a cache shared by runs would be writable
        # by every function's code, so one function's tests could plant a .pyc that another's gate run
        # loads. Lambda compiles /opt and /var/task afresh on a cold start too (both are read-only there);
        # bytecode shipped in a layer, and the test tools' own, are still read.
        "PYTHONDONTWRITEBYTECODE": "1",
        OPT_ENV: str(opt),
    }
    if paths.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(paths.pythonpath)
        env["PYTHONNOUSERSITE"] = "1"
    if paths.node_path:
        env["NODE_PATH"] = os.pathsep.join(paths.node_path)
    for name in CALLER_ALLOW_LIST:
        if name in caller:
            env[name] = caller[name]
    warnings: list[str] = []
    for name, value in function.environment:
        if name in RESERVED_VARIABLES:
            warnings.append(
                f"function {function.name}: environment variable {name} is reserved by Lambda; ignored"
            )
            continue
        env[name] = _translate(value, opt, task_root)
    if any(name == "PYTHONPATH" for name, _ in function.environment) and runtime.family == "python":
        warnings.append(
            f"function {function.name} sets PYTHONPATH: Lambda's runtime then does not add /opt/python "
            "to sys.path (layers load only through the PYTHONPATH you set)"
        )
        env["PYTHONPATH"] = os.pathsep.join([str(task_root), env["PYTHONPATH"], str(runtime_dir)])
    return LambdaEnvironment(env, tuple(warnings))


def _translate(value: str, opt: Path, task_root: Path) -> str:
    """Point /opt and /var/task in the function's own variables at their stand-ins."""
    parts = []
    for part in value.split(os.pathsep):
        if part == "/opt" or part.startswith("/opt/"):
            part = str(opt) + part[len("/opt") :]
        elif part == "/var/task" or part.startswith("/var/task/"):
            part = str(task_root) + part[len("/var/task") :]
        parts.append(part)
    return os.pathsep.join(parts)
