"""YAML (and JSON) loading that keeps the line of every key and item, so any error can name file:line."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import Resolver

from layer_ci.errors import ConfigError, Location

PathPart = str | int
FieldPath = tuple[PathPart, ...]

# A composed document can expand aliases into far more values than its text suggests ("billion
# laughs"); a repository config never needs more than this many.
MAX_VALUES = 1_000_000
# Lists and mappings nested deeper than this are refused before building them would exhaust Python's
# stack (a config nests about 5 levels; SAM templates about 10).
MAX_DEPTH = 100
_SHOWN_VALUE_CHARS = 60

STR_TAG = "tag:yaml.org,2002:str"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
MERGE_TAG = "tag:yaml.org,2002:merge"
# Plain scalars the YAML 1.2 core schema resolves; explicit tags beyond these (!!python/..., !!binary)
# have no place in a config and are refused.
SCALAR_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp"))

# CloudFormation's short-form intrinsic functions; each becomes its long JSON form ({"Fn::Sub": ...}).
_CFN_FUNCTIONS = (
    "And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If", "ImportValue", "Join",
    "Length", "Not", "Or", "Select", "Split", "Sub", "ToJsonString", "Transform",
)  # fmt: skip
CFN_TAGS: dict[str, str] = {
    "!Ref": "Ref",
    "!Condition": "Condition",
    **{f"!{name}": f"Fn::{name}" for name in _CFN_FUNCTIONS},
}


def _short(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


class YamlMap(dict[str, Any]):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}


class YamlList(list[Any]):
    """A sequence that remembers its own line and the line of each item (1-based)."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


class _FastResolver(Resolver):
    """YAML 1.2 core-schema resolver without per-scalar version lookups (the costly part of loading)."""

    def __init__(self, version: Any = None, loadumper: Any = None, loader: Any = None) -> None:
        super().__init__(loadumper if loadumper is not None else loader)

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)  # the pure-Python parser asks; the base class would answer None


def _yaml(*, pure: bool) -> YAML:
    # typ="safe" uses libyaml through ruamel.yaml.clib when installed: about 15x faster than the
    # round-trip loader, which matters because `plan` loads the config on every run.
    yaml = YAML(typ="safe", pure=pure)
    yaml.Resolver = _FastResolver
    return yaml


# libyaml's composer recurses in C once per nesting level and overflows the C stack (the process dies with
# SIGSEGV) somewhere past ~30,000 levels, and both parsers take quadratic time in the nesting depth. A text
# whose nesting bound passes this is refused before any parser sees it; below it, deeper than MAX_DEPTH
# is refused by the builder (or by the pure-Python parser's RecursionError).
_PARSER_SAFE_DEPTH = 1_000
_NESTING_TOKENS = re.compile(
    r"""
    (?P<quoted>(?:(?<=[\[{,:\s-])|^)(?:"(?:\\.|[^"\\])*"?|'(?:''|[^'])*'?))  # a quoted scalar
    |(?P<comment>(?:(?<=\s)|^)\#[^\n]*)
    |(?P<open>[\[{])
    |(?P<close>[\]}])
    """,
    re.MULTILINE | re.VERBOSE,
)
_BLOCK_INDENT = re.compile(r"^(?P<indent>[ \t]*)(?P<indicators>(?:[-?:][ \t]+)*)", re.MULTILINE)


def nesting_bound(text: str) -> tuple[int, int]:
    """An upper bound of how deep ``text`` nests (flow brackets plus block indentation), and its line.

    Brackets inside quoted scalars and comments do not count; a block level needs at least one more
    column of indentation or one more ``- `` indicator, so twice the widest indentation bounds it.
    """
    depth = deepest = deepest_at = 0
    for match in _NESTING_TOKENS.finditer(text):
        if match.lastgroup == "open":
            depth += 1
            if depth > deepest:
                deepest, deepest_at = depth, match.start()
        elif match.lastgroup == "close":
            depth = max(depth - 1, 0)
    block = block_at = 0
    for match in _BLOCK_INDENT.finditer(text):
        bound = 2 * len(match["indent"]) + match["indicators"].count(" ") + match["indicators"].count("\t")
        if bound > block:
            block, block_at = bound, match.start()
    at = deepest_at if deepest >= block else block_at
    return deepest + block, text.count("\n", 0, at) + 1


def _compose(text: str) -> tuple[YAML, Node | None]:
    try:
        yaml = _yaml(pure=False)
        return yaml, yaml.compose(text)
    except YAMLError:
        # libyaml speaks YAML 1.1 and rejects some valid 1.2 (e.g. `[arn:aws:...]` or
        # `{Type: AWS::S3::Bucket}` in flow collections); the pure-Python parser decides, and words the error.
        yaml = _yaml(pure=True)
        return yaml, yaml.compose(text)


def format_field(path: Sequence[PathPart]) -> str:
    """``("layers", "common", "regions", 0)`` -> ``layers.common.regions[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part).isprintable():  # a key with a newline must not break the one-line message
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


@dataclass(frozen=True)
class Document:
    """One loaded file: the data, the path to show in messages, and line lookups into it."""

    display: str
    data: Any

    def line_of(self, path: Sequence[PathPart]) -> int:
        """The line of the deepest node along ``path`` that exists (a key's line for mapping entries)."""
        node = self.data
        line = node.line if isinstance(node, YamlMap | YamlList) else 1
        for part in path:
            if isinstance(node, YamlMap) and isinstance(part, str) and part in node:
                line = node.key_lines.get(part, line)
                node = node[part]
            elif isinstance(node, YamlList) and isinstance(part, int) and 0 <= part < len(node):
                line = node.item_lines[part]
                node = node[part]
            else:
                break
        return line

    def location(self, path: Sequence[PathPart] = ()) -> Location:
        return Location(self.display, self.line_of(path))

    def error(self, path: Sequence[PathPart], problem: str, fix: str) -> ConfigError:
        return ConfigError(self.location(path), format_field(path), problem, fix)


class _Builder:
    """Turns composed YAML nodes into YamlMap/YamlList/scalars, checking duplicates on the way."""

    def __init__(self, yaml: YAML, display: str, cfn: bool) -> None:
        self.display = display
        self.cfn = cfn
        yaml.resolver  # noqa: B018 - creates the resolver the scalar constructor consults
        self.scalars: SafeConstructor = yaml.constructor
        self.values = 0
        self.done: dict[int, tuple[Any, int]] = {}
        self.active: set[int] = set()
        self.depth = 0
        # libyaml refuses lone surrogate escapes; only texts the pure-Python parser read can hold them.
        self.pure = bool(getattr(yaml, "pure", False))

    def fail(self, node: Node, path: FieldPath, problem: str, fix: str) -> ConfigError:
        return ConfigError(Location(self.display, node.start_mark.line + 1), format_field(path), problem, fix)

    def build(self, node: Node, path: FieldPath) -> Any:
        tag = node.tag
        if type(node) is ScalarNode and tag == STR_TAG and not self.pure:  # the common case, kept cheap
            self.values += 1
            return node.value
        known = self.done.get(id(node))
        if known is not None:  # an alias: the same value again, but it counts as often as it is used
            value, size = known
            self.count(node, path, size)
            return value
        self.count(node, path, 1)
        if isinstance(node, ScalarNode):
            return (
                self.intrinsic(node, tag, path)
                if self.cfn and tag in CFN_TAGS
                else self.scalar(node, tag, path)
            )
        if id(node) in self.active:
            raise self.fail(
                node, path, "an alias refers to the node that contains it", "remove the recursive alias"
            )
        if self.depth >= MAX_DEPTH:
            raise self.fail(
                node, path, f"lists and mappings nest more than {MAX_DEPTH} levels deep", "flatten the value"
            )
        before = self.values
        self.active.add(id(node))
        self.depth += 1
        try:
            if self.cfn and tag in CFN_TAGS:
                value = self.intrinsic(node, tag, path)
            elif isinstance(node, SequenceNode) and tag == SEQ_TAG:
                value = self.sequence(node, path)
            elif isinstance(node, MappingNode) and tag == MAP_TAG:
                value = self.mapping(node, path)
            else:
                raise self.fail(node, path, f"unsupported YAML tag {_short(str(tag))}", "remove the tag")
        finally:
            self.active.discard(id(node))
            self.depth -= 1
        self.done[id(node)] = (value, self.values - before + 1)
        return value

    def count(self, node: Node, path: FieldPath, size: int) -> None:
        self.values += size
        if self.values > MAX_VALUES:
            raise self.fail(
                node, path, f"the document expands to over {MAX_VALUES:,} values", "use fewer aliases"
            )

    def scalar(self, node: ScalarNode, tag: str | None, path: FieldPath) -> Any:
        if tag == STR_TAG:
            if self.pure and node.style == '"' and _SURROGATE.search(node.value):
                return self.paired_surrogates(node, path)
            return node.value
        if tag not in SCALAR_TAGS:
            raise self.fail(node, path, f"unsupported YAML tag {_short(str(tag))}", "remove the tag")
        try:
            return self.scalars.construct_object(node, deep=True)
        except (YAMLError, ValueError) as exc:  # ValueError: an integer past Python's 4,300-digit limit
            shown = _shorten(str(node.value))
            problem = f"cannot read the value {shown!r} ({' '.join(_shorten(str(exc), 200).split())})"
            raise self.fail(node, path, problem, "quote it, or write a smaller number") from exc

    def paired_surrogates(self, node: ScalarNode, path: FieldPath) -> str:
        """JSON-style ``\\ud83d\\ude00`` escape pairs joined into their character; a lone one is refused.

        A lone surrogate makes a string that no file, log or API request can encode as UTF-8.
        """
        value: str = node.value
        joined = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        if joined.count("\ufffd") != value.count("\ufffd"):
            raise self.fail(
                node, path, "the text holds a lone surrogate escape (\\ud800-\\udfff)", "remove the escape"
            )
        return joined

    def sequence(self, node: SequenceNode, path: FieldPath) -> YamlList:
        result = YamlList(node.start_mark.line + 1)
        for index, item in enumerate(node.value):
            result.append(self.build(item, (*path, index)))
            result.item_lines.append(item.start_mark.line + 1)
        return result

    def mapping(self, node: MappingNode, path: FieldPath) -> YamlMap:
        result = YamlMap(node.start_mark.line + 1)
        merged: list[YamlMap] = []
        for key_node, value_node in node.value:
            key_tag = key_node.tag
            if key_tag == MERGE_TAG:
                merged.extend(self.merge_sources(value_node, path))
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, path, "a key is a list or mapping", "use plain text keys")
            key = str(self.scalar(key_node, key_tag, path))
            line = key_node.start_mark.line + 1
            if key in result:
                first = result.key_lines[key]
                raise ConfigError(
                    Location(self.display, line),
                    format_field((*path, key)),
                    f"duplicate key '{key}' (first defined at line {first})",
                    "remove or rename one of them",
                )
            result[key] = self.build(value_node, (*path, key))
            result.key_lines[key] = line
        for source in merged:  # YAML merge keys: explicit keys win, earlier merge sources win
            for key, value in source.items():
                if key not in result:
                    result[key] = value
                    result.key_lines[key] = source.key_lines.get(key, result.line)
        return result

    def merge_sources(self, node: Node, path: FieldPath) -> list[YamlMap]:
        value = self.build(node, path)
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, YamlMap) for source in sources):
            raise self.fail(
                node, path, "'<<' must merge a mapping or a list of mappings", "fix the merge key"
            )
        return list(sources)

    def intrinsic(self, node: Node, tag: str | None, path: FieldPath) -> YamlMap:
        name = CFN_TAGS[str(tag)]
        if isinstance(node, ScalarNode):
            inner: Any = node.value
            if name == "Fn::GetAtt":  # !GetAtt Resource.Attribute is short for [Resource, Attribute]
                inner = YamlList(node.start_mark.line + 1)
                for part in str(node.value).split(".", 1):
                    inner.append(part)
                    inner.item_lines.append(node.start_mark.line + 1)
        elif isinstance(node, SequenceNode):
            inner = self.sequence(node, (*path, name))
        elif isinstance(node, MappingNode):
            inner = self.mapping(node, (*path, name))
        else:
            raise self.fail(node, path, f"cannot read {tag}", "write it in its long form")
        result = YamlMap(node.start_mark.line + 1)
        result[name] = inner
        result.key_lines[name] = node.start_mark.line + 1
        return result


def _shorten(text: str, limit: int = _SHOWN_VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


_SURROGATE = re.compile("[\ud800-\udfff]")


def _yaml_error(exc: YAMLError, display: str, text: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 0
    position = getattr(exc, "position", None)  # the reader's errors (NUL, control characters) carry no mark
    if not line and isinstance(position, int) and 0 <= position <= len(text):
        line = text.count("\n", 0, position) + 1
    problem = getattr(exc, "problem", None) if isinstance(exc, MarkedYAMLError) else None
    problem = " ".join(str(problem or exc).split())
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark.line + 1 != line:
        problem += f" ({context} that starts at line {context_mark.line + 1})"
    fix = "fix the YAML syntax"
    lines = text.splitlines()
    if 0 < line <= len(lines) and "\t" in lines[line - 1]:
        fix = "indent with spaces, not tabs"
    elif "another document" in problem:
        fix = "keep a single YAML document (remove the '---' separator)"
    return ConfigError(Location(display, line), "syntax", problem, fix)


def parse_text(text: str, display: str, *, cfn: bool = False) -> Document:
    """Parse one YAML document; ``cfn`` turns CloudFormation short tags into their long forms."""
    if len(text) > _PARSER_SAFE_DEPTH and nesting_bound(text)[0] > _PARSER_SAFE_DEPTH:
        raise _too_deep(display, text)
    try:
        yaml, root = _compose(text)
    except YAMLError as exc:
        raise _yaml_error(exc, display, text) from exc
    except RecursionError:
        raise _too_deep(display, text) from None
    if root is None:
        return Document(display, None)
    return Document(display, _Builder(yaml, display, cfn).build(root, ()))


def _too_deep(display: str, text: str) -> ConfigError:
    return ConfigError(
        Location(display, nesting_bound(text)[1]),
        "syntax",
        f"lists and mappings nest more than {MAX_DEPTH} levels deep",
        "flatten the value",
    )


def _json_document(text: str, display: str) -> Document:
    def pairs(items: list[tuple[str, Any]]) -> YamlMap:
        result = YamlMap(0)
        for key, value in items:
            if key in result:
                raise ConfigError(Location(display), key, f"duplicate key '{key}'", "remove one of them")
            result[key] = value
            result.key_lines[key] = 0
        return result

    try:
        return Document(display, json.loads(text, object_pairs_hook=pairs))
    except RecursionError:
        raise _too_deep(display, text) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(Location(display, exc.lineno), "syntax", exc.msg, "fix the JSON syntax") from exc


def read_document(
    path: Path, display: str, *, cfn: bool = False, what: str = "file", missing_fix: str = "fix the path"
) -> Document:
    """Read and parse a YAML or JSON file, turning every failure into a one-line ConfigError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(Location(display), what, "file not found", missing_fix) from exc
    except IsADirectoryError as exc:
        raise ConfigError(Location(display), what, "is a folder, not a file", "name the file itself") from exc
    except OSError as exc:
        raise ConfigError(
            Location(display), what, f"cannot be read ({exc.strerror})", "check its permissions"
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            Location(display, line), what, "is not valid UTF-8", "save the file as UTF-8"
        ) from exc
    if path.suffix.lower() == ".json":
        # JSON is YAML 1.2, and the YAML reader keeps lines; fall back for JSON it rejects (tab indents).
        try:
            return parse_text(text, display, cfn=cfn)
        except ConfigError:
            return _json_document(text, display)
    return parse_text(text, display, cfn=cfn)
