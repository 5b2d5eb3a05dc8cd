"""Preflight: wrong architecture, wrong Python ABI, limits, incompatibility refuse a run before any test."""

from __future__ import annotations

from pathlib import Path

import pytest

from layer_ci.engine.extract import extract_layer
from layer_ci.engine.preflight import LayerUnderTest, PreflightReport, preflight
from layer_ci.engine.prepare import EngineOptions
from layer_ci.engine.runner import run_function_tests
from layer_ci.engine.sources import ResolvedLayer
from layer_ci.lambda_spec.runtimes import parse_runtime
from layer_ci.model import Architecture, FunctionSpec
from tests.engine.engine_support import (
    ELF_MACHINE,
    FOREIGN_ARCH,
    HOST_ARCH,
    HOST_RUNTIME,
    Entry,
    crafted_elf,
    file,
    function_spec,
    host_shared_object,
    layer_spec,
    make_config,
    write_zip,
)

# The function's test leaves a marker: its absence proves the refusal came before any test ran.
MARKER_TEST = """
import os
from pathlib import Path


def test_runs():
    Path(os.environ["LAMBDA_TASK_ROOT"], "ran.marker").write_text("ran")
"""


def _check(
    tmp_path: Path,
    layers: dict[str, list[Entry]],
    *,
    runtime: str = HOST_RUNTIME,
    architecture: Architecture = HOST_ARCH,
    function_bytes: int = 1000,
    compatible: dict[str, tuple[str, ...]] | None = None,
) -> tuple[PreflightReport, FunctionSpec]:
    specs = [
        layer_spec(tmp_path, name, runtimes=(runtime,), architectures=("x86_64", "arm64")) for name in layers
    ]
    function = function_spec(tmp_path, "fn", {}, tuple(layers), runtime=runtime, architecture=architecture)
    config = make_config(tmp_path, specs, [function])
    under_test = []
    for name, entries in layers.items():
        zip_path = write_zip(tmp_path / f"{name}.zip", entries)
        runtimes, architectures = (compatible or {}).get(name, ((), ()))
        resolved = ResolvedLayer(name, f"{name} v1", zip_path, 1, None, runtimes, architectures)
        under_test.append(LayerUnderTest(resolved, extract_layer(zip_path, tmp_path / "cache")))
    report = preflight(config, function, parse_runtime(runtime), under_test, function_bytes=function_bytes)
    return report, function


def test_foreign_architecture_shared_object_is_refused_naming_function_layer_and_file(tmp_path: Path) -> None:
    # A real shared object of this machine, in a layer used by a function of the other architecture.
    report, _ = _check(
        tmp_path,
        {"native": [file("python/pkg/_speedups.so", host_shared_object().read_bytes())]},
        architecture=FOREIGN_ARCH,
    )
    assert len(report.errors) == 1
    message = report.errors[0]
    assert message.startswith(f"function fn ({HOST_RUNTIME}, {FOREIGN_ARCH}): layer native v1: ")
    assert "python/pkg/_speedups.so" in message
    host_name = "x86_64" if HOST_ARCH == "x86_64" else "aarch64"
    assert f"is {host_name} machine code but the function runs on {FOREIGN_ARCH}" in message


def test_crafted_foreign_elf_in_bin_is_refused_and_the_host_one_accepted(tmp_path: Path) -> None:
    foreign = ELF_MACHINE[FOREIGN_ARCH]
    report, _ = _check(
        tmp_path,
        {
            "tools": [
                file("bin/foreign-tool", crafted_elf(foreign), mode=0o755),
                file("bin/host-tool", crafted_elf(ELF_MACHINE[HOST_ARCH]), mode=0o755),
                file("bin/script", "#!/bin/sh\n", mode=0o755),
                file("share/data/foreign.bin", crafted_elf(foreign)),  # not loaded by the runtime
            ]
        },
    )
    assert len(report.errors) == 1
    assert "bin/foreign-tool" in report.errors[0] and f"runs on {HOST_ARCH}" in report.errors[0]


def test_python_abi_mismatch_is_refused_abi3_and_matching_tags_pass(tmp_path: Path) -> None:
    host_elf = crafted_elf(ELF_MACHINE[HOST_ARCH])
    other = "312" if HOST_RUNTIME != "python3.12" else "311"
    own = HOST_RUNTIME.replace("python3.", "3")
    report, _ = _check(
        tmp_path,
        {
            "deps": [
                file(f"python/fast/_core.cpython-{other}-x86_64-linux-gnu.so", host_elf),
                file(f"python/ok/_core.cpython-{own}-x86_64-linux-gnu.so", host_elf),
                file("python/ok/_stable.abi3.so", host_elf),
                file("python/ok/_plain.so", host_elf),
            ]
        },
    )
    assert len(report.errors) == 1
    message = report.errors[0]
    assert f"python/fast/_core.cpython-{other}-x86_64-linux-gnu.so" in message
    assert f"CPython 3.{other[1:]} extension but the function runs {HOST_RUNTIME}" in message
    assert "layer deps v1" in message and message.startswith("function fn")


def test_macos_binaries_are_refused(tmp_path: Path) -> None:
    report, _ = _check(
        tmp_path, {"deps": [file("python/x/_c.cpython-311-darwin.so", b"\xcf\xfa\xed\xfe" + bytes(60))]}
    )
    assert any("macOS binary" in error for error in report.errors)


def test_six_layers_and_oversize_are_refused(tmp_path: Path) -> None:
    layers = {f"l{index}": [file(f"python/m{index}.py", "x = 1\n")] for index in range(6)}
    report, _ = _check(tmp_path, layers, function_bytes=262_144_000)
    joined = " | ".join(report.errors)
    assert "uses 6 layers" in joined and "at most 5" in joined
    assert "262,144,000" in joined and "bytes too many" in joined


def test_layer_incompatible_as_published_is_refused(tmp_path: Path) -> None:
    report, _ = _check(
        tmp_path,
        {"deps": [file("python/a.py", "")]},
        compatible={"deps": (("python3.9",), ("arm64",))},
        architecture="x86_64",
    )
    assert any(f"compatible only with python3.9, not {HOST_RUNTIME}" in error for error in report.errors)
    assert any("compatible only with arm64, not x86_64" in error for error in report.errors)


def test_shadowed_files_are_a_warning_naming_the_winner(tmp_path: Path) -> None:
    report, _ = _check(
        tmp_path,
        {
            "base": [file("python/util.py", "A"), file("python/base_only.py", "")],
            "override": [file("python/util.py", "B"), file("bin/tool", "#!/bin/sh\n", mode=0o755)],
        },
    )
    assert report.ok
    assert report.warnings == (
        "function fn: 1 file(s) shipped by both base v1 and override v1; override v1 wins (it comes later): "
        "python/util.py",
    )


def test_layout_mistakes_are_warnings(tmp_path: Path) -> None:
    report, _ = _check(
        tmp_path,
        {
            "flat": [file("requests/__init__.py", "")],
            "wrong-version": [file("python/lib/python3.7/site-packages/old.py", "")],
        },
    )
    assert any("layer flat v1 has nothing under python/" in warning for warning in report.warnings)
    assert any("python/lib/python3.7/site-packages" in warning for warning in report.warnings)


@pytest.mark.parametrize("problem", ["architecture", "abi"])
def test_refusal_happens_before_any_test_runs(shared_cache: Path, tmp_path: Path, problem: str) -> None:
    other = "312" if HOST_RUNTIME != "python3.12" else "311"
    if problem == "architecture":
        entries = [file("python/native/_c.so", host_shared_object().read_bytes())]
        architecture = FOREIGN_ARCH
    else:
        entries = [file(f"python/native/_c.cpython-{other}-x86_64-linux-gnu.so", crafted_elf(62))]
        architecture = "x86_64"
    zip_path = write_zip(tmp_path / "native.zip", entries)
    function = function_spec(
        tmp_path, "fn", {"tests/test_marker.py": MARKER_TEST}, ("native",), architecture=architecture
    )
    spec = layer_spec(tmp_path, "native", architectures=("x86_64", "arm64"))
    config = make_config(tmp_path, [spec], [function])

    result = run_function_tests(
        config, "fn", {"native": str(zip_path)}, options=EngineOptions(cache_dir=shared_cache)
    )

    assert result.status == "error"
    assert result.preflight_errors and result.headline == result.preflight_errors[0]
    assert "python/native/_c" in result.headline and "function fn" in result.headline
    assert not (function.source / "ran.marker").exists()
    assert result.exit_code is None and result.opt_dir is None
