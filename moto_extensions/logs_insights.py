"""A small CloudWatch Logs Insights evaluator for the dashboard's log widgets on the local stack.

moto's own StartQuery knows neither `SOURCE` nor `like /regex/`, so the local dashboard runs a widget's query
here, over the events moto's logs backend stores. It understands the commands a dashboard's log widget uses:
`SOURCE 'group'`, `fields` and `display` (names, `@`-fields, fields of a JSON message), `filter` (`=`, `!=`,
`<`, `<=`, `>`, `>=`, `like /regex/` or `like 'text'`, `=~`, `in [...]`, `and`, `or`, `not`, parentheses),
`sort field asc|desc` and `limit N`. Any other command raises UnsupportedQueryError naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
# Logs Insights returns at most this many rows where a query sets no limit.
DEFAULT_LIMIT = 1000


class UnsupportedQueryError(Exception):
    """A command or expression this evaluator does not run; the message quotes it."""


@dataclass
class Query:
    sources: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    filters: list[Callable[[Row], bool]] = field(default_factory=list)
    sort: tuple[str, bool] | None = None  # (field, descending)
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class LogEvent:
    group: str
    stream: str
    timestamp_ms: int
    message: str


def parse(text: str) -> Query:
    query = Query()
    for command in _split_commands(text):
        keyword, _, rest = command.partition(" ")
        keyword, rest = keyword.lower(), rest.strip()
        if keyword == "source":
            query.sources.append(_string_literal(rest, command))
        elif keyword in ("fields", "display"):
            query.fields = [name.strip() for name in rest.split(",") if name.strip()]
        elif keyword == "filter":
            query.filters.append(_Condition(rest).parse())
        elif keyword == "sort":
            name, _, order = rest.partition(" ")
            if order.strip().lower() not in ("", "asc", "desc"):
                raise UnsupportedQueryError(command)
            query.sort = (name, order.strip().lower() != "asc")
        elif keyword == "limit" and rest.isdigit():
            query.limit = int(rest)
        else:
            raise UnsupportedQueryError(command)
    return query


def run(query: Query, events: Iterable[LogEvent], account_id: str) -> list[Row]:
    """The rows a query returns, each with its `fields` (all of a row's fields if it names none)."""
    rows = [_row(event, account_id) for event in events]
    rows = [row for row in rows if all(keep(row) for keep in query.filters)]
    if query.sort:
        name, descending = query.sort
        rows.sort(key=lambda row: _sort_key(row.get(name)), reverse=descending)
    rows = rows[: query.limit]
    if not query.fields:
        return rows
    return [{name: row.get(name) for name in query.fields} for row in rows]


def _row(event: LogEvent, account_id: str) -> Row:
    row: Row = {
        "@timestamp": event.timestamp_ms,
        "@message": event.message,
        "@log": f"{account_id}:{event.group}",
        "@logStream": event.stream,
    }
    # Logs Insights discovers the fields of a JSON message, nested ones joined with dots.
    try:
        document = json.loads(event.message)
    except ValueError:
        return row
    if isinstance(document, dict):
        row.update(_flattened(document))
    return row


def _flattened(document: dict[str, Any], prefix: str = "") -> Row:
    flat: Row = {}
    for name, value in document.items():
        if isinstance(value, dict):
            flat.update(_flattened(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def _sort_key(value: Any) -> tuple[int, Any]:
    # Missing values sort first, numbers before text, as a mixed column cannot compare otherwise.
    if value is None:
        return (0, 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value)
    return (2, str(value))


def _split_commands(text: str) -> list[str]:
    """The query's commands: `|` separates them except inside a string or a /regex/."""
    commands, current, quote = [], "", ""
    for char in text:
        if quote:
            current += char
            if char == quote and not current.endswith("\\" + quote):
                quote = ""
        elif char in "'\"`" or (char == "/" and re.search(r"(\blike|=~)\s*$", current, re.IGNORECASE)):
            quote = char
            current += char
        elif char == "|":
            commands.append(current.strip())
            current = ""
        else:
            current += char
    commands.append(current.strip())
    return [command for command in commands if command]


def _string_literal(text: str, command: str) -> str:
    match = re.fullmatch(r"'([^']*)'|\"([^\"]*)\"", text.strip())
    if not match:
        raise UnsupportedQueryError(command)
    return match[1] if match[1] is not None else match[2]


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<regex>/(?:\\.|[^/\\])*/)
      | (?P<string>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>!=|<=|>=|=~|=|<|>|\(|\)|\[|\]|,)
      | (?P<name>`[^`]+`|@?[\w.]+)
    )""",
    re.VERBOSE,
)


class _Condition:
    """A filter's condition, parsed by recursive descent into a predicate on a row."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if not match:
                raise UnsupportedQueryError(f"filter {text}")
            kind = match.lastgroup or ""
            self._tokens.append((kind, match[kind]))
            position = match.end()
        self._at = 0

    def parse(self) -> Callable[[Row], bool]:
        predicate = self._or()
        if self._at != len(self._tokens):
            raise UnsupportedQueryError(f"filter {self._text}")
        return predicate

    def _peek(self) -> tuple[str, str]:
        return self._tokens[self._at] if self._at < len(self._tokens) else ("end", "")

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        self._at += 1
        return token

    def _keyword(self, word: str) -> bool:
        kind, value = self._peek()
        if kind == "name" and value.lower() == word:
            self._at += 1
            return True
        return False

    def _or(self) -> Callable[[Row], bool]:
        left = self._and()
        while self._keyword("or"):
            right, previous = self._and(), left
            left = lambda row, a=previous, b=right: a(row) or b(row)  # noqa: E731
        return left

    def _and(self) -> Callable[[Row], bool]:
        left = self._not()
        while self._keyword("and"):
            right, previous = self._not(), left
            left = lambda row, a=previous, b=right: a(row) and b(row)  # noqa: E731
        return left

    def _not(self) -> Callable[[Row], bool]:
        if self._keyword("not"):
            inner = self._not()
            return lambda row: not inner(row)
        if self._peek() == ("op", "("):
            self._next()
            inner = self._or()
            if self._next() != ("op", ")"):
                raise UnsupportedQueryError(f"filter {self._text}")
            return inner
        return self._comparison()

    def _comparison(self) -> Callable[[Row], bool]:
        kind, name = self._next()
        if kind != "name":
            raise UnsupportedQueryError(f"filter {self._text}")
        name = name.strip("`")
        negated = self._keyword("not")
        if self._keyword("like") or (not negated and self._peek() == ("op", "=~")):
            if self._peek() == ("op", "=~"):
                self._next()
            matches = self._pattern()
            return lambda row: (row.get(name) is not None and matches(str(row[name]))) != negated
        if self._keyword("in"):
            values = self._list()
            return lambda row: (row.get(name) in values) != negated
        if negated:
            raise UnsupportedQueryError(f"filter {self._text}")
        kind, operator = self._next()
        if kind != "op" or operator not in _COMPARISONS:
            raise UnsupportedQueryError(f"filter {self._text}")
        expected = self._value()
        compare = _COMPARISONS[operator]
        return lambda row: _compared(row.get(name), expected, compare)

    def _pattern(self) -> Callable[[str], bool]:
        kind, literal = self._next()
        if kind == "regex":
            pattern = re.compile(literal[1:-1])
            return lambda text: pattern.search(text) is not None
        if kind == "string":
            needle = _unquoted(literal)
            return lambda text: needle in text
        raise UnsupportedQueryError(f"filter {self._text}")

    def _list(self) -> list[Any]:
        if self._next() != ("op", "["):
            raise UnsupportedQueryError(f"filter {self._text}")
        values = [self._value()]
        while self._peek() == ("op", ","):
            self._next()
            values.append(self._value())
        if self._next() != ("op", "]"):
            raise UnsupportedQueryError(f"filter {self._text}")
        return values

    def _value(self) -> Any:
        kind, literal = self._next()
        if kind == "string":
            return _unquoted(literal)
        if kind == "number":
            return float(literal)
        raise UnsupportedQueryError(f"filter {self._text}")


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compared(actual: Any, expected: Any, compare: Callable[[Any, Any], bool]) -> bool:
    if actual is None:
        return False
    if isinstance(expected, float):
        try:
            actual = float(actual)
        except (TypeError, ValueError):
            return False
    else:
        actual = str(actual)
    try:
        return compare(actual, expected)
    except TypeError:
        return False


def _unquoted(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])
