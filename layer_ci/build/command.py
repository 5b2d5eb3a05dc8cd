"""The ``command`` build method: run the layer's own argv (never through a shell) to fill $LAYER_CI_OUT."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from layer_ci.adapters import sandbox
from layer_ci.errors import BuildError
from layer_ci.fsutil import user_cache_dir
from layer_ci.model import LayerSpec

DEFAULT_TIMEOUT_S = 1800.0
TAIL_LINES = 15
TAIL_CHARS = 2000
OUTPUT_KEPT = 1024 * 1024  # of untrusted code's output: the end, where installers and builds say what failed
# 1980-01-01T00:00:00Z, the zip epoch: tools that honour SOURCE_DATE_EPOCH then stamp what the zip stores.
SOURCE_DATE_EPOCH = "315532800"
# What a build command inherits: enough to find tools and a home, nothing secret from the CI environment.
PASSED_THROUGH = ("PATH", "HOME")
# What an installer (uv, pip, npm) inherits: where to find tools, certificates and proxies, and its own
# settings (UV_*, PIP_*, npm_config_*: index URLs and their credentials, which a package's setup.py then
# sees too). Never AWS keys, GitHub tokens or the CI's other secrets.
INSTALLER_PASSED = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
    "NETRC", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE", "NIX_SSL_CERT_FILE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "all_proxy",
)  # fmt: skip
INSTALLER_PREFIXES = ("UV_", "PIP_", "NPM_CONFIG_", "npm_config_")


def installer_env(source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment an installer needs, filtered from ``source`` (default: this process's)."""
    caller = os.environ if source is None else source
    env = {
        name: value
        for name, value in caller.items()
        if (name in INSTALLER_PASSED or name.startswith(INSTALLER_PREFIXES)) and "PUBLISH" not in name.upper()
    }
    env.setdefault("PATH", os.defpath)
    return env


@contextlib.contextmanager
def untrusted_dirs(
    isolation: sandbox.Isolation, env: dict[str, str], writable: Sequence[Path]
) -> Iterator[None]:
    """Make ``writable`` (and a HOME and TMPDIR, when the code runs as another user) writable by its user."""
    if isolation.drop is None:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="layer-ci-home-") as scratch:
        home, tmp = Path(scratch) / "home", Path(scratch) / "tmp"
        home.mkdir()
        tmp.mkdir()
        sandbox.give_to(isolation, [Path(scratch), home, tmp, *writable])
        env["HOME"], env["TMPDIR"] = str(home), str(tmp)
        yield


def installer_cache(
    isolation: sandbox.Isolation,
    keeper: sandbox.Isolation | None,
    cache_dir: Path | None,
    scratch: Path,
) -> tuple[sandbox.Isolation, Path | None]:
    """Who runs an installer, and the cache folder it gets (None: the installer's own default).

    ``keeper`` (sandbox.cache_keeper, for an install that runs no code of its packages') runs it with the
    lasting cache: ``cache_dir``, else layer-ci's build cache. Otherwise, where code runs as another user,
    that user could fill any cache it may write with packages for later builds to install: it gets
    ``scratch``, a cache for this build alone (so does the keeper where the lasting one is out of its
    reach, rather than whatever UV_CACHE_DIR or npm_config_cache name).
    """
    if keeper is not None:
        lasting = cache_dir if cache_dir is not None else own_build_cache(keeper)
        if lasting is not None:
            return keeper, lasting
        isolation = keeper
    if isolation.drop is None:
        return isolation, cache_dir
    scratch.mkdir(exist_ok=True)
    sandbox.give_to(isolation, [scratch])
    return isolation, scratch


def own_build_cache(isolation: sandbox.Isolation) -> Path | None:
    """The lasting installer cache under layer-ci's own, for the user of ``isolation``; None if out of its
    reach.

    That user gets a throwaway HOME, where the installer's default cache would be lost after every install
    (each build downloading every package again). layer-ci's cache folders on the way are opened to it for
    reading, as for the test engine; where a folder above them stays closed (a 0700 HOME with no namespace
    to open it in), there is none.
    """
    root = user_cache_dir()
    folder = root / "build-cache"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if not sandbox.unreachable(isolation, [folder], repair_under=root) else None


def run_untrusted(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    what: str,
    isolation: sandbox.Isolation | None = None,
    while_waiting: Callable[[], None] | None = None,
    unveil: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run code layer-ci does not trust (build commands, installers) in the sandbox, output captured.

    ``while_waiting`` runs once the code has started (layer-ci's own work that does not depend on it). The
    output goes to an unnamed temporary file, not a pipe, so the code never stalls on a full pipe while
    ``while_waiting`` runs; ``timeout_s`` counts from the start, whatever ``while_waiting`` takes. The
    result's ``stdout`` is the last OUTPUT_KEPT bytes of the output (stderr included), however much it wrote.
    """
    isolation = isolation or sandbox.isolation()
    with tempfile.TemporaryFile(prefix="layer-ci-output-") as output:
        try:
            launched = sandbox.spawn(
                argv,
                isolation=isolation,
                env=env,
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                lean=True,  # neither /opt nor /var/task: util-linux's unshare, where it works, is enough
                unveil=unveil,
            )
        except FileNotFoundError:
            raise BuildError(
                f"{what}: program {argv[0]!r} not found; install it or fix the command"
            ) from None
        except PermissionError:
            raise BuildError(f"{what}: program {argv[0]!r} is not executable; chmod +x it") from None
        process = launched.process
        deadline = time.monotonic() + timeout_s
        try:
            if while_waiting is not None:
                while_waiting()
            sandbox.wait_promptly(process, max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _stop(process)
            launched.close()
            raise BuildError(
                f"{what}: timed out after {timeout_s:g} s; "
                f"last output: {output_tail(_read(output).decode('utf-8', 'replace'))}"
            ) from None
        except BaseException:
            _stop(process)  # reaped, so no zombie outlives a failure of while_waiting
            launched.close()
            raise
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # nothing it started outlives it
        raw = _read(output)
    failure = launched.launch_error()
    launched.lean_setup_failed(raw)
    if failure is not None:
        # A PATH folder closed to the code's user fails the search with EACCES, as execvp does, even when
        # the program is nowhere: then it is missing, not unexecutable.
        missing = "/" not in argv[0] and shutil.which(argv[0], path=env.get("PATH", os.defpath)) is None
        if "No such file" in failure or missing:
            raise BuildError(f"{what}: program {argv[0]!r} not found; install it or fix the command")
        if "Permission denied" in failure:
            raise BuildError(f"{what}: program {argv[0]!r} is not executable; chmod +x it")
        raise BuildError(f"{what}: {failure}")
    return subprocess.CompletedProcess(list(argv), process.returncode, raw.decode("utf-8", "replace"))


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _read(output: IO[bytes]) -> bytes:
    output.seek(0, os.SEEK_END)
    output.seek(max(0, output.tell() - OUTPUT_KEPT))
    return output.read(OUTPUT_KEPT)


def output_tail(output: str) -> str:
    """The last lines of a tool's output, joined so that the one-line error stays readable."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    tail = " | ".join(lines[-TAIL_LINES:])
    return tail[-TAIL_CHARS:] if tail else "(no output)"


def output_head(output: str, *, lines: int = 6) -> str:
    """The first meaningful lines of a tool's output, for tools (npm) that explain first, then dump help."""
    meaningful = [line.strip() for line in output.splitlines() if line.strip() not in ("", "npm error")]
    return " | ".join(meaningful[:lines])[:TAIL_CHARS] or "(no output)"


def build_command(spec: LayerSpec, staging: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Run the layer's build command in its source folder; it must fill the folder named by $LAYER_CI_OUT."""
    argv = spec.build.command
    if not argv:
        raise BuildError(
            f"{spec.location}: layers.{spec.name}.build.command: empty; give the argv, e.g. [make, layer]"
        )
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        {
            "LAYER_CI_OUT": str(staging),
            "LAYER_CI_LAYER": spec.name,
            "LAYER_CI_ARCHITECTURES": " ".join(spec.compatible_architectures),
            "LAYER_CI_RUNTIMES": " ".join(spec.compatible_runtimes),
            "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
        }
    )
    what = f"layer {spec.name}: build command {' '.join(argv)!r}"
    isolation = sandbox.isolation()
    # The build's temporary folders are layer-ci's own (mkdtemp: 0700): opened for the sandbox's user.
    program = shutil.which(argv[0], path=env["PATH"]) if "/" not in argv[0] else spec.source / argv[0]
    unveil = sandbox.require_reachable(
        isolation,
        [spec.source, staging, *([Path(program)] if program else [])],
        what,
        repair_under=staging.parent,
    )
    with untrusted_dirs(isolation, env, [staging]):
        completed = run_untrusted(
            argv, cwd=spec.source, env=env, timeout_s=timeout_s, what=what, isolation=isolation, unveil=unveil
        )
    if completed.returncode != 0:
        raise BuildError(
            f"{what} exited with {completed.returncode}; last output: {output_tail(completed.stdout)}"
        )
