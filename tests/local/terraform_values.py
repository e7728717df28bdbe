"""Evaluates the values terraform/ gives with its default variables, for the local account and region.

Enough of Terraform's expression language for the settings the local stack copies: literals,
references to variables, locals, data sources and resource attributes, string templates,
arithmetic, floor(), tostring() and join(). Anything else raises Unsupported, so a test never compares
against a value it could not work out.

Run `python -m tests.local.terraform_values` to rewrite local_pipeline/dashboard.json from
terraform/dashboard.tf.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from local_pipeline.stack import ACCOUNT_ID, REGION
from tests.terraform.stack import Stack, load_stack

DASHBOARD_FILE = Path(__file__).resolve().parents[2] / "local_pipeline" / "dashboard.json"
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_REFERENCE = re.compile(rf'(?:data\.)?{_NAME}(?:\.{_NAME}|\["[^"]*"\])+')
_ARITHMETIC = re.compile(r"[\d\s+\-*/().]+")
# The attribute that holds a resource's name, per type; other attributes are derived below.
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


class Unsupported(Exception):
    """An expression this evaluator does not handle."""


class TerraformValues:
    def __init__(self, stack: Stack | None = None) -> None:
        self.stack = stack or load_stack()

    def __call__(self, value: Any) -> Any:
        """The value of an argument as python-hcl2 returns it, with every expression evaluated."""
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, str) or "${" not in value:
            return value
        if value.startswith("${") and _closing_brace(value, 1) == len(value) - 1:
            return self.expression(value[2:-1])
        return self._template(value)

    def variable(self, name: str) -> Any:
        return self.stack.variables[name].get("default")

    def resource(self, resource_type: str, name: str) -> dict[str, Any]:
        return self.stack.of_type(resource_type)[name]

    def expression(self, text: str) -> Any:
        text = text.strip()
        if _REFERENCE.fullmatch(text):
            return self.reference(text)
        if match := re.fullmatch(r"floor\((.+)\)", text):
            return math.floor(self.expression(match.group(1)))
        if match := re.fullmatch(r"tostring\((.+)\)", text):
            value = self.expression(match.group(1))
            return str(value).lower() if isinstance(value, bool) else str(value)
        if match := re.fullmatch(r'join\(("(?:[^"\\]|\\.)*"),\s*\[(.*)\]\)', text, re.DOTALL):
            parts = json.loads(f"[{match.group(2).rstrip().rstrip(',')}]")
            return json.loads(match.group(1)).join(self(part) for part in parts)
        arithmetic = _REFERENCE.sub(lambda m: repr(self.reference(m.group(0))), text)
        if _ARITHMETIC.fullmatch(arithmetic):
            return eval(arithmetic, {"__builtins__": {}})  # digits and operators only, checked above
        raise Unsupported(text)

    def reference(self, text: str) -> Any:
        parts = re.findall(rf'{_NAME}|\["[^"]*"\]', text)
        if parts[0] == "var":
            return self.variable(parts[1])
        if parts[0] == "local":
            return self(self.stack.locals[parts[1]])
        if parts[0] == "data":
            return {
                "aws_caller_identity": ACCOUNT_ID,
                "aws_region": REGION,
                "aws_partition": "aws",
            }[parts[1]]
        resource_type, name, *rest = parts
        key = json.loads(rest.pop(0)[1:-1]) if rest and rest[0].startswith("[") else None
        return self._attribute(resource_type, name, key, rest[0])

    def _attribute(self, resource_type: str, name: str, key: str | None, attribute: str) -> Any:
        body = self.resource(resource_type, name)
        if attribute == "arn":
            resource_name = self._attribute(resource_type, name, key, "name")
            return _ARN[resource_type].format(region=REGION, account=ACCOUNT_ID, name=resource_name)
        argument = _NAME_ARGUMENT.get(resource_type, "name") if attribute in ("name", "id") else attribute
        value = body[argument]
        if key is not None and value == "${each.value}":
            return self(self(body["for_each"])[key])
        return self(value)

    def _template(self, text: str) -> str:
        result, position = [], 0
        while (start := text.find("${", position)) >= 0:
            end = _closing_brace(text, start + 1)
            result += [text[position:start], str(self.expression(text[start + 2 : end]))]
            position = end + 1
        return "".join(result) + text[position:]


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
    raise Unsupported(f"no closing brace in {text!r}")


def dashboard_body(values: TerraformValues | None = None) -> dict[str, Any]:
    """terraform/dashboard.tf's dashboard_body for the local account and region."""
    values = values or TerraformValues()
    body = values.resource("aws_cloudwatch_dashboard", "pipeline")["dashboard_body"]
    if body != "${jsonencode({widgets = local.dashboard_widgets})}":
        raise Unsupported(body)
    return {"widgets": values(values.stack.locals["dashboard_widgets"])}


def dashboard_json(values: TerraformValues | None = None) -> str:
    return json.dumps(dashboard_body(values), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    DASHBOARD_FILE.write_text(dashboard_json())
    print(f"wrote {DASHBOARD_FILE}")
