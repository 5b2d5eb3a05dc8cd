"""Builders for the engine's tests: small layer zips (with real and crafted ELF files), functions, configs."""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
import sys
import textwrap
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from layer_ci.model import Architecture, BuildSpec, Config, FunctionSpec, LayerSpec

HOST_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
HOST_ARCH: Architecture = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
FOREIGN_ARCH: Architecture = "x86_64" if HOST_ARCH == "arm64" else "arm64"
ELF_MACHINE = {"x86_64": 62, "arm64": 183}
_DATE = (2020, 1, 2, 3, 4, 6)


@dataclass(frozen=True)
class Entry:
    """One zip entry: a file (``data``), a folder, a symlink (``target``) or a raw mode (devices)."""

    name: str
    data: bytes = b""
    mode: int = 0o644
    kind: str = "file"
    target: str = ""


def file(name: str, data: bytes | str = b"", mode: int = 0o644) -> Entry:
    return Entry(name, data.encode() if isinstance(data, str) else data, mode)


def link(name: str, target: str) -> Entry:
    return Entry(name, kind="symlink", target=target)


def folder(name: str) -> Entry:
    return Entry(name if name.endswith("/") else name + "/", kind="dir", mode=0o755)


def device(name: str) -> Entry:
    return Entry(name, kind="chr", mode=0o644)


def write_zip(path: Path, entries: Iterable[Entry], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A layer zip as a Unix zip tool writes it (modes in external_attr), entries in the given order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression=compression) as archive:
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # hostile zips repeat names
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=_DATE)
            info.create_system = 3
            info.compress_type = compression
            if entry.kind == "symlink":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, entry.target.encode())
            elif entry.kind == "dir":
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                archive.writestr(info, b"")
            elif entry.kind == "chr":
                info.external_attr = (stat.S_IFCHR | entry.mode) << 16
                archive.writestr(info, b"")
            else:
                info.external_attr = (stat.S_IFREG | entry.mode) << 16
                archive.writestr(info, entry.data)
    return path


def host_shared_object() -> Path:
    """A real shared library of this machine (libz), to copy into layers as native code that loads."""
    for directory in (
        f"/lib/{platform.machine()}-linux-gnu",
        f"/usr/lib/{platform.machine()}-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/usr/lib",
        "/lib",
    ):
        candidate = Path(directory) / "libz.so.1"
        if candidate.is_file():
            return candidate.resolve()
    raise AssertionError("no libz.so.1 on this machine: install zlib (every Lambda base image has it)")


def crafted_elf(machine: int) -> bytes:
    """A 64-byte ELF64 header (ET_DYN) for ``machine``: enough for any e_machine reader, never loaded."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + (3).to_bytes(2, "little") + machine.to_bytes(2, "little") + (1).to_bytes(4, "little")
    return header + bytes(64 - len(header))


def layer_spec(
    root: Path,
    name: str,
    *,
    runtimes: tuple[str, ...] = (HOST_RUNTIME,),
    architectures: tuple[Architecture, ...] = (HOST_ARCH,),
) -> LayerSpec:
    source = root / "layers" / name
    source.mkdir(parents=True, exist_ok=True)
    return LayerSpec(
        name=name,
        source=source,
        build=BuildSpec(method="files"),
        compatible_runtimes=runtimes,
        compatible_architectures=architectures,
        regions=("us-east-1",),
    )


def function_spec(
    root: Path,
    name: str,
    files: Mapping[str, str],
    layers: tuple[str, ...],
    *,
    runtime: str = HOST_RUNTIME,
    architecture: Architecture = HOST_ARCH,
    test: tuple[str, ...] = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider"),
    handler: str = "app.handler",
    environment: tuple[tuple[str, str], ...] = (),
    timeout_s: int = 3,
) -> FunctionSpec:
    source = root / "functions" / name
    for relative, text in files.items():
        path = source / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    source.mkdir(parents=True, exist_ok=True)
    return FunctionSpec(
        name=name,
        source=source,
        runtime=runtime,
        architecture=architecture,
        handler=handler,
        layers=layers,
        test_command=test,
        environment=environment,
        timeout_s=timeout_s,
    )


def make_config(root: Path, layers: Iterable[LayerSpec], functions: Iterable[FunctionSpec]) -> Config:
    return Config(root=root, path=root / "layer-ci.yml", layers=tuple(layers), functions=tuple(functions))


def node_runtime() -> str | None:
    """``nodejsNN.x`` for the node on PATH, or None when there is none."""
    node = shutil.which("node")
    if node is None:
        return None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    return f"nodejs{version.strip().lstrip('v').split('.')[0]}.x"


def tree_snapshot(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its size: to show that nothing appeared or changed there."""
    found: dict[str, int] = {}
    for folder, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = os.lstat(path).st_size
    return found
