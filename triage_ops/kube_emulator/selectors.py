"""Label and field selectors as the API server parses them (`?labelSelector=`,
`?fieldSelector=`): enough of the grammar for what kubectl and triage-ops send."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Matcher = Callable[[Mapping[str, Any]], bool]

_SET_EXPR = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_EXPR = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./:-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)([\w./-]+)\s*$")


class SelectorError(ValueError):
    """The selector does not parse: the server answers 400 BadRequest."""


def _split(selector: str) -> list[str]:
    """Commas separate requirements, except inside `in (a,b)`."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _requirement(part: str) -> Callable[[Mapping[str, str]], bool]:
    if m := _SET_EXPR.match(part):
        key, wanted = m.group(1), {v.strip() for v in m.group(3).split(",")}
        negate = m.group(2) == "notin"
        return lambda labels: (labels.get(key) in wanted) != negate
    if m := _EQ_EXPR.match(part):
        key, op, value = m.groups()
        different = op == "!="
        return lambda labels: (labels.get(key) == value) != different
    if m := _EXISTS.match(part):
        absent, name = m.group(1) == "!", m.group(2)
        return lambda labels: (name in labels) != absent
    raise SelectorError(f"unable to parse requirement: {part!r}")


def label_matcher(selector: str | None) -> Callable[[Mapping[str, str]], bool]:
    """A predicate over an object's labels."""
    tests = [_requirement(part) for part in _split(selector or "")]
    return lambda labels: all(t(labels) for t in tests)


def match_labels(selector: Mapping[str, Any]) -> Callable[[Mapping[str, str]], bool]:
    """A LabelSelector object (`matchLabels` + `matchExpressions`) as a predicate."""
    wanted = dict(selector.get("matchLabels") or {})
    exprs = list(selector.get("matchExpressions") or [])

    def test(labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in wanted.items()):
            return False
        for e in exprs:
            key, op, values = e["key"], e["operator"], set(e.get("values") or [])
            if (
                (op == "In" and labels.get(key) not in values)
                or (op == "NotIn" and labels.get(key) in values)
                or (op == "Exists" and key not in labels)
                or (op == "DoesNotExist" and key in labels)
            ):
                return False
        return True

    return test


def field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_requirement(part: str) -> Matcher:
    m = _EQ_EXPR.match(part)
    if not m:
        raise SelectorError(f"invalid field selector: {part!r}")
    path, op, value = m.groups()
    different = op == "!="
    return lambda obj: (field_value(obj, path) == value) != different


def field_matcher(selector: str | None) -> Matcher:
    """`involvedObject.name=x,type!=Normal`: only = == != (all the API server offers)."""
    tests = [_field_requirement(part) for part in _split(selector or "")]
    return lambda obj: all(t(obj) for t in tests)
