"""The one reader of YAML and JSON files, for the command line and the API alike: YAML as YAML 1.2 reads it,
with the line of every field, and within limits that hostile input cannot get past.

PyYAML follows YAML 1.1, where ``NO`` (Norway), ``yes`` and ``off`` are booleans; a
call listing ``countries: [NO, CH]`` must not turn Norway into ``False``. Only
``true``/``false`` are booleans here. And as YAML 1.2 requires, a key written twice in
one mapping is an error: PyYAML would keep the second silently, so a score sheet with
``impact`` twice, or a proposal with two ``id`` lines, would lose one without a word.

The limits, each refused as one located problem: aliases may not multiply a document
(a few hundred bytes can expand to gigabytes), nesting stops at :data:`MAX_DEPTH`
levels, a number has at most :data:`MAX_DIGITS` digits (past that Python refuses to read
it, with a traceback), and only the tags of plain data are read (no ``!!binary``,
``!!set`` or ``!!python/...``). Each check that needs a walk over the document runs
only when a scan of the text finds what it looks for, so an ordinary file pays nothing.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

import jiter
import numpy as np
import yaml
import yaml_rs

from rules.errors import GrantsError, Problem

PathKey = tuple[str | int, ...]
MERGE = "tag:yaml.org,2002:merge"
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 1000
"""libyaml's own limit, and about where Python's JSON reader stops."""
MAX_DIGITS = sys.int_info.default_max_str_digits
"""Python's own bound on reading an integer (4,300 digits), past which both readers raise ValueError."""
ALIAS_EXPANSION = 10
MAX_EXPANDED_NODES = 100_000
ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s,\[\]{}]")
LONG_NUMBER = re.compile(rf"\d{{{MAX_DIGITS + 1},}}")
PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)$")
FAST_LINES = 2_000
"""The fast reader takes a document whose lines and flow collections are shorter than this: nesting is
then bounded well inside its stack (it recurses, and a million levels would crash the process)."""
SLOW_SHAPES = tuple(
    re.compile(pattern)
    for pattern in (
        r"<<",  # merge keys
        r"!(?<=[\s\[{,]!)",  # tags
        r"&(?<=[\s\[{,]&)[^\s,\[\]{}]",  # anchors
        r"\*(?<=[\s\[{,]\*)[^\s,\[\]{}]",  # aliases
        r"\n---",  # several documents
        r"\n\.\.\.",
        r"\n%",  # directives
        r"0(?<=[-+]0)[xo]",  # signed hexadecimal or octal
        r"0b[01]",  # binary
        r"_(?<=[\s\[{,:-]_)\d",  # _1
        r":(?<=\d:)\d\d:\d\d",  # 12:30:00
    )
)
SLOW_STARTS = ("!", "&", "*", "---", "...", "%", "_")
"""What PyYAML and the fast reader read differently, or only PyYAML checks. Each pattern starts with a
literal character and looks behind from there, which Python's engine finds far faster than a pattern
that starts with a class of characters (0.02 s against 0.3 s on 8 MB)."""
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


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """YAML 1.2's integers: ``017`` is seventeen (not octal), ``0o17`` octal, ``0x1F`` hexadecimal."""
    value = str(loader.construct_scalar(node)).replace("_", "")
    sign, digits = (-1, value[1:]) if value.startswith("-") else (1, value.removeprefix("+"))
    base = {"0o": 8, "0x": 16}.get(digits[:2], 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


Loader.yaml_constructors = {tag: build for tag, build in _Base.yaml_constructors.items() if tag in DATA_TAGS}
Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_YAML_11_ONLY = {f"tag:yaml.org,2002:{kind}" for kind in ("bool", "int", "float", "value")}
Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _YAML_11_ONLY]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
# YAML 1.2's core schema (``10:30`` is text, not 630; ``1e3`` a number), as the fast reader reads it.
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


class Refused(Exception):
    """Input past one of the reader's limits, at a 1-based line (None: the whole document)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message, self.line = message, line


def load_yaml(text: str) -> Any:
    """YAML text as data, within the limits; raises :class:`Refused` or ``yaml.YAMLError``.

    Plain data (no aliases, tags, merge keys or several documents: nearly every file) is read by
    yaml-rs, ten times faster than PyYAML's libyaml loader, which builds each node in Python. What
    yaml-rs refuses is read again by PyYAML, whose messages and line numbers are the ones reported.
    """
    if _plain_data(text):
        try:
            return yaml_rs.loads(text.removeprefix("\ufeff"), duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error)
        except ValueError:  # yaml_rs.YAMLDecodeError is one
            pass
    if ALIAS.search(text):
        _screen_events(text)
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a safe loader
    except ValueError:  # int() of a number past MAX_DIGITS; yaml.YAMLError is no ValueError
        raise _long_number(text) from None
    except RecursionError:
        raise Refused(f"the document nests deeper than {MAX_DEPTH:,} levels") from None


def _plain_data(text: str) -> bool:
    """Whether the fast reader reads ``text`` as PyYAML would, within the limits (each test runs at C speed)."""
    if text.count("[") + text.count("{") >= FAST_LINES or _longest_line(text) >= FAST_LINES:
        return False
    return not text.startswith(SLOW_STARTS) and not any(shape.search(text) for shape in SLOW_SHAPES)


def _longest_line(text: str) -> int:
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    return int(np.diff(ends, prepend=-1, append=len(data)).max())


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
            line = event.start_mark.line + 1 if event.start_mark else None
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


def _check_number(event: yaml.ScalarEvent, line: int | None) -> None:
    value = event.value
    if event.implicit[0] and len(value) > MAX_DIGITS and PLAIN_INT.match(value):
        raise Refused(f"a number of {len(value):,} digits; at most {MAX_DIGITS:,} are read (write it in quotes)", line)


class _RepeatedJsonKey(Exception):
    pass


def _distinct_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise _RepeatedJsonKey
    return data


def _long_number(text: str) -> Refused:
    found = LONG_NUMBER.search(text)
    line = text.count("\n", 0, found.start()) + 1 if found else None
    digits = f"{len(found.group()):,}" if found else "too many"
    return Refused(f"a number of {digits} digits; at most {MAX_DIGITS:,} are read (write it in quotes)", line)


def parse_json(text: str, source: str, error: type[GrantsError]) -> Any:
    """JSON as data, within the YAML reader's limits; a key written twice in one object is an error, as in YAML."""
    return read_json(text, source, error)[0]


def jiter_json(raw: bytes) -> Any:
    """A JSON document's UTF-8 bytes as data, read by jiter; ValueError for anything it refuses.

    The caller strips a byte order mark first (jiter refuses it). What it reads is UTF-8
    (a byte that is not would be refused, in a string or out of one).
    """
    return jiter.from_json(raw, catch_duplicate_keys=True, cache_mode="keys")


def read_json(text: str, source: str, error: type[GrantsError], jiter_first: bool = True) -> tuple[Any, bool]:
    """JSON as data, and whether jiter read it all (pydantic's own parser, so pydantic reads it the same way).

    ``jiter_first`` False: the caller has had jiter refuse the file's bytes already.

    jiter (Rust) reads it and refuses repeated keys itself, twice as fast as the standard
    library with a hook on every object (caching only keys, not every string, is faster
    still). It is stricter, never looser: it stops at 200 levels, and at lone surrogates
    the standard library reads. So whatever it refuses is read again by the standard
    library, which accepts what it may and names the problem and its line exactly as before.
    """
    text = text.removeprefix("\ufeff")  # RFC 8259 lets a parser ignore it; editors on Windows write it
    if jiter_first:
        with contextlib.suppress(ValueError):
            return jiter_json(text.encode()), True
    try:
        data = json.loads(text, object_pairs_hook=_distinct_keys)
    except json.JSONDecodeError as exc:
        raise error([Problem(f"malformed JSON: {exc.msg}", file=source, line=exc.lineno)]) from None
    except ValueError:  # int() of a number past MAX_DIGITS
        refused = _long_number(text)
        raise error([Problem(refused.message, file=source, line=refused.line)]) from None
    except RecursionError:
        raise error([Problem(f"the document nests deeper than {MAX_DEPTH:,} levels", file=source)]) from None
    except _RepeatedJsonKey:
        parse_yaml(text, source, error)  # JSON is YAML: this names the key and its two lines
        raise error([Problem("a key is written twice in one object", file=source)]) from None
    return data, False


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
