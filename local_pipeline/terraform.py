"""terraform/ read and evaluated for the local stack: its variables' defaults, moto's account and region.

python-hcl2 parses each .tf file into a syntax tree, which this module evaluates: literals, string
templates, references to variables, locals, data sources and resource attributes (for_each instances
and dynamic blocks included), arithmetic, comparisons, conditionals, for expressions and a few
functions. Anything else stops the local stack at start-up with the file, the line and the construct,
so it never runs with a value it could not work out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any

import hcl2
from hcl2.rules.base import AttributeRule, BlockRule, BodyRule
from hcl2.rules.containers import ObjectElemKeyExpressionRule, ObjectRule, TupleRule
from hcl2.rules.expressions import BinaryOpRule, ConditionalRule, ExprTermRule, UnaryOpRule
from hcl2.rules.for_expressions import ForObjectExprRule, ForTupleExprRule
from hcl2.rules.functions import FunctionCallRule
from hcl2.rules.indexing import GetAttrExprTermRule, IndexExprTermRule, ShortIndexRule
from hcl2.rules.literal_rules import FloatLitRule, IdentifierRule, IntLitRule, LiteralValueRule
from hcl2.rules.strings import InterpolationRule, StringRule
from hcl2.utils import process_escape_sequences

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
    """Raised while evaluating; the innermost expression it leaves is the construct the message names,
    and the block it came from gives the file."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.node: Any = None


@dataclass(frozen=True)
class Block:
    """A top-level block, or one local: where it is written, its arguments as python-hcl2 returns them
    (anything Terraform computes as its text, "${...}"), and its syntax tree, which the evaluator reads."""

    path: Path
    body: Any
    syntax: BlockRule | AttributeRule


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
    # resource and data blocks by (type, name), variables and outputs by name
    declared = {
        "resource": terraform.resources,
        "data": terraform.data,
        "variable": terraform.variables,
        "output": terraform.outputs,
    }
    for path in sorted(terraform_dir.glob("*.tf")):
        try:
            document = hcl2.parses(path.read_text(), discard_comments=True)
        except Exception as error:  # python-hcl2 raises lark's errors, which carry the line
            raise UnsupportedTerraform(f"{path}: python-hcl2 cannot parse it: {error}") from error
        for block in document.body.children:
            if not isinstance(block, BlockRule):
                raise UnsupportedTerraform(f"{path}:{_position(block).line}: an argument outside any block")
            kind, *labels = [label.serialize(_OPTIONS) for label in block.labels]
            if kind == "locals":
                for local in block.body.children:
                    body = local.expression.serialize(_OPTIONS)
                    terraform.locals[local.identifier.serialize()] = Block(path, body, local)
            elif kind in declared:
                address = tuple(labels) if len(labels) > 1 else labels[0]
                declared[kind][address] = Block(path, block.body.serialize(_OPTIONS), block)
            else:
                terraform.other.setdefault(kind, []).append(block.serialize(_OPTIONS))
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
            self._locals[name] = self._in_block(block, lambda: self._evaluate(block.syntax.expression, {}))
        return self._locals[name]

    def variable(self, name: str) -> Any:
        if name in self._variables:
            return self._variables[name]
        block = self._lookup(self.terraform.variables, name, f"var.{name}")
        if "default" not in block.body:
            reason = "the local stack needs a default for every variable it reads"
            raise self._located(block, block.syntax, reason, f"var.{name}")
        return self._in_block(block, lambda: self._argument(block, "default"))

    def argument(self, resource_type: str, name: str, argument: str, key: str | None = None) -> Any:
        """One argument (or the list of one kind of nested block) of a resource, evaluated; `key` picks a
        for_each instance. Only what is asked for is evaluated: a resource's other arguments may be
        things only AWS knows."""
        block = self._lookup(self.terraform.resources, (resource_type, name), f"{resource_type}.{name}")

        def evaluate() -> Any:
            if key is None:
                return self._argument(block, argument)
            return self._argument(
                block, argument, {"each": {"key": key, "value": self._argument(block, "for_each")[key]}}
            )

        return self._in_block(block, evaluate)

    def resource_keys(self, resource_type: str, name: str) -> list[str | None]:
        """The instance keys of a resource: its for_each keys, or [None] for a single instance."""
        block = self._lookup(self.terraform.resources, (resource_type, name), f"{resource_type}.{name}")
        if "for_each" not in block.body:
            return [None]
        return list(self._in_block(block, lambda: self._argument(block, "for_each")))

    def output(self, name: str) -> Any:
        block = self.terraform.outputs[name]
        return self._in_block(block, lambda: self._argument(block, "value"))

    # --- blocks --------------------------------------------------------------------------------------

    def _argument(self, block: Block, name: str, scope: dict[str, Any] | None = None) -> Any:
        return self._body(block.syntax.body, scope or {}, name)[name]

    def _body(self, body: BodyRule, scope: dict[str, Any], only: str | None = None) -> dict[str, Any]:
        """A block's body as python-hcl2 would return it (nested blocks as lists), evaluated, dynamic blocks
        expanded; `only` evaluates just the argument or nested blocks of that name."""
        result: dict[str, Any] = {}
        for child in body.children:
            if isinstance(child, AttributeRule):
                name = child.identifier.serialize()
                if only in (None, name):
                    result[name] = self._evaluate(child.expression, scope)
                continue
            kind, *labels = [label.serialize(_OPTIONS) for label in child.labels]
            if kind == "dynamic" and only in (None, labels[0]):
                result.setdefault(labels[0], []).extend(self._dynamic(child, labels[0], scope))
            elif kind != "dynamic" and only in (None, kind):
                value = self._body(child.body, scope)
                for label in reversed(labels):
                    value = {label: value}
                result.setdefault(kind, []).append(value)
        return result

    def _dynamic(self, dynamic: BlockRule, name: str, scope: dict[str, Any]) -> list[dict[str, Any]]:
        """A dynamic block's content, once for each element of its for_each."""
        children = dynamic.body.children
        spec = {
            child.identifier.serialize(): child.expression for child in children if isinstance(child, AttributeRule)
        }
        [content] = [child.body for child in children if isinstance(child, BlockRule)]
        iterator = spec["iterator"].serialize() if "iterator" in spec else name
        collection = self._evaluate(spec["for_each"], scope)
        items = collection.items() if isinstance(collection, dict) else enumerate(collection)
        return [self._body(content, scope | {iterator: {"key": key, "value": value}}) for key, value in items]

    def _lookup(self, blocks: dict[Any, Block], key: Any, what: str) -> Block:
        if key not in blocks:
            if self._block is None:
                raise UnsupportedTerraform(f"{self.terraform.directory}: no {what} declared")
            raise _Unsupported("not declared in terraform/")
        return blocks[key]

    def _in_block(self, block: Block, evaluate: Callable[[], Any]) -> Any:
        outer, self._block = self._block, block
        try:
            return evaluate()
        except _Unsupported as error:
            raise self._located(block, error.node if error.node is not None else block.syntax, error.reason) from None
        finally:
            self._block = outer

    def _located(self, block: Block, node: Any, reason: str, construct: str = "") -> UnsupportedTerraform:
        position = _position(node)
        # The construct as written, on one line.
        construct = construct or " ".join(block.path.read_text()[position.start_pos : position.end_pos].split())
        return UnsupportedTerraform(
            f"{block.path}:{position.line}: the local stack cannot evaluate this Terraform ({reason}): {construct}"
        )

    # --- expressions ---------------------------------------------------------------------------------

    def _evaluate(self, node: Any, scope: dict[str, Any]) -> Any:
        try:
            match node:
                case ExprTermRule():
                    return self._evaluate(node.expression, scope)
                case StringRule():
                    return self._string(node, scope)
                case GetAttrExprTermRule():
                    return self._evaluate(node.expr_term, scope)[node.get_attr.identifier.serialize()]
                case IdentifierRule():
                    return self._name(node.serialize(), scope)
                case IntLitRule() | FloatLitRule() | LiteralValueRule():
                    return node.serialize()
                case IndexExprTermRule():
                    collection, index = node.children
                    if isinstance(index, ShortIndexRule):  # list.0
                        return self._evaluate(collection, scope)[int(index.index.value)]
                    return self._evaluate(collection, scope)[self._evaluate(index.index_expression, scope)]
                case TupleRule():
                    return [self._evaluate(element, scope) for element in node.elements]
                case ObjectRule():
                    return {
                        self._key(item.key, scope): self._evaluate(item.expression, scope) for item in node.elements
                    }
                case ConditionalRule():
                    branch = node.if_true if self._evaluate(node.condition, scope) else node.if_false
                    return self._evaluate(branch, scope)
                case UnaryOpRule():
                    operand = self._evaluate(node.expr_term, scope)
                    return -operand if node.operator.strip() == "-" else not operand
                case BinaryOpRule():
                    operator = _BINARY[node.binary_term.binary_operator.token.value.strip()]
                    return operator(
                        self._evaluate(node.expr_term, scope), self._evaluate(node.binary_term.expr_term, scope)
                    )
                case FunctionCallRule():
                    return self._call(node, scope)
                case ForTupleExprRule() | ForObjectExprRule():
                    return self._for(node, scope)
            raise _Unsupported("this construct is not supported")
        except _Unsupported as error:
            if error.node is None:
                error.node = node
            raise

    def _string(self, node: StringRule, scope: dict[str, Any]) -> Any:
        parts = [part.content for part in node.string_parts]
        if len(parts) == 1 and isinstance(parts[0], InterpolationRule):
            return self._evaluate(parts[0].expression, scope)  # "${x}" is x itself, not its text
        text = []
        for part in parts:
            if isinstance(part, InterpolationRule):
                text.append(_text(self._evaluate(part.expression, scope)))
            elif part.lark_name() == "STRING_CHARS":
                text.append(process_escape_sequences(part.value))
            elif part.lark_name() in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                text.append(part.value[1:])  # $${ and %%{ are a literal ${ and %{
            else:
                raise _Unsupported("template directives are not supported")
        return "".join(text)

    def _call(self, node: FunctionCallRule, scope: dict[str, Any]) -> Any:
        name = "::".join(identifier.serialize() for identifier in node.identifiers)
        if name not in _FUNCTIONS:
            raise _Unsupported(f"the function {name}() is not supported")
        arguments = [self._evaluate(argument, scope) for argument in node.arguments.arguments] if node.arguments else []
        if node.arguments and node.arguments.has_ellipsis:  # f(a, list...) passes the list's elements
            arguments[-1:] = arguments[-1]
        return _FUNCTIONS[name](*arguments)

    def _for(self, node: ForTupleExprRule | ForObjectExprRule, scope: dict[str, Any]) -> Any:
        """[for k, v in X : V if C] and {for k, v in X : K => V if C}; a map's keys in lexical order, as Terraform."""
        is_object = isinstance(node, ForObjectExprRule)
        if is_object and node.ellipsis is not None:
            raise _Unsupported("grouping (...) is not supported")
        intro = node.for_intro
        names = [name.serialize() for name in (intro.first_iterator, intro.second_iterator) if name is not None]
        collection = self._evaluate(intro.iterable, scope)
        pairs = sorted(collection.items()) if isinstance(collection, dict) else enumerate(collection)
        result: Any = {} if is_object else []
        for key, value in pairs:
            inner = scope | dict(zip(names, (key, value) if len(names) == 2 else (value,), strict=True))
            if node.condition is not None and not self._evaluate(node.condition.condition_expr, inner):
                continue
            if is_object:
                result[_text(self._evaluate(node.key_expr, inner))] = self._evaluate(node.value_expr, inner)
            else:
                result.append(self._evaluate(node.value_expr, inner))
        return result

    def _key(self, key: Any, scope: dict[str, Any]) -> str:
        if isinstance(key, ObjectElemKeyExpressionRule):
            return str(self._evaluate(key.expression, scope))
        # An object key that is a bare name is the name itself, not a reference.
        if isinstance(key.value, IdentifierRule):
            return key.value.serialize()
        return str(self._evaluate(key.value, scope))

    def _name(self, name: str, scope: dict[str, Any]) -> Any:
        """What a reference starts from: a name in scope, var, local, data, or a resource type."""
        if name in scope:
            return scope[name]
        match name:
            case "var":
                return _Namespace(self.variable)
            case "local":
                return _Namespace(self.local)
            case "data":
                return _Namespace(lambda source: _Namespace(partial(self._data_source, source)))
        return _Namespace(partial(self._instances, name))

    def _data_source(self, source: str, name: str) -> dict[str, str]:
        if source not in _DATA_SOURCES or (source, name) not in self.terraform.data:
            raise _Unsupported("not a data source the local stack knows")
        return _DATA_SOURCES[source]

    def _instances(self, resource_type: str, name: str) -> Any:
        """A resource as a value: its instances by key (for_each), or the one instance; attributes on demand."""
        keys = self.resource_keys(resource_type, name)
        if keys == [None]:
            return _Namespace(partial(self._attribute, resource_type, name, None))
        return {key: _Namespace(partial(self._attribute, resource_type, name, key)) for key in keys}

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
        raise _Unsupported("an attribute only AWS knows")


@dataclass(frozen=True)
class _Namespace:
    """var, local, data, data.<type>, a resource type or a resource instance as a value: what a name under it
    stands for is looked up when asked for."""

    lookup: Callable[[str], Any]

    def __getitem__(self, name: str) -> Any:
        return self.lookup(name)


def _position(node: Any) -> Any:
    """Where a node of python-hcl2's tree is written: line, start_pos, end_pos."""
    # A rule keeps its position to itself; the lark tree it converts back to carries it. Only errors ask.
    return node.to_lark().meta


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
