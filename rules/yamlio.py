"""YAML as YAML 1.2 reads it, with the line of every field.

PyYAML follows YAML 1.1, where ``NO`` (Norway), ``yes`` and ``off`` are booleans; a
call listing ``countries: [NO, CH]`` must not turn Norway into ``False``. Only
``true``/``false`` are booleans here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from rules.errors import GrantsError, Problem

PathKey = tuple[str | int, ...]
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Base):  # type: ignore[misc, valid-type]
    """A safe loader whose booleans are YAML 1.2's."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a safe loader


def parse_yaml(text: str, source: str, error: type[GrantsError]) -> Any:
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        message = getattr(exc, "problem", None) or str(exc)
        raise error([Problem(f"malformed YAML: {message}", file=source, line=line)]) from None


def line_map(text: str) -> dict[PathKey, int]:
    """The 1-based line where each path of a YAML (or JSON) document starts."""
    try:
        root = yaml.compose(text, Loader=Loader)
    except yaml.YAMLError:
        return {}
    lines: dict[PathKey, int] = {}

    def walk(node: yaml.Node, path: PathKey) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                lines[child] = key.start_mark.line + 1
                walk(value, child)
                lines[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return lines


def locate(lines: dict[PathKey, int], path: Sequence[str | int]) -> int | None:
    """The line of the deepest prefix of ``path`` present in the document."""
    key = tuple(path)
    while key not in lines and key:
        key = key[:-1]
    return lines.get(key)


def path_key(dotted: str) -> PathKey:
    """``partners.2.region`` or ``[2].region`` as a path of keys and indices."""
    parts = dotted.replace("[", "").replace("]", "").split(".")
    return tuple(int(x) if x.isdigit() else x for x in parts if x)
