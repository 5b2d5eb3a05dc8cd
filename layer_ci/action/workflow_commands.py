"""Writers for the GitHub Actions runner contract: outputs, step summary, annotations, groups, masks.

Every value that reaches the runner is escaped the way @actions/core escapes it, so a layer name or a
PR title carrying ``::set-output`` or ``%0A`` can never inject a command, an annotation or an output.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def escape_data(value: str) -> str:
    """Escape a workflow command's message (as @actions/core's escapeData)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value (as @actions/core's escapeProperty)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


class Runner:
    """Writes to the runner: stdout for commands, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files for data."""

    def __init__(self, stdout: TextIO, environ: Mapping[str, str]) -> None:
        self._stdout = stdout
        self._output_path = environ.get("GITHUB_OUTPUT")
        self._summary_path = environ.get("GITHUB_STEP_SUMMARY")

    def command(self, name: str, message: str, **properties: str | int) -> None:
        props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items() if value)
        head = f"::{name} {props}" if props else f"::{name}"
        self._stdout.write(f"{head}::{escape_data(message)}\n")
        self._stdout.flush()

    def error(self, message: str, *, file: str = "", line: int = 0, title: str = "") -> None:
        self.command("error", message, file=file, line=line, title=title)

    def warning(self, message: str, *, file: str = "", line: int = 0, title: str = "") -> None:
        self.command("warning", message, file=file, line=line, title=title)

    def notice(self, message: str) -> None:
        self.command("notice", message)

    def mask(self, secret: str) -> None:
        # A multi-line secret must be masked line by line, or its later lines leak.
        for line in secret.splitlines():
            if line.strip():
                self.command("add-mask", line)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        self.command("group", title)
        try:
            yield
        finally:
            self._stdout.write("::endgroup::\n")
            self._stdout.flush()

    def set_output(self, name: str, value: str) -> None:
        """Append ``name`` to GITHUB_OUTPUT with a random heredoc delimiter (multi-line safe)."""
        if not self._output_path:
            return
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter in value or delimiter in name:  # pragma: no cover - 128 random bits
            raise ValueError("output collides with its delimiter")
        with Path(self._output_path).open("a", encoding="utf-8") as handle:
            handle.write(f"{name}<<{delimiter}{os.linesep}{value}{os.linesep}{delimiter}{os.linesep}")

    def add_summary(self, markdown: str) -> None:
        if not self._summary_path:
            return
        with Path(self._summary_path).open("a", encoding="utf-8") as handle:
            handle.write(markdown.rstrip("\n") + "\n")


def parse_output_file(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT file back the way the runner does (used by tests and the two-stage flow)."""
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            index += 1
            while lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            outputs[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        index += 1
    return outputs
