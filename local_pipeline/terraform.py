"""terraform/ read and evaluated for the local stack: its variables' defaults, moto's account and region.

python-hcl2 parses each .tf file into a syntax tree (its lark grammar, hcl2/hcl2.lark), which this module
evaluates: literals, string templates, references to variables, locals, data sources and resource
attributes (for_each instances and dynamic blocks included), arithmetic, comparisons, conditionals, for
expressions and a few functions. Anything else stops the local stack at start-up with the file, the line
and the construct, so it never runs with a value it could not work out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property, partial
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import process_escape_sequences
from lark import Token, Tree

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
        self.node: Tree | None = None


@dataclass(frozen=True)
class Block:
    """A top-level block, or one local: where it is written and its syntax tree, which the evaluator reads."""

    path: Path
    syntax: Tree  # the block, or the local's `name = expression`

    @cached_property
    def body(self) -> Any:
        """Its arguments as python-hcl2 returns them: anything Terraform computes as its text, "${...}".
        Only tests/terraform reads them, so the local stack does not pay for them at start-up."""
        rule = hcl2.transform(self.syntax)
        return rule.expression.serialize(_OPTIONS) if self.syntax.data == "attribute" else rule.body.serialize(_OPTIONS)


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
# .tf file takes about a quarter of a second. Nothing mutates a loaded Terraform.
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
            document = hcl2.parses_to_tree(path.read_text())
        except Exception as error:  # lark's errors carry the line; after their first line they list tokens
            where = f"{path}:{error.line}" if hasattr(error, "line") else str(path)
            raise UnsupportedTerraform(f"{where}: python-hcl2 cannot parse it: {str(error).splitlines()[0]}") from error
        for block in _subtrees(_subtrees(document)[0]):
            if block.data != "block":
                raise UnsupportedTerraform(f"{path}:{block.meta.line}: an argument outside any block")
            kind, *labels = [_label(label) for label in _subtrees(block)[:-1]]
            if kind == "locals":
                for local in _subtrees(_subtrees(block)[-1]):
                    terraform.locals[_label(_subtrees(local)[0])] = Block(path, local)
            elif kind in declared:
                declared[kind][tuple(labels) if len(labels) > 1 else labels[0]] = Block(path, block)
            else:
                terraform.other.setdefault(kind, []).append(hcl2.transform(block).serialize(_OPTIONS))
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
            self._locals[name] = self._in_block(block, lambda: self._evaluate(_subtrees(block.syntax)[1], {}))
        return self._locals[name]

    def variable(self, name: str) -> Any:
        if name in self._variables:
            return self._variables[name]
        block = self._lookup(self.terraform.variables, name, f"var.{name}")
        if "default" not in _declared(block.syntax):
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
            each = {"key": key, "value": self._argument(block, "for_each")[key]}
            return self._argument(block, argument, {"each": each})

        return self._in_block(block, evaluate)

    def resource_keys(self, resource_type: str, name: str) -> list[str | None]:
        """The instance keys of a resource: its for_each keys, or [None] for a single instance."""
        block = self._lookup(self.terraform.resources, (resource_type, name), f"{resource_type}.{name}")
        if "for_each" not in _declared(block.syntax):
            return [None]
        return list(self._in_block(block, lambda: self._argument(block, "for_each")))

    def output(self, name: str) -> Any:
        block = self.terraform.outputs[name]
        return self._in_block(block, lambda: self._argument(block, "value"))

    # --- blocks --------------------------------------------------------------------------------------

    def _argument(self, block: Block, name: str, scope: dict[str, Any] | None = None) -> Any:
        return self._body(_subtrees(block.syntax)[-1], scope or {}, name)[name]

    def _body(self, body: Tree, scope: dict[str, Any], only: str | None = None) -> dict[str, Any]:
        """A block's body as python-hcl2 would return it (nested blocks as lists), evaluated, dynamic blocks
        expanded; `only` evaluates just the argument or nested blocks of that name."""
        result: dict[str, Any] = {}
        for child in _subtrees(body):
            head, *rest = _subtrees(child)
            name = _label(head)  # an argument's name, or a nested block's type
            if child.data == "attribute":
                if only in (None, name):
                    result[name] = self._evaluate(rest[0], scope)
                continue
            labels = [_label(label) for label in rest[:-1]]
            if name == "dynamic" and only in (None, labels[0]):
                result.setdefault(labels[0], []).extend(self._dynamic(rest[-1], labels[0], scope))
            elif name != "dynamic" and only in (None, name):
                value = self._body(rest[-1], scope)
                for label in reversed(labels):
                    value = {label: value}
                result.setdefault(name, []).append(value)
        return result

    def _dynamic(self, body: Tree, name: str, scope: dict[str, Any]) -> list[dict[str, Any]]:
        """A dynamic block's content, once for each element of its for_each."""
        spec = {_label(_subtrees(child)[0]): _subtrees(child)[-1] for child in _subtrees(body)}
        iterator = _label(_subtrees(spec["iterator"])[0]) if "iterator" in spec else name
        collection = self._evaluate(spec["for_each"], scope)
        items = collection.items() if isinstance(collection, dict) else enumerate(collection)
        return [self._body(spec["content"], scope | {iterator: {"key": key, "value": value}}) for key, value in items]

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

    def _located(self, block: Block, node: Tree, reason: str, construct: str = "") -> UnsupportedTerraform:
        # The construct as written, on one line.
        construct = construct or " ".join(block.path.read_text()[node.meta.start_pos : node.meta.end_pos].split())
        return UnsupportedTerraform(
            f"{block.path}:{node.meta.line}: the local stack cannot evaluate this Terraform ({reason}): {construct}"
        )

    # --- expressions ---------------------------------------------------------------------------------

    def _evaluate(self, node: Tree, scope: dict[str, Any]) -> Any:
        """An expression of python-hcl2's grammar (hcl2/hcl2.lark) evaluated, `scope` binding each, dynamic
        blocks' iterators and for expressions' names."""
        try:
            parts = _subtrees(node)
            match node.data:
                case "expr_term" | "interpolation":
                    return self._evaluate(parts[0], scope)
                case "string":
                    return self._string(parts, scope)
                case "get_attr_expr_term":
                    return self._evaluate(parts[0], scope)[_label(_subtrees(parts[1])[0])]
                case "identifier":
                    return self._name(_label(node), scope)
                case "int_lit":
                    return int(node.children[0])
                case "float_lit":
                    return float(node.children[0])
                case "literal_value":
                    return {"true": True, "false": False, "null": None}[node.children[0]]
                case "index_expr_term":
                    collection, index = parts
                    if index.data == "short_index":  # list.0
                        return self._evaluate(collection, scope)[int(index.children[1])]
                    return self._evaluate(collection, scope)[self._evaluate(_subtrees(index)[0], scope)]
                case "tuple":
                    return [self._evaluate(element, scope) for element in parts]
                case "object":
                    items = [_subtrees(item) for item in parts]
                    return {self._key(key, scope): self._evaluate(value, scope) for key, value in items}
                case "conditional":
                    condition, if_true, if_false = parts
                    return self._evaluate(if_true if self._evaluate(condition, scope) else if_false, scope)
                case "unary_op":
                    operand = self._evaluate(parts[0], scope)
                    return -operand if node.children[0] == "-" else not operand
                case "binary_op":
                    left, (operator, right) = parts[0], _subtrees(parts[1])
                    return _BINARY[operator.children[0].strip()](
                        self._evaluate(left, scope), self._evaluate(right, scope)
                    )
                case "function_call":
                    return self._call(parts, scope)
                case "for_tuple_expr" | "for_object_expr":
                    return self._for(node, parts, scope)
            raise _Unsupported("this construct is not supported")
        except _Unsupported as error:
            if error.node is None:
                error.node = node
            raise

    def _string(self, parts: list[Tree], scope: dict[str, Any]) -> Any:
        contents = [part.children[0] for part in parts]
        if len(contents) == 1 and isinstance(contents[0], Tree) and contents[0].data == "interpolation":
            return self._evaluate(contents[0], scope)  # "${x}" is x itself, not its text
        text = []
        for content in contents:
            if isinstance(content, Token) and content.type == "STRING_CHARS":
                text.append(process_escape_sequences(content))
            elif isinstance(content, Token):  # $${ and %%{ are a literal ${ and %{
                text.append(content[1:])
            elif content.data == "interpolation":
                text.append(_text(self._evaluate(content, scope)))
            else:
                raise _Unsupported("template directives are not supported")
        return "".join(text)

    def _call(self, parts: list[Tree], scope: dict[str, Any]) -> Any:
        name = "::".join(_label(part) for part in parts if part.data == "identifier")
        if name not in _FUNCTIONS:
            raise _Unsupported(f"the function {name}() is not supported")
        arguments = _subtrees(parts[-1]) if parts[-1].data == "arguments" else []
        values = [self._evaluate(argument, scope) for argument in arguments]
        if _has_ellipsis(parts[-1]):  # f(a, list...) passes the list's elements
            values[-1:] = values[-1]
        return _FUNCTIONS[name](*values)

    def _for(self, node: Tree, parts: list[Tree], scope: dict[str, Any]) -> Any:
        """[for k, v in X : V if C] and {for k, v in X : K => V if C}; a map's keys in lexical order, as Terraform."""
        if _has_ellipsis(node):
            raise _Unsupported("grouping (...) is not supported")
        intro, *results = parts
        condition = results.pop() if results[-1].data == "for_cond" else None
        *iterators, iterable = _subtrees(intro)
        names = [_label(iterator) for iterator in iterators]
        collection = self._evaluate(iterable, scope)
        pairs = sorted(collection.items()) if isinstance(collection, dict) else enumerate(collection)
        result: Any = {} if node.data == "for_object_expr" else []
        for key, value in pairs:
            inner = scope | dict(zip(names, (key, value) if len(names) == 2 else (value,), strict=True))
            if condition is not None and not self._evaluate(_subtrees(condition)[0], inner):
                continue
            if isinstance(result, dict):
                result[_text(self._evaluate(results[0], inner))] = self._evaluate(results[1], inner)
            else:
                result.append(self._evaluate(results[0], inner))
        return result

    def _key(self, key: Tree, scope: dict[str, Any]) -> str:
        [expression] = _subtrees(key)
        if expression.data == "keyword":
            return _label(expression)
        # An object key that is a bare name is the name itself, not a reference.
        if len(expression.children) == 1 and expression.children[0].data == "identifier":
            return _label(expression.children[0])
        return str(self._evaluate(expression, scope))

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
        block = self._lookup(self.terraform.resources, (resource_type, name), f"{resource_type}.{name}")
        declared, argument = _declared(block.syntax), _NAME_ARGUMENT.get(resource_type, "name")
        if attribute in declared:
            return self.argument(resource_type, name, attribute, key)
        if attribute in ("name", "id") and argument in declared:
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


def _subtrees(node: Tree) -> list[Tree]:
    """A node's children that carry meaning: not its punctuation, keywords, newlines and comments."""
    return [child for child in node.children if isinstance(child, Tree) and child.data != "new_line_or_comment"]


def _label(node: Tree) -> str:
    """A name (identifier, keyword, true/false/null) or a block's label, which may be a quoted string."""
    if node.data == "string":
        return process_escape_sequences("".join(part.children[0] for part in _subtrees(node)))
    return str(node.children[0])


def _declared(block: Tree) -> set[str]:
    """The names of a block's arguments and nested blocks."""
    return {_label(_subtrees(child)[0]) for child in _subtrees(_subtrees(block)[-1])}


def _has_ellipsis(node: Tree) -> bool:
    return any(isinstance(child, Token) and child.type == "ELLIPSIS" for child in node.children)


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
