"""Writers for the GitHub Actions runner contract: outputs, step summary, annotations, groups, masks.

Every value that reaches the runner is escaped the way @actions/core escapes it, so a layer name or a
PR title carrying ``::set-output`` or ``%0A`` can never inject a command, an annotation or an output.
Plain log text (file names, layer reasons, installer and test output) goes through ``PlainLog``, which
fences any line the runner could read as a command between ``::stop-commands::TOKEN`` markers.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

# The runner ends a line at \r\n, \r or \n (.NET ReadLine), then takes it as a command when, after white
# space, it starts with "::" or when it holds "##[" anywhere (the legacy form). "::" anywhere is refused
# too: cheaper to fence a harmless pytest node id than to mirror .NET's idea of white space exactly.
_RISKY = re.compile(r"::|##\[|\r")


def escape_data(value: str) -> str:
    """Escape a workflow command's message (as @actions/core's escapeData)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value (as @actions/core's escapeProperty)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def stop_token(text: str) -> str:
    """A fresh 128-bit token for ``::stop-commands::`` that ``text`` does not contain (in any case)."""
    folded = text.lower()
    while True:
        token = secrets.token_hex(16)
        if token not in folded:  # pragma: no branch - a collision needs 2**-128 luck
            return token


def fence(text: str) -> str:
    """``text`` (whole lines) as the runner should show it: fenced off when any line looks like a command.

    The runner processes no command between ``::stop-commands::TOKEN`` and ``::TOKEN::``; the token is
    fresh and unguessable, so the text cannot end the fence early, and it always ends on its own line.
    """
    if not _RISKY.search(text):
        return text
    if not text.endswith("\n"):
        text += "\n"
    token = stop_token(text)
    return f"::stop-commands::{token}\n{text}::{token}::\n"


class PlainLog(io.TextIOBase):
    """A text stream for plain log lines (``print`` goes here in the Action): each line is fenced if risky.

    Lines are held until they end, so a line printed in pieces is judged whole; ``finish_line`` ends a
    pending piece before a workflow command is written on the same stream.
    """

    def __init__(self, raw: TextIO, *, json_lines: bool = False) -> None:
        super().__init__()
        self._raw = raw
        self._pending = ""
        # JSON output stays JSON: "##[" can only sit inside a string there, where "\u005b" means "[".
        self._json = json_lines

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._raw, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        whole, newline, rest = (self._pending + text).rpartition("\n")
        if newline:
            self._raw.write(self._fenced(whole + newline))
        self._pending = rest
        return len(text)

    def _fenced(self, text: str) -> str:
        if not self._json:
            return fence(text)
        # A JSON line starts with white space then a quote, bracket, brace or value, never "::", and
        # json.dumps escapes \r: only a line that breaks those rules (not JSON after all) is fenced.
        text = text.replace("##[", "##\\u005b")
        if "\r" in text or any(line.lstrip().startswith("::") for line in text.split("\n")):
            return fence(text)
        return text

    def fileno(self) -> int:
        return self._raw.fileno()

    def flush(self) -> None:
        self._raw.flush()

    def finish_line(self) -> None:
        """Write a pending partial line (ended with a newline), so what follows starts a line."""
        if self._pending:
            pending, self._pending = self._pending, ""
            self._raw.write(self._fenced(pending + "\n"))
        self._raw.flush()

    def isatty(self) -> bool:
        return False


class Runner:
    """Writes to the runner: stdout for commands, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files for data."""

    def __init__(self, stdout: TextIO, environ: Mapping[str, str]) -> None:
        self._stdout = stdout
        self.plain = PlainLog(stdout)
        self._output_path = environ.get("GITHUB_OUTPUT")
        self._summary_path = environ.get("GITHUB_STEP_SUMMARY")

    def log(self, text: str) -> None:
        """Print untrusted text (one or many lines) as plain log lines that can never act as commands."""
        self.plain.write(text + "\n")
        self.plain.flush()

    def command(self, name: str, message: str, **properties: str | int) -> None:
        self.plain.finish_line()
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
            self.plain.finish_line()
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
