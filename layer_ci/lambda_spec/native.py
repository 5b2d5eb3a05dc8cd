"""Native code rules shared by layer builds and the test engine's preflight: OS, machine, Python ABI.

One rule set, two callers: ``layer-ci build`` refuses a layer whose compiled files cannot load on its
compatible architectures/runtimes, and ``layer-ci test`` refuses the same files for the function at hand.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from layer_ci.errors import BuildError

BinaryFormat = Literal["elf", "mach-o", "pe"]
# ELF e_machine values (System V ABI): what each Lambda architecture executes.
ELF_MACHINES: dict[int, str] = {3: "x86 (32-bit)", 40: "arm (32-bit)", 62: "x86_64", 183: "aarch64"}
ARCHITECTURE_MACHINE: dict[str, int] = {"x86_64": 62, "arm64": 183}
# Files the runtime loads as native code: shared objects anywhere, anything on PATH or LD_LIBRARY_PATH.
_SHARED_OBJECT_RE = re.compile(r"\.so(\.[0-9]+)*$")
_NATIVE_DIRS = ("bin/", "lib/")
_CPYTHON_TAG_RE = re.compile(r"\.cpython-(\d)(\d+)[a-z]*-([^/]*)\.so$")
_OTHER_IMPL_RE = re.compile(r"\.(pypy\d*|graalpy\d*)-[^/]*\.so$")
_SITE_PACKAGES_RE = re.compile(r"^python/lib/python(\d+)\.(\d+)/site-packages/")
_MACH_O = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
SNIFF_BYTES = 20


def sniff_binary(head: bytes) -> tuple[BinaryFormat | None, int | None]:
    """Recognise native code by its first bytes: ELF (with e_machine), Mach-O or a Windows PE.

    Reading the 20-byte ELF header while the file streams past avoids reopening thousands of files;
    ``e_machine`` sits at offset 18 in both 32- and 64-bit headers, in the byte order EI_DATA names.
    """
    if head[:4] == b"\x7fELF" and len(head) >= SNIFF_BYTES:
        byteorder: Literal["little", "big"] = "big" if head[5] == 2 else "little"
        return "elf", int.from_bytes(head[18:20], byteorder)
    if head[:4] in _MACH_O:
        return "mach-o", None
    if head[:2] == b"MZ":
        return "pe", None
    return None, None


def native_problem(
    path: str,
    binary: BinaryFormat | None,
    elf_machine: int | None,
    *,
    architectures: Collection[str],
    pythons: Collection[tuple[int, int]],
    on_architecture: str,
    on_python: str = "",
) -> str | None:
    """Why ``path`` (layer-relative) cannot load for ``architectures`` / CPython ``pythons``, or None.

    ``pythons`` empty means "not a Python target" (ABI tags are not checked). ``on_architecture`` and
    ``on_python`` say who asked, for the message: "the function runs on arm64", "the function runs
    python3.12", "layer tools is compatible only with x86_64".
    """
    shared_object = _SHARED_OBJECT_RE.search(path) is not None
    if shared_object or path.startswith(_NATIVE_DIRS):
        wanted = {ARCHITECTURE_MACHINE[a] for a in architectures if a in ARCHITECTURE_MACHINE}
        if binary == "elf" and wanted and elf_machine not in wanted:
            found = ELF_MACHINES.get(elf_machine or -1, f"e_machine {elf_machine}")
            wanted_names = " or ".join(architectures)
            return f"is {found} machine code but {on_architecture}; rebuild it for {wanted_names}"
        if binary in ("mach-o", "pe"):
            system = "macOS" if binary == "mach-o" else "Windows"
            return f"is a {system} binary; Lambda runs Linux: rebuild it on (or for) Linux"
    if pythons and path.endswith(".so"):
        tag = _CPYTHON_TAG_RE.search(path)
        if tag is not None:
            built_for = (int(tag[1]), int(tag[2]))
            site = _SITE_PACKAGES_RE.match(path)
            if site is not None and (int(site[1]), int(site[2])) not in pythons:
                return None  # a site-packages folder none of these runtimes ever searches
            allowed = {(int(site[1]), int(site[2]))} if site is not None else set(pythons)
            if built_for not in allowed:
                names = ", ".join(f"python{major}.{minor}" for major, minor in sorted(allowed))
                return (
                    f"is a CPython {built_for[0]}.{built_for[1]} extension but {on_python}; "
                    f"rebuild it for {names}"
                )
            if "linux" not in tag[3]:
                return f"is built for {tag[3]}, not Linux; rebuild it for Linux"
        elif _OTHER_IMPL_RE.search(path):
            return "is an extension for another Python implementation; Lambda runs CPython"
    return None


@dataclass(frozen=True)
class NativeFile:
    """A compiled file (or a file named like a shared object) found in a staged layer."""

    path: str
    binary: BinaryFormat | None
    elf_machine: int | None


def loads_natively(path: str) -> bool:
    """Whether the rules look at ``path`` at all: shared objects anywhere, anything under bin/ or lib/."""
    return path.startswith(_NATIVE_DIRS) or (".so" in path and _SHARED_OBJECT_RE.search(path) is not None)


def native_files(root: Path) -> Iterator[NativeFile]:
    """The files under ``root`` the rules apply to (see :func:`loads_natively`), sniffed; links skipped.

    Only those are opened: a layer of 20,000 pure-Python files costs a walk, not 20,000 reads.
    """
    top = os.fspath(root)
    for folder, dirnames, filenames in os.walk(top):
        dirnames.sort()
        prefix = os.path.relpath(folder, top).replace(os.sep, "/") + "/"
        prefix = "" if prefix == "./" else prefix
        for filename in sorted(filenames):
            relative = prefix + filename
            if not loads_natively(relative):
                continue
            path = os.path.join(folder, filename)
            if os.path.islink(path):
                continue
            with open(path, "rb") as handle:
                binary, machine = sniff_binary(handle.read(SNIFF_BYTES))
            yield NativeFile(relative, binary, machine)


def python_versions_of(runtimes: Collection[str]) -> tuple[tuple[int, int], ...]:
    """CPython (major, minor) of every ``pythonX.Y`` runtime listed."""
    found = {
        (int(m[1]), int(m[2])) for runtime in runtimes if (m := re.fullmatch(r"python(\d+)\.(\d+)", runtime))
    }
    return tuple(sorted(found))


def require_loadable(
    root: Path, layer: str, architectures: Collection[str], runtimes: Collection[str]
) -> None:
    """Refuse a staged layer holding compiled files its compatible architectures/runtimes cannot load."""
    pythons = python_versions_of(runtimes)
    listed = ", ".join(architectures)
    python_names = ", ".join(f"python{major}.{minor}" for major, minor in pythons)
    problems = [
        f"{found.path} {problem}"
        for found in native_files(root)
        if (
            problem := native_problem(
                found.path,
                found.binary,
                found.elf_machine,
                architectures=architectures,
                pythons=pythons,
                on_architecture=f"layer {layer} is compatible only with {listed}",
                on_python=f"layer {layer} is compatible only with {python_names}",
            )
        )
    ]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BuildError(
            f"layer {layer}: {problems[0]}{more}, or correct the layer's compatible_architectures "
            "and compatible_runtimes"
        )
