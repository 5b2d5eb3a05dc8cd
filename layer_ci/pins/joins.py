"""Layer version ARNs that a CloudFormation template assembles with Fn::Join (JSON or YAML, either form)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from layer_ci.lambda_spec.arn import LAYER_VERSION_ARN_RE, LayerVersionArn, arn_from_match

log = logging.getLogger(__name__)

JOIN_REASON = "built by Fn::Join"
# A template nests about 10 levels; anything far deeper is not a template worth walking.
_MAX_DEPTH = 200
_MAX_PARTS = 1000
# Aliases can make a small text stand for a huge tree: visit each node once and evaluate a bounded number.
_BUDGET = 100_000
_UNKNOWN = "${?}"  # a part only known at deploy time (!GetAtt, !ImportValue, ...): a placeholder


@dataclass(frozen=True)
class JoinedArn:
    """One layer version ARN built by a Fn::Join: the ARN and the Join's span in the text (0-based)."""

    arn: LayerVersionArn
    start: int
    end: int
    line: int  # 1-based
    column: int  # 1-based


def joined_arns(text: str) -> list[JoinedArn]:
    """Every layer version ARN that a Fn::Join / !Join in ``text`` evaluates to, outermost Joins only.

    Parts that are `Ref`s become `${Name}` placeholders (so `!Ref AWS::Region` reads as a region
    placeholder); a version that comes from a Ref or a parameter is no pin and is not reported. Text that
    is neither YAML nor JSON yields nothing.
    """
    root = _compose(text)
    if root is None:
        return []
    found: list[JoinedArn] = []
    budget = [_BUDGET]
    for node in _joins(root, 0, set()):
        value = _evaluate(node, 0, budget)
        if value is None:
            continue
        for match in LAYER_VERSION_ARN_RE.finditer(value):
            start, end = node.start_mark, node.end_mark
            arn = arn_from_match(match)
            found.append(JoinedArn(arn, start.index, end.index, start.line + 1, start.column + 1))
    return found


def _compose(text: str) -> Node | None:
    # libyaml first (fast); the pure parser reads what libyaml refuses, such as `!Ref AWS::Region` in a
    # flow sequence, which CloudFormation's short form writes all the time.
    for pure in (False, True):
        try:
            node = YAML(typ="safe", pure=pure).compose(text)
        except (YAMLError, ValueError, RecursionError) as exc:
            log.debug("not a template (pure=%s): %s", pure, exc)
            continue
        return node if isinstance(node, Node) else None
    return None


def _join_operands(node: Node) -> Node | None:
    """The operand of a Join node (`!Join [...]` or `{"Fn::Join": [...]}`), else None."""
    if node.tag == "!Join" and isinstance(node, SequenceNode):
        return node
    if isinstance(node, MappingNode) and len(node.value) == 1:
        key, value = node.value[0]
        if isinstance(key, ScalarNode) and key.value == "Fn::Join":
            return value  # type: ignore[no-any-return]
    return None


def _joins(node: Node, depth: int, seen: set[int]) -> Iterator[Node]:
    if depth > _MAX_DEPTH or id(node) in seen:
        return
    seen.add(id(node))
    if _join_operands(node) is not None:
        yield node
        return
    if isinstance(node, SequenceNode):
        for item in node.value:
            yield from _joins(item, depth + 1, seen)
    elif isinstance(node, MappingNode):
        for _key, value in node.value:
            yield from _joins(value, depth + 1, seen)


def _evaluate(node: Node, depth: int, budget: list[int]) -> str | None:
    """The string a part stands for, with placeholders for what only the deploy knows."""
    budget[0] -= 1
    if depth > _MAX_DEPTH or budget[0] < 0:
        return None
    operands = _join_operands(node)
    if operands is not None:
        if not isinstance(operands, SequenceNode) or len(operands.value) != 2:
            return None
        delimiter, parts = operands.value
        if not isinstance(delimiter, ScalarNode) or not isinstance(parts, SequenceNode):
            return None
        if len(parts.value) > _MAX_PARTS:
            return None
        values = [_evaluate(part, depth + 1, budget) for part in parts.value]
        if any(value is None for value in values):
            return None
        return str(delimiter.value).join(value for value in values if value is not None)
    if isinstance(node, ScalarNode):
        if node.tag == "!Ref":
            return "${" + str(node.value) + "}"
        if node.tag == "!Sub":
            return str(node.value)
        if (node.tag or "").startswith("!"):
            return _UNKNOWN
        return str(node.value)
    if isinstance(node, MappingNode) and len(node.value) == 1:
        key, value = node.value[0]
        if isinstance(key, ScalarNode) and key.value == "Ref" and isinstance(value, ScalarNode):
            return "${" + str(value.value) + "}"
        if isinstance(key, ScalarNode) and key.value == "Fn::Sub" and isinstance(value, ScalarNode):
            return str(value.value)
    return _UNKNOWN
