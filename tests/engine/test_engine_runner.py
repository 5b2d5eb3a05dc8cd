"""A function's tests run against chosen layer contents, in a scrubbed Lambda-like environment."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from layer_ci.adapters import sandbox
from layer_ci.engine import extract as extract_module
from layer_ci.engine.prepare import EngineOptions
from layer_ci.engine.runner import TestResult, is_pytest, read_junit, run_function_tests, summarize_output
from layer_ci.model import Config
from tests.engine.engine_support import (
    HOST_RUNTIME,
    file,
    function_spec,
    host_shared_object,
    layer_spec,
    make_config,
    node_runtime,
    write_zip,
)

MYLIB = "def greet(name):\n    return f'hello {name}'\n"
APP = """
import mylib


def handler(event, context):
    return {"greeting": mylib.greet(event.get("name", "world"))}
"""
APP_TEST = """
import app


def test_greets():
    assert app.handler({"name": "ada"}, None) == {"greeting": "hello ada"}
"""


def _greeter(tmp_path: Path, test_files: dict[str, str] | None = None) -> tuple[Config, Path, Path]:
    v1 = write_zip(tmp_path / "common-v1.zip", [file("python/mylib.py", MYLIB), file("python/extra.py", "")])
    v2 = write_zip(tmp_path / "common-v2.zip", [file("python/extra.py", "")])  # v2 dropped mylib
    files = {"app.py": APP, "tests/test_app.py": APP_TEST, **(test_files or {})}
    function = function_spec(tmp_path, "greeter", files, ("common",))
    return make_config(tmp_path, [layer_spec(tmp_path, "common")], [function]), v1, v2


def _options(cache: Path, **kwargs: object) -> EngineOptions:
    return EngineOptions(cache_dir=cache, **kwargs)  # type: ignore[arg-type]


def test_passes_on_v1_and_fails_on_v2_with_the_import_error_line(shared_cache: Path, tmp_path: Path) -> None:
    config, v1, v2 = _greeter(tmp_path)

    passed = run_function_tests(config, "greeter", {"common": str(v1)}, options=_options(shared_cache))
    assert passed.status == "passed", passed.output_tail
    assert passed.exit_code == 0 and passed.headline is None
    assert passed.junit is not None and (passed.junit.tests, passed.junit.failures) == (1, 0)
    assert passed.interpreter_version is not None and passed.interpreter_version.startswith(HOST_RUNTIME[6:])
    assert not passed.interpreter_mismatch
    assert passed.layers[0].label == f"common from {v1}"

    failed = run_function_tests(config, "greeter", {"common": str(v2)}, options=_options(shared_cache))
    assert failed.status == "failed"
    assert failed.headline == "ModuleNotFoundError: No module named 'mylib'"
    assert failed.junit is not None and failed.junit.errors == 1
    assert "No module named 'mylib'" in failed.output_tail
    assert failed.junit_xml is not None and "<testsuite" in failed.junit_xml
    document = failed.to_dict()
    assert document["status"] == "failed" and document["headline"] == failed.headline
    assert document["layers"][0]["sha256"] == failed.layers[0].sha256


def test_a_second_run_extracts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, v1, _ = _greeter(tmp_path)
    extractions: list[Path] = []
    real = extract_module._extract_into

    def counting(
        path: Path, root: Path, limits: extract_module.ExtractLimits
    ) -> tuple[extract_module.TreeEntry, ...]:
        extractions.append(path)
        return real(path, root, limits)

    monkeypatch.setattr(extract_module, "_extract_into", counting)
    first = run_function_tests(config, "greeter", {"common": str(v1)}, options=_options(tmp_path / "cache"))
    second = run_function_tests(config, "greeter", {"common": str(v1)}, options=_options(tmp_path / "cache"))
    assert first.passed and second.passed
    assert extractions == [v1]
    assert first.opt_dir == second.opt_dir


ENV_PROBE = """
import os
import sys
from pathlib import Path


def test_environment_is_lambda_like_and_scrubbed():
    assert "AWS_SECRET_ACCESS_KEY" not in os.environ
    assert "GITHUB_TOKEN" not in os.environ
    assert "MY_API_KEY" not in os.environ
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    opt = Path(os.environ["LAYER_CI_OPT"])
    task_root = Path(os.environ["LAMBDA_TASK_ROOT"])
    assert Path.cwd() == task_root
    assert os.environ["_HANDLER"] == "app.handler"
    assert os.environ["AWS_LAMBDA_FUNCTION_NAME"] == "greeter"
    assert os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert os.environ["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert os.environ["AWS_REGION"] == os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert os.environ["AWS_EXECUTION_ENV"].startswith("AWS_Lambda_python3.")
    assert os.environ["TZ"] == ":UTC" and os.environ["LANG"] == "en_US.UTF-8"
    assert os.environ["TABLE"] == "orders"
    assert os.environ["CONFIG_PATH"] == str(opt / "etc" / "config.json")  # /opt/... in the config
    assert Path(os.environ["HOME"]).is_dir() and Path(os.environ["TMPDIR"]).is_dir()
    # Lambda's order: function code, then /opt/python/lib/pythonX.Y/site-packages, then /opt/python.
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    ours = [str(task_root), str(opt / "python" / "lib" / minor / "site-packages"), str(opt / "python")]
    positions = [sys.path.index(entry) for entry in ours]
    assert positions == sorted(positions)
    assert os.environ["PATH"].split(os.pathsep)[-1] == str(opt / "bin")
    assert str(opt / "lib") in os.environ["LD_LIBRARY_PATH"].split(os.pathsep)
    # python is the runtime's interpreter, and layer-ci's own packages are not importable
    import subprocess
    version = subprocess.run(["python", "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout
    assert version.strip() == str(tuple(sys.version_info[:2]))
    for module in ("layer_ci", "requests", "yaml", "github"):
        try:
            __import__(module)
        except ImportError:
            continue
        raise AssertionError(f"{module} leaked from the layer-ci environment into the function's")
    import boto3  # Lambda's Python runtimes include the SDK
"""


def test_caller_secrets_are_absent_and_lambda_variables_present(
    shared_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACALLER")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_caller")
    monkeypatch.setenv("MY_API_KEY", "caller-key")
    v1 = write_zip(tmp_path / "common.zip", [file("python/mylib.py", MYLIB)])
    function = function_spec(
        tmp_path,
        "greeter",
        {"app.py": APP, "tests/test_env.py": ENV_PROBE},
        ("common",),
        environment=(("TABLE", "orders"), ("CONFIG_PATH", "/opt/etc/config.json"), ("AWS_REGION", "xx")),
    )
    config = make_config(tmp_path, [layer_spec(tmp_path, "common")], [function])
    result = run_function_tests(
        config, "greeter", {"common": str(v1)}, options=_options(shared_cache, region="eu-west-1")
    )
    assert result.status == "passed", result.output_tail
    assert any("AWS_REGION is reserved by Lambda" in warning for warning in result.warnings)


BIN_AND_LIB = """
import ctypes
import subprocess


def test_layer_tool_on_path():
    done = subprocess.run(["layer-tool"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "tool from the layer"


def test_layer_library_on_ld_library_path():
    library = ctypes.CDLL("libzcopy.so")  # a bare name: dlopen searches LD_LIBRARY_PATH
    library.zlibVersion.restype = ctypes.c_char_p
    assert library.zlibVersion().decode()[0].isdigit()
"""


def test_bin_tool_and_lib_shared_library_are_found(shared_cache: Path, tmp_path: Path) -> None:
    tools = write_zip(
        tmp_path / "tools.zip",
        [
            file("bin/layer-tool", "#!/bin/sh\necho 'tool from the layer'\n", mode=0o755),
            file("lib/libzcopy.so", host_shared_object().read_bytes(), mode=0o755),
        ],
    )
    function = function_spec(tmp_path, "native", {"tests/test_native.py": BIN_AND_LIB}, ("tools",))
    config = make_config(tmp_path, [layer_spec(tmp_path, "tools")], [function])
    result = run_function_tests(config, "native", {"tools": str(tools)}, options=_options(shared_cache))
    assert result.status == "passed", result.output_tail
    assert result.junit is not None and result.junit.tests == 2


def test_two_layers_with_the_same_file_later_wins_with_a_warning(shared_cache: Path, tmp_path: Path) -> None:
    first = write_zip(tmp_path / "first.zip", [file("python/settings.py", "SOURCE = 'first'\n")])
    second = write_zip(tmp_path / "second.zip", [file("python/settings.py", "SOURCE = 'second'\n")])
    probe = "import settings\n\ndef test_winner():\n    assert settings.SOURCE == 'second'\n"
    function = function_spec(tmp_path, "merged", {"tests/test_merge.py": probe}, ("first", "second"))
    config = make_config(
        tmp_path, [layer_spec(tmp_path, "first"), layer_spec(tmp_path, "second")], [function]
    )
    result = run_function_tests(
        config, "merged", {"first": str(first), "second": str(second)}, options=_options(shared_cache)
    )
    assert result.status == "passed", result.output_tail
    shadowing = [warning for warning in result.warnings if "python/settings.py" in warning]
    assert len(shadowing) == 1
    assert f"second from {second} wins" in shadowing[0] and f"first from {first}" in shadowing[0]


def test_timeout_kills_the_command(shared_cache: Path, tmp_path: Path) -> None:
    config, v1, _ = _greeter(
        tmp_path, {"tests/test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(60)\n"}
    )
    result = run_function_tests(
        config, "greeter", {"common": str(v1)}, options=_options(shared_cache), timeout_s=3
    )
    assert result.status == "timeout"
    assert result.exit_code is None
    assert result.headline == "timed out after 3 s; the test command was killed"
    assert result.duration_s < 20


def test_a_missing_command_is_an_error_not_a_crash(shared_cache: Path, tmp_path: Path) -> None:
    config, v1, _ = _greeter(tmp_path)
    result = run_function_tests(
        config, "greeter", {"common": str(v1)}, options=_options(shared_cache), command=["no-such-runner-xyz"]
    )
    assert result.status == "error"
    assert result.headline is not None and "could not start 'no-such-runner-xyz'" in result.headline


@pytest.mark.parametrize("sandbox_mode", ["auto", "off"])
def test_a_test_writing_into_opt_is_reported_and_the_cache_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_mode: str
) -> None:
    monkeypatch.setenv(sandbox.SANDBOX_ENV, sandbox_mode)  # off: the code runs as this user, even root
    monkeypatch.setenv("LAYER_CI_REAL_OPT", "off")  # the stand-in folder: the real /opt is a read-only mount
    writer = (
        "import os, pathlib\n\n"
        "def test_write():\n"
        "    target = pathlib.Path(os.environ['LAYER_CI_OPT']) / 'python' / 'mylib.py'\n"
        "    try:\n"
        "        target.chmod(0o644)\n"
        "        target.write_text('oops')\n"
        "    except PermissionError:\n"
        "        pass  # handed to another user: the tree is not its own, the cache stays whole\n"
    )
    config, v1, _ = _greeter(tmp_path, {"tests/test_write.py": writer})
    result = run_function_tests(config, "greeter", {"common": str(v1)}, options=_options(tmp_path / "cache"))
    wrote = any("wrote into the /opt stand-in" in warning for warning in result.warnings)
    # Code running as this user owns the extracted tree and can chmod it: the write is caught afterwards.
    assert wrote == (sandbox.isolation().drop is None)
    again = run_function_tests(config, "greeter", {"common": str(v1)}, options=_options(tmp_path / "cache"))
    assert again.status == "passed", again.output_tail  # fresh, untampered layer content


def test_other_python_only_when_allowed_and_then_marked(shared_cache: Path, tmp_path: Path) -> None:
    from layer_ci.engine.interpreters import InterpreterNotFoundError

    config, v1, _ = _greeter(tmp_path)
    wrong = replace(config.functions[0], runtime="python3.99")
    layer = layer_spec(tmp_path, "common", runtimes=("python3.99",))
    config = make_config(tmp_path, [layer], [wrong])
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "python3").symlink_to(sys.executable)
    options = dict(search_path=str(shims), use_uv=False)
    with pytest.raises(InterpreterNotFoundError) as caught:
        run_function_tests(config, "greeter", {"common": str(v1)}, options=_options(shared_cache, **options))
    message = caught.value.one_line()
    assert (
        "python3.99" in message and "uv python install 3.99" in message and "--allow-other-python" in message
    )

    allowed = run_function_tests(
        config,
        "greeter",
        {"common": str(v1)},
        options=_options(shared_cache, allow_other_python=True, **options),
    )
    assert allowed.interpreter_mismatch
    assert allowed.interpreter_version is not None and allowed.interpreter_version.startswith(
        HOST_RUNTIME[6:]
    )
    assert allowed.status == "passed", allowed.output_tail


def test_node_function_finds_layer_modules_on_node_path(shared_cache: Path, tmp_path: Path) -> None:
    runtime = node_runtime()
    if runtime is None:
        pytest.skip("no node on PATH")
    major = runtime[len("nodejs") : -len(".x")]
    layer = write_zip(
        tmp_path / "greet.zip",
        [
            file("nodejs/node_modules/greet/index.js", "module.exports = (n) => `hello ${n}`;\n"),
            file(f"nodejs/node{major}/node_modules/versioned/index.js", "module.exports = 'versioned';\n"),
        ],
    )
    test_js = (
        "const test = require('node:test');\nconst assert = require('node:assert');\n"
        "test('layer modules resolve', () => {\n"
        "  assert.strictEqual(require('greet')('ada'), 'hello ada');\n"
        "  assert.strictEqual(require('versioned'), 'versioned');\n"
        "  assert.strictEqual(process.env.GITHUB_TOKEN, undefined);\n"
        "});\n"
    )
    function = function_spec(
        tmp_path,
        "nodefn",
        {"test/greet.test.js": test_js},
        ("greet",),
        runtime=runtime,
        test=("node", "--test"),
        handler="index.handler",
    )
    spec = layer_spec(tmp_path, "greet", runtimes=(runtime,))
    config = make_config(tmp_path, [spec], [function])
    result = run_function_tests(config, "nodefn", {"greet": str(layer)}, options=_options(shared_cache))
    assert result.status == "passed", result.output_tail
    assert result.junit is None

    broken = write_zip(tmp_path / "broken.zip", [file("nodejs/node_modules/other/index.js", "")])
    failed = run_function_tests(config, "nodefn", {"greet": str(broken)}, options=_options(shared_cache))
    assert failed.status == "failed"
    assert failed.headline is not None and "Cannot find module 'greet'" in failed.headline


# ----------------------------------------------------------------------------------------------------
# Pieces


def test_headline_prefers_the_import_error(tmp_path: Path) -> None:
    output = tmp_path / "out.log"
    output.write_text(
        "collected 3 items\nE   AssertionError: assert 1 == 2\n"
        "E   ModuleNotFoundError: No module named 'numpy'\n" + "noise\n" * 200
    )
    tail, headline = summarize_output(output)
    assert headline == "ModuleNotFoundError: No module named 'numpy'"
    assert len(tail.splitlines()) == 60
    output.write_text("FAILED tests/test_a.py::test_x - assert 1 == 2\n")
    assert summarize_output(output)[1] == "FAILED tests/test_a.py::test_x - assert 1 == 2"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python", "-m", "pytest", "-q"], True),
        (["python3.12", "-X", "dev", "-m", "pytest"], True),
        (["/usr/bin/pytest"], True),
        (["python", "-m", "unittest"], False),
        (["npm", "test"], False),
        (["python", "run_pytest.py"], False),
    ],
)
def test_is_pytest(argv: list[str], expected: bool) -> None:
    assert is_pytest(argv) is expected


def test_read_junit_sums_suites_and_names_failures(tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite tests="3" failures="1" errors="0" skipped="1">'
        '<testcase classname="tests.test_a" name="test_ok"/>'
        '<testcase classname="tests.test_a" name="test_bad"><failure message="boom"/></testcase>'
        '<testcase classname="tests.test_a" name="test_skip"><skipped/></testcase>'
        "</testsuite></testsuites>"
    )
    summary, text = read_junit(xml)
    assert summary is not None and text is not None
    assert (summary.tests, summary.failures, summary.errors, summary.skipped) == (3, 1, 0, 1)
    assert summary.failed_tests == ("tests.test_a::test_bad",)
    xml.write_text("<not-closed")
    assert read_junit(xml) == (None, None)


def test_result_is_not_collected_as_a_test_class() -> None:
    assert TestResult.__test__ is False


def test_other_runtimes_get_the_layout_and_need_a_test_command(shared_cache: Path, tmp_path: Path) -> None:
    from layer_ci.errors import UsageError

    tools = write_zip(
        tmp_path / "tools.zip", [file("bin/check-java", "#!/bin/sh\necho layout ok\n", mode=0o755)]
    )
    function = function_spec(tmp_path, "javafn", {}, ("tools",), runtime="java21", test=("check-java",))
    config = make_config(tmp_path, [layer_spec(tmp_path, "tools", runtimes=("java21",))], [function])
    result = run_function_tests(config, "javafn", {"tools": str(tools)}, options=_options(shared_cache))
    assert result.status == "passed" and "layout ok" in result.output_tail
    assert result.interpreter is None

    silent = make_config(tmp_path, config.layers, [replace(function, test_command=())])
    with pytest.raises(UsageError, match="java21 has no default test command"):
        run_function_tests(silent, "javafn", {"tools": str(tools)}, options=_options(shared_cache))


def test_a_hostile_layer_is_an_error_result_and_nothing_runs(shared_cache: Path, tmp_path: Path) -> None:
    config, _, _ = _greeter(tmp_path)
    hostile = write_zip(tmp_path / "hostile.zip", [file("python/../../../escape.py", "x")])
    result = run_function_tests(config, "greeter", {"common": str(hostile)}, options=_options(shared_cache))
    assert result.status == "error"
    assert result.headline is not None and "zip-slip" in result.headline and "hostile.zip" in result.headline
    assert result.exit_code is None and result.output_tail == ""


BYTECODE_PROBE = """
import sys

import app


def test_no_bytecode_is_written_or_shared():
    assert sys.dont_write_bytecode
    assert sys.pycache_prefix is None
    assert app.handler({"name": "ada"}, None) == {"greeting": "hello ada"}
"""


def test_no_bytecode_outlives_a_run(tmp_path: Path) -> None:
    # A bytecode cache kept between runs would be writable by every function's code: one function's
    # tests could plant a .pyc that another function's gate run loads. Lambda compiles afresh too.
    config, v1, _ = _greeter(tmp_path, {"tests/test_bytecode.py": BYTECODE_PROBE})
    cache = tmp_path / "cache"
    for _ in range(2):
        result = run_function_tests(config, "greeter", {"common": str(v1)}, options=_options(cache))
        assert result.status == "passed", result.output_tail
    assert sorted(cache.rglob("*.pyc")) == []
    assert sorted((tmp_path / "functions").rglob("__pycache__")) == []
