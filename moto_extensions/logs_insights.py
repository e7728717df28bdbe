"""A small CloudWatch Logs Insights evaluator for the dashboard's log widgets on the local stack.

moto's own StartQuery knows neither `SOURCE` nor `like /regex/`, so the local dashboard runs a widget's query
here, over the events moto's logs backend stores. It understands the commands a dashboard's log widget uses,
as the grammar below writes them: `SOURCE 'group'`, `fields` and `display` (names, `@`-fields, fields of a
JSON message), `filter` (`=`, `!=`, `<`, `<=`, `>`, `>=`, `like /regex/` or `like 'text'`, `=~`, `in [...]`,
`and`, `or`, `not`, parentheses), `sort field asc|desc` and `limit N`. Any other command raises
UnsupportedQueryError naming it.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import lark

Row = dict[str, Any]
Predicate = Callable[[Row], bool]
# Logs Insights returns at most this many rows where a query sets no limit.
DEFAULT_LIMIT = 1000

_GRAMMAR = r"""
    ?command: "source"i STRING                          -> source
            | ("fields"i | "display"i) NAME ("," NAME)* -> fields
            | "filter"i condition                       -> filter
            | "sort"i NAME [ORDER]                      -> sort
            | "limit"i INT                              -> limit

    ?condition: conjunction | condition "or"i conjunction -> any
    ?conjunction: negation | conjunction "and"i negation  -> all
    ?negation: comparison | "not"i negation -> negated | "(" condition ")"
    ?comparison: NAME COMPARISON value                       -> compare
               | NAME [NOT] "like"i pattern                   -> like
               | NAME _MATCHES pattern                        -> matches
               | NAME [NOT] "in"i "[" value ("," value)* "]"  -> within
    ?value: STRING | NUMBER
    ?pattern: REGEX | STRING -> substring

    NAME: /`[^`]+`|@?[\w.]+/
    STRING: /'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"/
    REGEX: /\/(?:\\.|[^\/\\])*\//
    NUMBER: /-?\d+(\.\d+)?/
    COMPARISON: "!=" | "<=" | ">=" | "=" | "<" | ">"
    _MATCHES.2: "=~"  // tried before COMPARISON's "="
    NOT: "not"i
    ORDER: /asc|desc/i
    %import common.INT
    %import common.WS
    %ignore WS
"""
_PARSER = lark.Lark(_GRAMMAR, start="command", parser="lalr")
# A command runs to the next `|` outside a string, a `name` or the /regex/ of a `like` or `=~`.
_COMMAND = re.compile(
    r"""(?:'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|`[^`]*`|(?:\blike|=~)\s*/(?:\\.|[^/\\])*/|[^|])+""", re.I
)
_COMPARISONS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class UnsupportedQueryError(Exception):
    """A command or expression this evaluator does not run; the message quotes it."""


@dataclass
class Query:
    sources: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    filters: list[Predicate] = field(default_factory=list)
    sort: tuple[str, bool] | None = None  # (field, descending)
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class LogEvent:
    group: str
    stream: str
    timestamp_ms: int
    message: str


def parse(text: str) -> Query:
    commands = _Commands()
    for command in (found.strip() for found in _COMMAND.findall(text)):
        if not command:
            continue
        try:
            commands.transform(_PARSER.parse(command))
        except lark.exceptions.LarkError:  # no command of the grammar, or a /regex/ Python cannot compile
            raise UnsupportedQueryError(command) from None
    return commands.query


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


@lark.v_args(inline=True)
class _Commands(lark.Transformer):
    """Builds the Query from each command's tree; a filter's condition becomes a predicate on a row."""

    def __init__(self) -> None:
        super().__init__()
        self.query = Query()

    def source(self, group: str) -> None:
        self.query.sources.append(group)

    def fields(self, *names: str) -> None:
        self.query.fields = list(names)

    def filter(self, condition: Predicate) -> None:
        self.query.filters.append(condition)

    def sort(self, name: str, order: str | None) -> None:
        self.query.sort = (name, order is None or order.lower() == "desc")

    def limit(self, count: str) -> None:
        self.query.limit = int(count)

    def any(self, left: Predicate, right: Predicate) -> Predicate:
        return lambda row: left(row) or right(row)

    def all(self, left: Predicate, right: Predicate) -> Predicate:
        return lambda row: left(row) and right(row)

    def negated(self, condition: Predicate) -> Predicate:
        return lambda row: not condition(row)

    def compare(self, name: str, comparison: str, expected: str | float) -> Predicate:
        compare = _COMPARISONS[comparison]
        return lambda row: _compared(row.get(name), expected, compare)

    def like(self, name: str, negated: str | None, pattern: re.Pattern[str]) -> Predicate:
        # A missing field matches no pattern, so `not like` keeps the rows without it.
        return lambda row: (row.get(name) is not None and pattern.search(str(row[name])) is not None) != bool(negated)

    def matches(self, name: str, pattern: re.Pattern[str]) -> Predicate:
        return self.like(name, None, pattern)

    def within(self, name: str, negated: str | None, *values: str | float) -> Predicate:
        return lambda row: (row.get(name) in values) != bool(negated)

    def substring(self, text: str) -> re.Pattern[str]:
        return re.compile(re.escape(text))

    def NAME(self, token: lark.Token) -> str:
        return token.strip("`")

    def STRING(self, token: lark.Token) -> str:
        return re.sub(r"\\(.)", r"\1", token[1:-1])

    def REGEX(self, token: lark.Token) -> re.Pattern[str]:
        return re.compile(token[1:-1])

    def NUMBER(self, token: lark.Token) -> float:
        return float(token)


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


def _compared(actual: Any, expected: str | float, compare: Callable[[Any, Any], bool]) -> bool:
    # The field's value is read as the literal's kind: a number compares as a number, anything else as text.
    try:
        return actual is not None and compare(type(expected)(actual), expected)
    except (TypeError, ValueError):
        return False
