"""How the GitHub Actions runner reads a step's log: which lines it takes as workflow commands.

A port of the parsing rules of actions/runner (``ActionCommand.TryParseV2``/``TryParse`` and
``ActionCommandManager.TryProcessCommand``): a line is a command when, after leading whitespace, it starts
with ``::name ...::``, or when ``##[name ...]`` appears anywhere in it (the legacy form); names are
case-insensitive and only registered ones count; ``::stop-commands::TOKEN`` ignores every command until
one named TOKEN. Lines end at ``\\r\\n``, ``\\r`` or ``\\n`` (.NET ``ReadLine``), and the runner reads a
container's stdout and stderr alike. Tests feed an Action's output through it to see what the runner
would have done with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

REGISTERED = frozenset(
    {
        "add-mask", "add-matcher", "add-path", "debug", "echo", "endgroup", "error", "group", "notice",
        "remove-matcher", "save-state", "set-env", "set-output", "stop-commands", "warning",
    }
)  # fmt: skip
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Command:
    name: str
    properties: dict[str, str]
    data: str
    line: str


@dataclass
class RunnerLog:
    """Every command the runner would have processed, in order (stop and resume markers included)."""

    commands: list[Command] = field(default_factory=list)
    stopped_by: str | None = None  # the token that would resume processing, while stopped

    def feed(self, text: str) -> RunnerLog:
        for line in _LINE_BREAK.split(text):
            self._line(line)
        return self

    def named(self, name: str) -> list[Command]:
        return [command for command in self.commands if command.name == name]

    def _line(self, line: str) -> None:
        registered = REGISTERED | ({self.stopped_by} if self.stopped_by else set())
        command = _parse_v2(line, registered) or _parse_v1(line, registered)
        if command is None:
            return
        if self.stopped_by is not None:
            if command.name == self.stopped_by:
                self.commands.append(command)
                self.stopped_by = None
            return
        if command.name == "stop-commands":
            self.stopped_by = command.data.lower()
        self.commands.append(command)


def _unescape(text: str, mapping: dict[str, str]) -> str:
    for escaped, plain in mapping.items():
        text = text.replace(escaped, plain)
    return text


_DATA = {"%0D": "\r", "%0A": "\n", "%25": "%"}
_PROPERTY = {"%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ",", "%25": "%"}
_LEGACY = {"%3B": ";", "%0D": "\r", "%0A": "\n", "%5D": "]", "%25": "%"}


def _parse_v2(message: str, registered: frozenset[str] | set[str]) -> Command | None:
    message = message.lstrip()  # .NET TrimStart: any Unicode white space
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    name, _, props = info.partition(" ")
    if name.lower() not in registered:
        return None
    properties: dict[str, str] = {}
    for item in props.strip().split(","):
        key, sep, value = item.partition("=")
        if sep and key and value:
            properties[key] = _unescape(value, _PROPERTY)
    return Command(name.lower(), properties, _unescape(message[end + 2 :], _DATA), message)


def _parse_v1(message: str, registered: frozenset[str] | set[str]) -> Command | None:
    start = message.find("##[")
    if start < 0:
        return None
    end = message.find("]", start)
    if end < 0:
        return None
    info = message[start + 3 : end]
    name, _, props = info.partition(" ")
    if name.lower() not in registered:
        return None
    properties: dict[str, str] = {}
    for item in props.split(";"):
        key, sep, value = item.partition("=")
        if sep and key and value:
            properties[key] = _unescape(value, _LEGACY)
    return Command(name.lower(), properties, _unescape(message[end + 1 :], _LEGACY), message)
