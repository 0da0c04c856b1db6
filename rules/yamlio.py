"""YAML as YAML 1.2 reads it, with the line of every field.

PyYAML follows YAML 1.1, where ``NO`` (Norway), ``yes`` and ``off`` are booleans; a
call listing ``countries: [NO, CH]`` must not turn Norway into ``False``. Only
``true``/``false`` are booleans here. And as YAML 1.2 requires, a key written twice in
one mapping is an error: PyYAML would keep the second silently, so a score sheet with
``impact`` twice, or a proposal with two ``id`` lines, would lose one without a word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from rules.errors import GrantsError, Problem

PathKey = tuple[str | int, ...]
MERGE = "tag:yaml.org,2002:merge"
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RepeatedKey(yaml.constructor.ConstructorError):
    """A mapping that writes a key twice: well-formed YAML 1.1, but a mistake."""


class Loader(_Base):  # type: ignore[misc, valid-type]
    """A safe loader whose booleans are YAML 1.2's and whose mappings have distinct keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Checked on the keys as written, before merge keys (``<<: *base``) are flattened in:
        # overriding a merged key is what merging is for.
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != MERGE:
                first = seen.setdefault(key_node.value, key_node.start_mark)
                if first is not key_node.start_mark:
                    raise RepeatedKey(
                        problem=f"key {key_node.value!r} is written twice (first on line {first.line + 1})",
                        problem_mark=key_node.start_mark,
                    )
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]


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
        malformed = "" if isinstance(exc, RepeatedKey) else "malformed YAML: "
        raise error([Problem(f"{malformed}{message}", file=source, line=line)]) from None


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
