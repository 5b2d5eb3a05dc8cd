"""Runtimes: Lambda's search paths and variables, interpreter discovery, and the isolated language home."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from layer_ci.engine.interpreters import (
    InterpreterNotFoundError,
    find_interpreter,
    lambda_environment,
    language_home,
    search_paths,
)
from layer_ci.lambda_spec.runtimes import parse_runtime
from tests.engine.engine_support import HOST_RUNTIME, function_spec


def test_parse_runtime() -> None:
    assert parse_runtime("python3.12").version == (3, 12)
    assert parse_runtime("nodejs20.x").version == (20,)
    assert parse_runtime("java21").family == "other"
    assert parse_runtime("python3.11").execution_env == "AWS_Lambda_python3.11"


def test_python_search_order_matches_lambda(tmp_path: Path) -> None:
    opt, task, runtime_dir, shim = tmp_path / "opt", tmp_path / "task", tmp_path / "rt", tmp_path / "shim"
    paths = search_paths(
        parse_runtime("python3.12"), opt=opt, task_root=task, runtime_dir=runtime_dir, shim_bin=shim
    )
    assert paths.pythonpath == (
        str(task),
        str(opt / "python/lib/python3.12/site-packages"),
        str(opt / "python"),
        str(runtime_dir),
    )
    assert paths.path[0] == str(shim) and paths.path[-1] == str(opt / "bin")
    assert paths.ld_library_path[-1] == str(opt / "lib")
    node = search_paths(
        parse_runtime("nodejs22.x"), opt=opt, task_root=task, runtime_dir=runtime_dir, shim_bin=None
    )
    assert node.node_path[:2] == (str(opt / "nodejs/node22/node_modules"), str(opt / "nodejs/node_modules"))
    assert node.pythonpath == ()


def test_environment_is_built_from_an_allow_list(tmp_path: Path) -> None:
    function = function_spec(
        tmp_path,
        "orders",
        {},
        (),
        environment=(
            ("TABLE", "orders"),
            ("_HANDLER", "evil.handler"),
            ("EXTRA_PATH", "/opt/bin:/var/task/x"),
        ),
    )
    runtime = parse_runtime("python3.11")
    opt, task = tmp_path / "opt", tmp_path / "task"
    paths = search_paths(runtime, opt=opt, task_root=task, runtime_dir=tmp_path / "rt", shim_bin=None)
    caller = {
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_SESSION_TOKEN": "t",
        "GITHUB_TOKEN": "g",
        "NPM_TOKEN": "n",
        "DB_PASSWORD": "p",
        "SIGNING_KEY": "k",
        "TERM": "xterm",
        "PATH": "/caller/bin",
        "HOME": "/root",
        "PYTHONPATH": "/caller/lib",
    }
    env = lambda_environment(
        function,
        runtime,
        paths,
        opt=opt,
        task_root=task,
        runtime_dir=tmp_path / "rt",
        region="eu-central-1",
        home=tmp_path / "home",
        tmpdir=tmp_path / "tmp",
        caller_env=caller,
    )
    variables = env.variables
    for secret in (
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GITHUB_TOKEN",
        "NPM_TOKEN",
        "DB_PASSWORD",
        "SIGNING_KEY",
    ):
        assert secret not in variables
    assert variables["TERM"] == "xterm"
    assert "/caller" not in variables["PATH"] and "/caller" not in variables["PYTHONPATH"]
    assert variables["HOME"] == str(tmp_path / "home")
    assert variables["_HANDLER"] == "app.handler"  # reserved: the configuration cannot override it
    assert variables["TABLE"] == "orders"
    assert variables["EXTRA_PATH"] == f"{opt}/bin:{task}/x"
    assert variables["AWS_EC2_METADATA_DISABLED"] == "true"
    assert variables["LAYER_CI_OPT"] == str(opt)
    assert variables["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/orders"
    assert "[$LATEST]" in variables["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env.warnings == ("function orders: environment variable _HANDLER is reserved by Lambda; ignored",)


def test_missing_interpreter_says_which_and_how_to_get_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InterpreterNotFoundError) as caught:
        find_interpreter(
            parse_runtime("python3.12"), function_name="orders", search_path=str(empty), use_uv=False
        )
    message = caught.value.one_line()
    assert message.startswith("function orders runs on python3.12 but no Python 3.12 was found")
    assert "uv python install 3.12" in message and "--allow-other-python" in message
    assert caught.value.exit_code == 2


def test_nearest_interpreter_when_allowed(tmp_path: Path) -> None:
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "python3").symlink_to(sys.executable)
    found = find_interpreter(
        parse_runtime("python3.99"), function_name="f", allow_other=True, search_path=str(shims), use_uv=False
    )
    assert found is not None and found.mismatch
    assert found.version.startswith(HOST_RUNTIME[len("python") :])
    exact = find_interpreter(
        parse_runtime(HOST_RUNTIME), function_name="f", search_path=str(shims), use_uv=True
    )
    assert exact is not None and not exact.mismatch  # uv python find (or PATH) finds the host version


def test_language_home_is_isolated_and_offers_runtime_packages(tmp_path: Path) -> None:
    interpreter = find_interpreter(parse_runtime(HOST_RUNTIME), function_name="f")
    assert interpreter is not None
    home = language_home(interpreter, tmp_path / "cache", with_test_tools=True)
    probe = (
        "import importlib.util, json, sys;"
        "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in "
        "['boto3', 'pytest', 'requests', 'yaml', 'layer_ci', 'moto']}))"
    )
    done = subprocess.run(
        [str(home.bin / "python"), "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin"},
        cwd=tmp_path,  # -c puts the working folder first on sys.path
    )
    assert done.stdout.strip() == (
        '{"boto3": true, "pytest": true, "requests": false, "yaml": false, "layer_ci": false, "moto": false}'
    )
    assert any(label.startswith("boto3 ") for label in home.distributions)
    without_tools = language_home(interpreter, tmp_path / "cache", with_test_tools=False)
    assert without_tools.root != home.root
    assert not any(label.startswith("pytest ") for label in without_tools.distributions)


# ----------------------------------------------------------------------------------------------------
# The runtimes table and the per-major Node.js lookup the Action's image relies on


def test_the_runtime_table_is_the_list_limits_and_the_schema_accept() -> None:
    from layer_ci.lambda_spec.limits import LAMBDA_RUNTIMES
    from layer_ci.lambda_spec.runtimes import RUNTIME_TABLE, image_runtimes

    assert tuple(row.name for row in RUNTIME_TABLE) == LAMBDA_RUNTIMES
    for row in RUNTIME_TABLE:
        parsed = parse_runtime(row.name)
        assert (parsed.family, parsed.version) == (row.family, row.version), row.name
    assert [row.name for row in image_runtimes("python")] == [f"python3.{minor}" for minor in range(9, 15)]
    assert [row.name for row in image_runtimes("nodejs")] == ["nodejs20.x", "nodejs22.x", "nodejs24.x"]


def _real_node() -> tuple[str, str]:
    import shutil

    node = shutil.which("node")
    if node is None:
        pytest.fail("these tests need a real `node` on PATH (apt install nodejs)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    return node, version.strip().lstrip("v").split(".")[0]


def test_node_is_found_by_its_major_name_when_plain_node_is_absent(tmp_path: Path) -> None:
    node, major = _real_node()
    (tmp_path / f"node{major}").symlink_to(node)
    found = find_interpreter(parse_runtime(f"nodejs{major}.x"), function_name="f", search_path=str(tmp_path))
    assert found is not None and not found.mismatch
    assert found.version.split(".")[0] == major
    assert found.found_via == f"PATH (node{major})"


def test_a_node_of_another_major_is_refused_naming_the_major_link(tmp_path: Path) -> None:
    node, major = _real_node()
    other = str(int(major) + 2)
    (tmp_path / "node").symlink_to(node)
    with pytest.raises(InterpreterNotFoundError, match=rf"`node` on PATH is {major}\.[\s\S]*`node{other}`"):
        find_interpreter(parse_runtime(f"nodejs{other}.x"), function_name="f", search_path=str(tmp_path))
    mismatched = find_interpreter(
        parse_runtime(f"nodejs{other}.x"), function_name="f", search_path=str(tmp_path), allow_other=True
    )
    assert mismatched is not None and mismatched.mismatch
    with pytest.raises(InterpreterNotFoundError, match=rf"neither `node{other}` nor `node`"):
        find_interpreter(
            parse_runtime(f"nodejs{other}.x"), function_name="f", search_path=str(tmp_path / "x")
        )


def test_uv_finds_interpreters_without_settings_or_a_cache_anyone_else_may_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uv ran in the shared temporary folder, reading a uv.toml any user could plant there; one naming
    # another user's cache-dir had root run the interpreter-query script from a folder that user could swap.
    import tempfile

    from layer_ci.engine import interpreters

    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    planted = tmp_path / "planted-cache"
    (shared / "uv.toml").write_text(f'cache-dir = "{planted}"\n')
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    monkeypatch.chdir(shared)
    monkeypatch.delenv("UV_NO_CACHE", raising=False)
    here = str(Path(sys.executable).parent)
    found = interpreters._uv_find(f"{sys.version_info.major}.{sys.version_info.minor}", here)
    interpreters._uv_list(here)
    assert found is not None and Path(found).exists()
    assert not planted.exists()
