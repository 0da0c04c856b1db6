"""The one reader of YAML and JSON files, for the command line and the API alike: YAML as YAML 1.2 reads it,
with the line of every field, and within limits that hostile input cannot get past.

PyYAML follows YAML 1.1, where ``NO`` (Norway), ``yes`` and ``off`` are booleans; a
call listing ``countries: [NO, CH]`` must not turn Norway into ``False``. Only
``true``/``false`` are booleans here. And as YAML 1.2 requires, a key written twice in
one mapping is an error: PyYAML would keep the second silently, so a score sheet with
``impact`` twice, or a proposal with two ``id`` lines, would lose one without a word.

The limits, each refused as one located problem: aliases may not multiply a document
(a few hundred bytes can expand to gigabytes), nesting stops at :data:`MAX_DEPTH`
levels, a number has at most :data:`MAX_DIGITS` digits (Python refuses to read one of
4,300, with a traceback), and only the tags of plain data are read (no ``!!binary``,
``!!set`` or ``!!python/...``). Each check that needs a walk over the document runs
only when a scan of the text finds what it looks for, so an ordinary file pays nothing.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from typing import Any

import yaml

from rules.errors import GrantsError, Problem

PathKey = tuple[str | int, ...]
MERGE = "tag:yaml.org,2002:merge"
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 1000
"""libyaml's own limit, and about where Python's JSON reader stops."""
MAX_DIGITS = 100
ALIAS_EXPANSION = 10
MAX_EXPANDED_NODES = 100_000
ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s,\[\]{}]")
LONG_NUMBER = re.compile(rf"\d{{{MAX_DIGITS + 1},}}")
PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)$")
DATA_TAGS = frozenset(
    f"tag:yaml.org,2002:{kind}" for kind in ("null", "bool", "int", "float", "str", "seq", "map", "timestamp")
) | {None}


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


Loader.yaml_constructors = {tag: build for tag, build in _Base.yaml_constructors.items() if tag in DATA_TAGS}
Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class Refused(Exception):
    """Input past one of the reader's limits, at a 1-based line (None: the whole document)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message, self.line = message, line


def load_yaml(text: str) -> Any:
    """YAML text as data, within the limits; raises :class:`Refused` or ``yaml.YAMLError``."""
    if ALIAS.search(text) or LONG_NUMBER.search(text):
        _screen_events(text)
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a safe loader
    except RecursionError:
        raise Refused(f"the document nests deeper than {MAX_DEPTH:,} levels") from None


def parse_yaml(text: str, source: str, error: type[GrantsError]) -> Any:
    """YAML text as data; malformed YAML, or YAML past a limit, is ``error`` at its line in ``source``."""
    try:
        return load_yaml(text)
    except Refused as exc:
        raise error([Problem(exc.message, file=source, line=exc.line)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        message = getattr(exc, "problem", None) or str(exc)
        malformed = "" if isinstance(exc, RepeatedKey) else "malformed YAML: "
        raise error([Problem(f"{malformed}{message}", file=source, line=line)]) from None


def _screen_events(text: str) -> None:
    """Refuse aliases that multiply the document, nesting past :data:`MAX_DEPTH` and numbers past :data:`MAX_DIGITS`.

    Counted on the parser's events, so a document that would expand to billions of
    nodes is measured without building any of them. Malformed YAML is left to the loader,
    which reports it at its line.
    """
    sizes: dict[str, int] = {}
    open_nodes: list[list[Any]] = [[0, None]]
    written, first_alias = 0, None
    try:
        for event in yaml.parse(text, Loader=Loader):
            line = event.start_mark.line + 1
            if isinstance(event, yaml.AliasEvent):
                open_nodes[-1][0] += sizes.get(event.anchor or "", 1)
                first_alias = first_alias or line
            elif isinstance(event, yaml.ScalarEvent):
                _check_number(event, line)
                written += 1
                open_nodes[-1][0] += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                written += 1
                open_nodes.append([1, event.anchor])
                if len(open_nodes) > MAX_DEPTH + 1:
                    raise Refused(f"the document nests deeper than {MAX_DEPTH:,} levels", line)
            elif isinstance(event, yaml.CollectionEndEvent):
                size, anchor = open_nodes.pop()
                if anchor:
                    sizes[anchor] = size
                open_nodes[-1][0] += size
    except yaml.YAMLError:
        return
    expanded = open_nodes[0][0]
    if expanded > MAX_EXPANDED_NODES and expanded > ALIAS_EXPANSION * written:
        raise Refused(
            f"YAML aliases expand this document from {written:,} to {expanded:,} values; at most "
            f"{ALIAS_EXPANSION} times what is written is accepted: write the repeated parts out",
            first_alias,
        )


def _check_number(event: yaml.ScalarEvent, line: int) -> None:
    value = event.value
    if event.implicit[0] and len(value) > MAX_DIGITS and PLAIN_INT.match(value):
        raise Refused(f"a number of {len(value):,} digits; at most {MAX_DIGITS} are read (write it in quotes)", line)


class _RepeatedJsonKey(Exception):
    pass


def _distinct_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise _RepeatedJsonKey
    return data


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise Refused(f"a number of {len(digits.lstrip('-')):,} digits; at most {MAX_DIGITS} are read")
    return int(digits)


def parse_json(text: str, source: str, error: type[GrantsError]) -> Any:
    """JSON as data, within the YAML reader's limits; a key written twice in one object is an error, as in YAML."""
    text = text.removeprefix("\ufeff")  # RFC 8259 lets a parser ignore it; editors on Windows write it
    long_number = LONG_NUMBER.search(text)
    try:
        data = json.loads(text, object_pairs_hook=_distinct_keys, parse_int=_bounded_int if long_number else None)
    except json.JSONDecodeError as exc:
        raise error([Problem(f"malformed JSON: {exc.msg}", file=source, line=exc.lineno)]) from None
    except Refused as exc:
        line = text.count("\n", 0, long_number.start()) + 1 if long_number else None
        raise error([Problem(exc.message, file=source, line=line)]) from None
    except RecursionError:
        raise error([Problem(f"the document nests deeper than {MAX_DEPTH:,} levels", file=source)]) from None
    except _RepeatedJsonKey:
        parse_yaml(text, source, error)  # JSON is YAML: this names the key and its two lines
        raise error([Problem("a key is written twice in one object", file=source)]) from None
    return data


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
        with contextlib.suppress(RecursionError):  # lines for what is not nested a thousand deep
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
