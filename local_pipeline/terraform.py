"""terraform/ read and evaluated for the local stack: its variables' defaults, moto's account and region.

python-hcl2 parses each .tf file; what Terraform computes comes back as expression text ("${...}"),
which this module parses and evaluates: literals, string templates, references to variables, locals,
data sources and resource attributes (for_each instances and dynamic blocks included), arithmetic,
comparisons, conditionals and a few functions. Anything else stops the local stack at start-up with
the file, the line and the construct, so it never runs with a value it could not work out.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM_DIR = Path(__file__).resolve().parents[1] / "terraform"
# moto's default account; the region every local client is pointed at.
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

_OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
_DATA_SOURCES = {
    "aws_caller_identity": {"account_id": ACCOUNT_ID},
    "aws_region": {"region": REGION, "name": REGION},
    "aws_partition": {"partition": "aws"},
}
# The argument that holds a resource's name, where it is not `name`.
_NAME_ARGUMENT = {
    "aws_s3_bucket": "bucket",
    "aws_lambda_function": "function_name",
    "aws_cloudwatch_metric_alarm": "alarm_name",
    "aws_cloudwatch_dashboard": "dashboard_name",
}
_ARN = {
    "aws_sqs_queue": "arn:aws:sqs:{region}:{account}:{name}",
    "aws_lambda_function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "aws_cloudwatch_metric_alarm": "arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
    "aws_sns_topic": "arn:aws:sns:{region}:{account}:{name}",
    "aws_s3_bucket": "arn:aws:s3:::{name}",
}


class UnsupportedTerraform(Exception):
    """terraform/ uses something the local stack cannot evaluate; the message names the file and line."""


class _Unsupported(Exception):
    """Raised while evaluating; turned into UnsupportedTerraform once the block it came from is known."""

    def __init__(self, construct: str, reason: str) -> None:
        super().__init__(f"{reason}: {construct}")
        self.construct = construct
        self.reason = reason


@dataclass(frozen=True)
class Block:
    """A top-level block: where it is written, and its arguments as python-hcl2 returns them."""

    path: Path
    header: str  # a regular expression for its first line, to find that line again
    body: Any


@dataclass
class Terraform:
    """Every top-level block of a Terraform directory, by kind and address."""

    directory: Path
    resources: dict[tuple[str, str], Block] = field(default_factory=dict)
    data: dict[tuple[str, str], Block] = field(default_factory=dict)
    variables: dict[str, Block] = field(default_factory=dict)
    locals: dict[str, Block] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    # terraform, provider, check, moved...: nothing the local stack reads, kept for tests/terraform.
    other: dict[str, list[Any]] = field(default_factory=dict)

    def resources_of_type(self, resource_type: str) -> list[str]:
        return [name for kind, name in self.resources if kind == resource_type]


# Parsed once per directory: the stack and its outputs file both evaluate it at start-up, and parsing every
# .tf file takes about half a second. Nothing mutates a loaded Terraform.
@cache
def load_terraform(terraform_dir: Path = TERRAFORM_DIR) -> Terraform:
    terraform = Terraform(terraform_dir)
    for path in sorted(terraform_dir.glob("*.tf")):
        try:
            document = hcl2.loads(path.read_text(), serialization_options=_OPTIONS)
        except Exception as error:  # python-hcl2 raises lark's errors, which carry the line
            raise UnsupportedTerraform(f"{path}: python-hcl2 cannot parse it: {error}") from error
        for kind, target in (("resource", terraform.resources), ("data", terraform.data)):
            for entry in document.get(kind, []):
                for block_type, named in entry.items():
                    for name, body in named.items():
                        header = rf'^\s*{kind}\s+"{block_type}"\s+"{name}"'
                        target[(block_type, name)] = Block(path, header, body)
        for kind, target in (("variable", terraform.variables), ("output", terraform.outputs)):
            for entry in document.get(kind, []):
                for name, body in entry.items():
                    target[name] = Block(path, rf'^\s*{kind}\s+"{name}"', body)
        for kind, entries in document.items():
            if kind not in ("resource", "data", "variable", "output", "locals"):
                terraform.other.setdefault(kind, []).extend(entries)
        for entry in document.get("locals", []):
            for name, value in entry.items():
                terraform.locals[name] = Block(path, rf"^\s*{name}\s*=", value)
    return terraform


class Evaluator:
    """Values of terraform/ for the local stack. `endpoint` gives queues their URLs; without it a queue's
    `url` is None."""

    def __init__(
        self, terraform: Terraform, endpoint: str | None = None, variables: dict[str, Any] | None = None
    ) -> None:
        self.terraform = terraform
        self.endpoint = endpoint
        self._variables = variables or {}
        self._locals: dict[str, Any] = {}
        self._block: Block | None = None

    # --- what the local stack asks for ---------------------------------------------------------------

    def local(self, name: str) -> Any:
        if name not in self._locals:
            block = self._lookup(self.terraform.locals, name, f"local.{name}")
            self._locals[name] = self._in_block(block, lambda: self.value(block.body))
        return self._locals[name]

    def variable(self, name: str) -> Any:
        if name in self._variables:
            return self._variables[name]
        block = self._lookup(self.terraform.variables, name, f"var.{name}")
        if "default" not in block.body:
            raise self._located(block, f"var.{name}", "the local stack needs a default for every variable it reads")
        return self._in_block(block, lambda: self.value(block.body["default"]))

    def argument(self, resource_type: str, name: str, argument: str, key: str | None = None) -> Any:
        """One argument (or the list of one kind of nested block) of a resource, evaluated; `key` picks a
        for_each instance. Only what is asked for is evaluated: a resource's other arguments may be
        things only AWS knows."""
        block = self._lookup(self.terraform.resources, (resource_type, name), f"{resource_type}.{name}")
        return self._in_block(block, lambda: self._argument(block.body, argument, key))

    def resource_keys(self, resource_type: str, name: str) -> list[str | None]:
        """The instance keys of a resource: its for_each keys, or [None] for a single instance."""
        block = self._lookup(self.terraform.resources, (resource_type, name), f"{resource_type}.{name}")
        if "for_each" not in block.body:
            return [None]
        return list(self._in_block(block, lambda: self.value(block.body["for_each"])))

    def output(self, name: str) -> Any:
        block = self.terraform.outputs[name]
        return self._in_block(block, lambda: self.value(block.body["value"]))

    def value(self, value: Any, scope: dict[str, Any] | None = None) -> Any:
        """An argument as python-hcl2 returns it, with every expression evaluated; `scope` binds
        each/iterator names."""
        scope = scope or {}
        if isinstance(value, dict):
            return self._body(value, scope)
        if isinstance(value, list):
            return [self.value(item, scope) for item in value]
        if isinstance(value, str) and "${" in value:
            return self._evaluate(_parse_template(value), scope)
        return value

    # --- blocks --------------------------------------------------------------------------------------

    def _argument(self, body: dict[str, Any], argument: str, key: str | None) -> Any:
        scope: dict[str, Any] = {}
        if key is not None:
            scope["each"] = {"key": key, "value": self.value(body["for_each"])[key]}
        dynamic = [spec for entry in body.get("dynamic", []) for name, spec in entry.items() if name == argument]
        if dynamic:
            return [item for spec in dynamic for item in self._dynamic(argument, spec, scope)]
        if argument not in body:
            raise KeyError(argument)
        return self.value(body[argument], scope)

    def _body(self, body: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, item in body.items():
            if name == "dynamic":
                for dynamic in item:
                    for block_name, spec in dynamic.items():
                        result.setdefault(block_name, []).extend(self._dynamic(block_name, spec, scope))
            else:
                result[name] = self.value(item, scope)
        return result

    def _dynamic(self, block_name: str, spec: dict[str, Any], scope: dict[str, Any]) -> list[Any]:
        iterator = spec.get("iterator", block_name)
        collection = self.value(spec["for_each"], scope)
        items = collection.items() if isinstance(collection, dict) else enumerate(collection)
        [content] = spec["content"]
        return [self.value(content, scope | {iterator: {"key": key, "value": value}}) for key, value in items]

    def _lookup(self, blocks: dict[Any, Block], key: Any, what: str) -> Block:
        if key not in blocks:
            if self._block is None:
                raise UnsupportedTerraform(f"{self.terraform.directory}: no {what} declared")
            raise self._located(self._block, what, "not declared in terraform/")
        return blocks[key]

    def _in_block(self, block: Block, evaluate: Any) -> Any:
        outer, self._block = self._block, block
        try:
            return evaluate()
        except _Unsupported as error:
            raise self._located(block, error.construct, error.reason) from None
        finally:
            self._block = outer

    def _located(self, block: Block, construct: str, reason: str) -> UnsupportedTerraform:
        lines = block.path.read_text().splitlines()
        start = next((n for n, line in enumerate(lines) if re.search(block.header, line)), 0)
        # The construct's first line: hcl2 rewrites whitespace, so look for its leading words.
        needle = re.sub(r"\s+", " ", construct)[:20].strip()
        squeezed = [re.sub(r"\s+", " ", line) for line in lines]
        found = next((n for n in range(start, len(lines)) if needle and needle in squeezed[n]), start)
        return UnsupportedTerraform(
            f"{block.path}:{found + 1}: the local stack cannot evaluate this Terraform ({reason}): {construct}"
        )

    # --- expressions ---------------------------------------------------------------------------------

    def _evaluate(self, node: tuple, scope: dict[str, Any]) -> Any:
        kind = node[0]
        if kind == "literal":
            return node[1]
        if kind == "template":
            return "".join(_text(self._evaluate(part, scope)) for part in node[1])
        if kind == "tuple":
            return [self._evaluate(item, scope) for item in node[1]]
        if kind == "object":
            return {self._key(key, scope): self._evaluate(item, scope) for key, item in node[1]}
        if kind == "conditional":
            branch = node[2] if self._evaluate(node[1], scope) else node[3]
            return self._evaluate(branch, scope)
        if kind == "unary":
            operand = self._evaluate(node[2], scope)
            return -operand if node[1] == "-" else not operand
        if kind == "binary":
            return _BINARY[node[1]](self._evaluate(node[2], scope), self._evaluate(node[3], scope))
        if kind == "call":
            if node[1] not in _FUNCTIONS:
                raise _Unsupported(node[3], f"the function {node[1]}() is not supported")
            return _FUNCTIONS[node[1]](*(self._evaluate(argument, scope) for argument in node[2]))
        if kind == "reference":
            return self._reference(node[1], node[2], scope)
        if kind == "for":
            return self._for(node, scope)
        raise _Unsupported(node[1], "this construct is not supported")

    def _for(self, node: tuple, scope: dict[str, Any]) -> Any:
        """[for k, v in X : V if C] and {for k, v in X : K => V if C}; a map's keys in lexical order, as Terraform."""
        _, is_object, key_name, value_name, collection, key, value, condition = node
        collection = self._evaluate(collection, scope)
        pairs = sorted(collection.items()) if isinstance(collection, dict) else list(enumerate(collection))
        result: Any = {} if is_object else []
        for item_key, item in pairs:
            inner = scope | {value_name: item} | ({key_name: item_key} if key_name else {})
            if condition is not None and not self._evaluate(condition, inner):
                continue
            if is_object:
                result[_text(self._evaluate(key, inner))] = self._evaluate(value, inner)
            else:
                result.append(self._evaluate(value, inner))
        return result

    def _key(self, key: tuple, scope: dict[str, Any]) -> str:
        # An object key that is a bare name is the name itself, not a reference.
        if key[0] == "reference" and not key[2]:
            return key[1]
        return str(self._evaluate(key, scope))

    def _reference(self, root: str, steps: list[tuple[str, Any]], scope: dict[str, Any]) -> Any:
        traversal = [(kind, self._evaluate(step, scope) if kind == "index" else step) for kind, step in steps]
        if root in scope:
            return _traverse(scope[root], traversal)
        names = [step for kind, step in traversal if kind == "attr"]
        if root == "var":
            return _traverse(self.variable(names[0]), traversal[1:])
        if root == "local":
            return _traverse(self.local(names[0]), traversal[1:])
        if root == "data":
            source = _DATA_SOURCES.get(names[0])
            if source is None or (names[0], names[1]) not in self.terraform.data:
                raise _Unsupported(f"data.{names[0]}.{names[1]}", "not a data source the local stack knows")
            return _traverse(source, traversal[2:])
        key = None
        if len(traversal) > 1 and traversal[1][0] == "index":
            key = traversal.pop(1)[1]
        if len(traversal) < 2:
            return self._instances(root, traversal[0][1], key)
        name, attribute = traversal[0][1], traversal[1][1]
        return _traverse(self._attribute(root, name, key, attribute), traversal[2:])

    def _instances(self, resource_type: str, name: str, key: str | None) -> Any:
        """A resource as a value: its instances by key (for_each), or the one instance; attributes on demand."""
        keys = [key] if key is not None else self.resource_keys(resource_type, name)
        instances = {each: _Instance(self, resource_type, name, each) for each in keys}
        return instances[keys[0]] if keys == [None] or key is not None else instances

    def _attribute(self, resource_type: str, name: str, key: str | None, attribute: str) -> Any:
        body = self._lookup(self.terraform.resources, (resource_type, name), f"{resource_type}.{name}").body
        argument = _NAME_ARGUMENT.get(resource_type, "name")
        if attribute in body:
            return self.argument(resource_type, name, attribute, key)
        if attribute in ("name", "id") and argument in body:
            return self.argument(resource_type, name, argument, key)
        if attribute == "arn" and resource_type in _ARN:
            resource_name = self.argument(resource_type, name, argument, key)
            return _ARN[resource_type].format(region=REGION, account=ACCOUNT_ID, name=resource_name)
        if attribute == "url" and resource_type == "aws_sqs_queue":
            queue = self.argument(resource_type, name, "name", key)
            return f"{self.endpoint}/{ACCOUNT_ID}/{queue}" if self.endpoint else None
        raise _Unsupported(f"{resource_type}.{name}.{attribute}", "an attribute only AWS knows")


@dataclass(frozen=True)
class _Instance:
    evaluator: Evaluator
    resource_type: str
    name: str
    key: str | None

    def __getitem__(self, attribute: str) -> Any:
        return self.evaluator._attribute(self.resource_type, self.name, self.key, attribute)


def _traverse(value: Any, traversal: list[tuple[str, Any]]) -> Any:
    for _, step in traversal:
        value = value[step]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: float) -> float:
    return int(value) if isinstance(value, float) and value.is_integer() else value


_BINARY = {
    "*": lambda a, b: a * b,
    "/": lambda a, b: _number(a / b),
    "%": lambda a, b: a % b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "&&": lambda a, b: a and b,
    "||": lambda a, b: a or b,
}
_FUNCTIONS = {
    "merge": lambda *maps: {key: value for each in maps for key, value in each.items()},
    "length": len,
    "join": lambda separator, items: separator.join(_text(item) for item in items),
    "tostring": _text,
    "floor": math.floor,
    "jsonencode": lambda value: json.dumps(value, separators=(",", ":"), ensure_ascii=False),
    "lookup": lambda mapping, key, default=None: mapping.get(key, default),
}


# --- parsing -----------------------------------------------------------------------------------------
# An expression becomes a tuple: ("literal", v), ("template", [parts]), ("tuple", [items]),
# ("object", [(key, value)]), ("conditional", c, a, b), ("unary", op, x), ("binary", op, a, b),
# ("call", name, [arguments], text), ("reference", root, [("attr", name) | ("index", node)]).

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<string>"(?:[^"\\$]|\\.|\$(?!\{)|\$\{(?:[^{}"]|"(?:[^"\\]|\\.)*"|\{[^{}]*\})*\})*")
    | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    | (?P<operator>\.\.\.|==|!=|<=|>=|&&|\|\||=>|[-+*/%<>!?:=.,()\[\]{}])
    )""",
    re.VERBOSE,
)
_PRECEDENCE = [("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%")]


def _parse_template(text: str) -> tuple:
    """A string python-hcl2 returned: one expression "${...}", or text with ${...} interpolations."""
    parts, position = [], 0
    while (start := text.find("${", position)) >= 0:
        end = _closing_brace(text, start + 1)
        if start > position:
            parts.append(("literal", text[position:start]))
        parts.append(_Parser(text[start + 2 : end]).parse())
        position = end + 1
    if position < len(text):
        parts.append(("literal", text[position:]))
    return parts[0] if len(parts) == 1 and text.startswith("${") else ("template", parts)


def _closing_brace(text: str, opening: int) -> int:
    depth, in_string, index = 0, False, opening
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise _Unsupported(text, "no closing brace")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(text):
            if not text[position:].strip():
                break
            match = _TOKEN.match(text, position)
            if not match:
                raise _Unsupported(text[position:].strip(), "this construct is not supported")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind), match.start(kind)))
            position = match.end()
        self.index = 0

    def parse(self) -> tuple:
        node = self._expression()
        if self.index < len(self.tokens):
            raise self._unsupported()
        return node

    def _peek(self) -> str | None:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str, int]:
        if self.index >= len(self.tokens) or (expected is not None and self.tokens[self.index][1] != expected):
            raise self._unsupported()
        self.index += 1
        return self.tokens[self.index - 1]

    def _unsupported(self) -> _Unsupported:
        start = self.tokens[self.index][2] if self.index < len(self.tokens) else len(self.text)
        return _Unsupported(self.text[start:].strip() or self.text, "this construct is not supported")

    def _expression(self) -> tuple:
        condition = self._binary(0)
        if self._peek() != "?":
            return condition
        self._take("?")
        when_true = self._expression()
        self._take(":")
        return ("conditional", condition, when_true, self._expression())

    def _binary(self, level: int) -> tuple:
        if level == len(_PRECEDENCE):
            return self._unary()
        node = self._binary(level + 1)
        while self._peek() in _PRECEDENCE[level] and self.tokens[self.index][0] == "operator":
            operator = self._take()[1]
            node = ("binary", operator, node, self._binary(level + 1))
        return node

    def _unary(self) -> tuple:
        if self._peek() in ("-", "!"):
            return ("unary", self._take()[1], self._unary())
        return self._postfix(self._primary())

    def _postfix(self, node: tuple) -> tuple:
        while self._peek() in (".", "["):
            if node[0] != "reference":
                raise self._unsupported()
            if self._take()[1] == ".":
                kind, value, _ = self._take()
                if kind not in ("name", "number"):
                    self.index -= 1
                    raise self._unsupported()  # a splat (.*) or the like
                node[2].append(("attr", int(value) if kind == "number" else value))
            else:
                if self._peek() == "*":
                    self.index -= 1
                    raise self._unsupported()
                node[2].append(("index", self._expression()))
                self._take("]")
        return node

    def _primary(self) -> tuple:
        start = self.index
        kind, value, offset = self._take()
        if kind == "number":
            number = float(value)
            return ("literal", int(number) if number.is_integer() and "." not in value else number)
        if kind == "string":
            return _parse_template(json.loads(value))
        if kind == "name":
            if value in ("true", "false", "null"):
                return ("literal", {"true": True, "false": False, "null": None}[value])
            if self._peek() == "(":
                return self._call(value, offset)
            return ("reference", value, [])
        if value == "(":
            node = self._expression()
            self._take(")")
            return node
        if value == "[":
            if self._peek() == "for":
                return self._for("]")
            return ("tuple", self._sequence("]", self._expression))
        if value == "{":
            if self._peek() == "for":
                return self._for("}")
            return ("object", self._sequence("}", self._object_item))
        self.index = start
        raise self._unsupported()

    def _for(self, closing: str) -> tuple:
        self._take("for")
        names = [self._take()[1]]
        if self._peek() == ",":
            self._take(",")
            names.append(self._take()[1])
        self._take("in")
        collection = self._expression()
        self._take(":")
        key = None
        if closing == "}":
            key = self._expression()
            self._take("=>")
        value = self._expression()
        condition = None
        if self._peek() == "if":
            self._take("if")
            condition = self._expression()
        self._take(closing)
        key_name, value_name = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        return ("for", closing == "}", key_name, value_name, collection, key, value, condition)

    def _call(self, name: str, offset: int) -> tuple:
        self._take("(")
        arguments = self._sequence(")", self._expression)
        end = self.tokens[self.index - 1][2] + 1
        return ("call", name, arguments, self.text[offset:end])

    def _object_item(self) -> tuple:
        key = self._expression()
        if self._peek() not in ("=", ":"):
            raise self._unsupported()
        self._take()
        return (key, self._expression())

    def _sequence(self, closing: str, item: Any) -> list:
        items = []
        while self._peek() != closing:
            items.append(item())
            if self._peek() == ",":
                self._take(",")
            elif self._peek() != closing:
                raise self._unsupported()
        self._take(closing)
        return items
