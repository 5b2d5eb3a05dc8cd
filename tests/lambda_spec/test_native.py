"""`files` layers get the test engine's native-code rules at build time (layer_ci.lambda_spec.native).

The slice: a repository whose `files` layer vendors a Python package copied from a developer's laptop
(a Mach-O `darwin.so`), another built for the wrong CPython, and a tools layer whose binary is for
the other architecture. Each is refused by `layer-ci build`, in one line naming the file.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from layer_ci.build.layer import build_layer
from layer_ci.errors import BuildError
from layer_ci.lambda_spec.native import native_problem, sniff_binary
from layer_ci.model import Architecture, BuildSpec, LayerSpec

LAYER_CI = [sys.executable, "-m", "layer_ci"]


def elf(machine: int) -> bytes:
    """A 64-bit little-endian ELF header for ``machine`` (62 x86_64, 183 aarch64), padded."""
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + (3).to_bytes(2, "little") + machine.to_bytes(2, "little")
    return header + b"\x00" * 44


MACH_O = b"\xcf\xfa\xed\xfe" + b"\x00" * 60

CONFIG = """\
version: 1
layers:
  fastjson:
    source: layers/fastjson
    build: {method: files}
    compatible_runtimes: [python3.12]
    compatible_architectures: [x86_64]
"""


def repo(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "repo"
    for relative, data in {
        "python/fastjson/__init__.py": b"from ._speedups import dumps\n",
        **files,
    }.items():
        path = root / "layers" / "fastjson" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "layer-ci.yml").write_text(CONFIG)
    return root


def build(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LAYER_CI, "build"], cwd=root, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("relative", "data", "says"),
    [
        (
            "python/fastjson/_speedups.cpython-312-darwin.so",
            MACH_O,
            "python/fastjson/_speedups.cpython-312-darwin.so is a macOS binary; Lambda runs Linux",
        ),
        (
            "python/fastjson/_speedups.cpython-311-x86_64-linux-gnu.so",
            elf(62),
            "python/fastjson/_speedups.cpython-311-x86_64-linux-gnu.so is a CPython 3.11 extension but "
            "layer fastjson is compatible only with python3.12",
        ),
        (
            "python/fastjson/_speedups.cpython-312-aarch64-linux-gnu.so",
            elf(183),
            "is aarch64 machine code but layer fastjson is compatible only with x86_64",
        ),
        ("bin/fastjson-cli", elf(183), "bin/fastjson-cli is aarch64 machine code"),
        ("lib/libyajl.so.2", MACH_O, "lib/libyajl.so.2 is a macOS binary"),
    ],
    ids=["darwin-so", "other-cpython", "other-arch-so", "other-arch-bin", "darwin-lib"],
)
def test_layer_ci_build_refuses_native_code_the_layer_cannot_load(
    tmp_path: Path, relative: str, data: bytes, says: str
) -> None:
    root = repo(tmp_path, {relative: data})
    result = build(root)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("layer-ci: error:")]
    assert len(errors) == 1, result.stderr  # one line naming the layer and the file
    assert errors[0].startswith("layer-ci: error: layer fastjson: ")
    assert says in errors[0]
    assert not (root / ".layer-ci" / "build" / "fastjson.zip").exists()


def test_linux_build_for_the_layer_targets_ships(tmp_path: Path) -> None:
    root = repo(
        tmp_path,
        {
            "python/fastjson/_speedups.cpython-312-x86_64-linux-gnu.so": elf(62),
            "python/fastjson/_abi3.abi3.so": elf(62),
            # a per-version folder no compatible runtime searches is never loaded: not an error here
            "python/lib/python3.9/site-packages/old/_c.cpython-39-x86_64-linux-gnu.so": elf(62),
            "bin/fastjson-cli": elf(62),
        },
    )
    result = build(root)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(root / ".layer-ci" / "build" / "fastjson.zip") as archive:
        assert "python/fastjson/_speedups.cpython-312-x86_64-linux-gnu.so" in archive.namelist()


def layer(source: Path, architectures: tuple[Architecture, ...], runtimes: tuple[str, ...]) -> LayerSpec:
    return LayerSpec(
        name="native",
        source=source,
        build=BuildSpec("files"),
        compatible_runtimes=runtimes,
        compatible_architectures=architectures,
        regions=("us-east-1",),
    )


def test_a_layer_for_both_architectures_may_hold_either_and_several_pythons_each_abi(tmp_path: Path) -> None:
    source = tmp_path / "native"
    (source / "python" / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (
        source / "python" / "lib" / "python3.11" / "site-packages" / "m.cpython-311-x86_64-linux-gnu.so"
    ).write_bytes(elf(62))
    (source / "python" / "m.cpython-312-aarch64-linux-gnu.so").write_bytes(elf(183))
    spec = layer(source, ("x86_64", "arm64"), ("python3.11", "python3.12"))
    build_layer(spec, tmp_path / "out", input_key="k")
    # ... but a python3.12 build inside python3.11's site-packages never loads there
    (
        source / "python" / "lib" / "python3.11" / "site-packages" / "n.cpython-312-x86_64-linux-gnu.so"
    ).write_bytes(elf(62))
    with pytest.raises(BuildError, match=r"n\.cpython-312-x86_64-linux-gnu\.so is a CPython 3\.12 extension"):
        build_layer(spec, tmp_path / "out2", input_key="k")


def test_engine_and_build_share_one_rule_set() -> None:
    """The test engine's preflight words its findings from the same function the build uses."""
    from layer_ci.engine import extract, preflight

    assert extract.sniff_binary is sniff_binary
    assert preflight.native_problem is native_problem
    assert sniff_binary(MACH_O[:20]) == ("mach-o", None)
    assert sniff_binary(elf(183)[:20]) == ("elf", 183)
