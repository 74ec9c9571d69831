"""Checks JSON as it arrives, before anything is built from it: syntax, nesting depth, elements
per array, and text that cannot be text (lone surrogates).

Python's `json` builds the whole document first and recurses once per level: a body nested
1,000 deep ends in a RecursionError (a 500), and a 0.2 MiB gzip that inflates into a quarter
of a gigabyte of items is built in full (GBs of objects) before anything counts them. The guard
runs yajl (through ijson's C backend) over the bytes as they come, keeps only a stack of open
containers, and refuses at the first level too deep or the first element too many; the caller
stops reading there. It costs about ten times `json`'s parse, so `body.py` runs it only on
bodies that open many containers; the rest are parsed by `json` and checked afterwards
(`deeper_than`, `lone_surrogate`: yajl alone would turn a lone surrogate into "?").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import ijson

#: a record is 4 levels deep inside a batch; 32 leaves room and stays far from recursion limits
MAX_DEPTH = 32
#: the longest array either server takes (a batch holds 1,000 items at most)
MAX_ARRAY_ITEMS = 1000


class JsonRefused(ValueError):
    """The JSON cannot be taken: `kind` is the error type (pydantic's style), `msg` says why
    without quoting the body (it holds personal data)."""

    def __init__(self, kind: str, msg: str, rule: str) -> None:
        super().__init__(msg)
        self.kind = kind
        self.msg = msg
        self.rule = rule


class JsonGuard:
    """Feed it the body's bytes (`feed`, then `close`); it raises JsonRefused at the first
    problem, holding nothing of the document but the depth and each open array's count."""

    def __init__(self, max_depth: int = MAX_DEPTH, max_array_items: int = MAX_ARRAY_ITEMS) -> None:
        self._max_depth = max_depth
        self._max_items = max_array_items
        self._events: list[tuple[str, Any]] = ijson.sendable_list()
        self._parser = ijson.basic_parse_coro(self._events, use_float=True)
        # one entry per open container: elements so far for an array, -1 for an object
        self._open: list[int] = []

    def feed(self, data: bytes) -> None:
        if not data:  # to yajl an empty chunk is the end of the document
            return
        try:
            self._parser.send(data)
        except Exception:  # yajl's message quotes the body: say it without the text
            raise _syntax() from None
        self._check()

    def close(self) -> None:
        try:
            self._parser.close()
        except Exception:
            raise _syntax() from None
        self._check()

    def _check(self) -> None:
        events, self._events[:] = list(self._events), []
        for event, _value in events:
            if event == "start_map" or event == "start_array":
                self._element()
                if len(self._open) >= self._max_depth:
                    raise JsonRefused(
                        "json_too_deep",
                        f"JSON nested deeper than {self._max_depth} levels",
                        "json_depth",
                    )
                self._open.append(0 if event == "start_array" else -1)
            elif event == "end_map" or event == "end_array":
                self._open.pop()
            elif event != "map_key":
                self._element()

    def _element(self) -> None:
        if self._open and self._open[-1] >= 0:
            self._open[-1] += 1
            if self._open[-1] > self._max_items:
                raise JsonRefused(
                    "json_too_many_items",
                    f"a JSON array holds more than {self._max_items} elements",
                    "json_items",
                )


def _syntax() -> JsonRefused:
    return JsonRefused("json_invalid", "JSON decode error", "json_invalid")


#: the only way a lone surrogate gets into parsed JSON: an escape (UTF-8 cannot encode one)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def containers(data: bytes) -> int:
    """How many objects and arrays `data` opens at most (brackets in strings count too)."""
    return data.count(b"{") + data.count(b"[")


def may_hold_surrogates(raw: bytes) -> bool:
    return _SURROGATE_ESCAPE.search(raw) is not None


def deeper_than(value: Any, max_depth: int) -> bool:
    """Whether a parsed document nests deeper than `max_depth` (level by level, no recursion;
    only containers are kept for the next level)."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return True
        below: list[Any] = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
    return False


def lone_surrogate(value: Any) -> bool:
    """Whether any string (key or value) in a parsed document holds a lone surrogate: such
    text cannot be encoded (not stored, not logged, not even answered in a 422)."""
    return any(not text.isascii() and _unencodable(text) for text in _strings(value))


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _strings(value: Any) -> Iterator[str]:
    # an explicit stack: the guard bounds the depth, but no recursion is needed at all
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
