"""The Terraform stack as local_pipeline/terraform.py reads it, for tests that check what terraform/ declares.

Values come back as python-hcl2 gives them: literals as themselves, anything Terraform computes as its
source text, e.g. "${aws_sqs_queue.metadata.arn}". Blocks are lists of dicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

from local_pipeline.terraform import TERRAFORM_DIR, load_terraform

REPO_ROOT = TERRAFORM_DIR.parent

_OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
# "${aws_sqs_queue.metadata.arn}", "${aws_s3_bucket.this[\"uploads\"].arn}", "${local.region}"
_REFERENCE = re.compile(r"^\$\{((?:data\.)?[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+|\[[^\]]+\])*)\}$")


@dataclass(frozen=True)
class Stack:
    resources: dict[str, dict[str, dict[str, Any]]]  # type -> name -> arguments
    data: dict[str, dict[str, dict[str, Any]]]
    variables: dict[str, dict[str, Any]]
    locals: dict[str, Any]
    outputs: dict[str, dict[str, Any]]
    terraform: list[dict[str, Any]]
    providers: dict[str, list[dict[str, Any]]]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(resource_type, {})

    def resolves(self, reference: str) -> bool:
        """True when `reference` (e.g. "aws_sqs_queue.metadata.arn") names something this stack declares."""
        parts = re.split(r"\.|(?=\[)", reference)
        if parts[0] == "var":
            return parts[1] in self.variables
        if parts[0] == "local":
            return parts[1] in self.locals
        if parts[0] == "data":
            return parts[2] in self.data.get(parts[1], {})
        return len(parts) >= 2 and parts[1] in self.of_type(parts[0])


def reference(value: Any) -> str | None:
    """The traversal a value consists of ("aws_sqs_queue.metadata.arn"), or None for anything else."""
    match = _REFERENCE.match(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a resource, e.g. block(function, "environment")."""
    blocks = body.get(name, [])
    assert len(blocks) == 1, f"expected exactly one {name} block, found {len(blocks)}"
    return blocks[0]


def load_hcl(path: Path) -> dict[str, Any]:
    return hcl2.loads(path.read_text(), serialization_options=_OPTIONS)


@cache
def load_stack(directory: Path = TERRAFORM_DIR) -> Stack:
    terraform = load_terraform(directory)
    resources: dict[str, dict[str, dict[str, Any]]] = {}
    data: dict[str, dict[str, dict[str, Any]]] = {}
    for source, target in ((terraform.resources, resources), (terraform.data, data)):
        for (kind, name), declared in source.items():
            target.setdefault(kind, {})[name] = declared.body
    providers: dict[str, list[dict[str, Any]]] = {}
    for entry in terraform.other.get("provider", []):
        for name, body in entry.items():
            providers.setdefault(name, []).append(body)
    return Stack(
        resources,
        data,
        {name: declared.body for name, declared in terraform.variables.items()},
        {name: declared.body for name, declared in terraform.locals.items()},
        {name: declared.body for name, declared in terraform.outputs.items()},
        terraform.other.get("terraform", []),
        providers,
    )
