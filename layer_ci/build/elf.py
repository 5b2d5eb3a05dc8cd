"""Find compiled (ELF) files in a staged layer and check they were built for the layer's architecture."""

from __future__ import annotations

import os
from pathlib import Path

from layer_ci.errors import BuildError
from layer_ci.model import Architecture

ELF_MAGIC = b"\x7fELF"
# e_machine names as pyelftools reports them, per Lambda architecture.
MACHINE_OF_ARCHITECTURE: dict[str, str] = {"x86_64": "EM_X86_64", "arm64": "EM_AARCH64"}
ARCHITECTURE_OF_MACHINE = {machine: arch for arch, machine in MACHINE_OF_ARCHITECTURE.items()}


def elf_machines(root: Path) -> dict[str, str]:
    """``{relative path: e_machine}`` for every ELF file under ``root`` (symlinks not followed)."""
    machines: dict[str, str] = {}
    for folder, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            path = Path(folder, filename)
            if path.is_symlink():
                continue
            with path.open("rb") as handle:
                if handle.read(4) != ELF_MAGIC:
                    continue
                handle.seek(0)
                # Imported here, at the first compiled file: pyelftools costs ~50 modules to load, and
                # most layers (pure Python, scripts) never need it.
                from elftools.common.exceptions import ELFError
                from elftools.elf.elffile import ELFFile

                try:
                    machine = str(ELFFile(handle).header["e_machine"])
                except ELFError:
                    continue  # merely starts like ELF (truncated, odd); the loader would reject it too
            machines[path.relative_to(root).as_posix()] = machine
    return machines


def require_architecture(root: Path, architecture: Architecture, layer: str) -> None:
    """Refuse compiled files for another machine: they would fail to load on the layer's architecture."""
    wanted = MACHINE_OF_ARCHITECTURE[architecture]
    wrong = {path: machine for path, machine in elf_machines(root).items() if machine != wanted}
    if wrong:
        path, machine = sorted(wrong.items())[0]
        found = ARCHITECTURE_OF_MACHINE.get(machine, machine)
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise BuildError(
            f"layer {layer}: {path} is compiled for {found}, not {architecture}{more}; build it for "
            f"{architecture} (binary wheels for the target, a cross-compiler) or fix compatible_architectures"
        )
