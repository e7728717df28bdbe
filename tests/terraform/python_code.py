"""What the Python side declares, read from its source (AST) rather than imported: handler functions,
the environment variables each Lambda package reads, CloudWatch metric names, and build.py's defaults."""

from __future__ import annotations

import ast
import re
from typing import Any

from tests.terraform.stack import REPO_ROOT

# Set by the Lambda runtime itself, never by the stack (image_processor's worker extends PYTHONPATH).
_RUNTIME_PROVIDED = re.compile(r"^(AWS_|_X_AMZN|LAMBDA_|_HANDLER$|TZ$|PYTHONPATH$)")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# What each function's zip holds besides its own package (CONTRACTS.md, build.sh).
SHARED_PACKAGES = ("pipeline_common",)


def _trees(package: str) -> list[ast.Module]:
    return [ast.parse(path.read_text(), str(path)) for path in sorted((REPO_ROOT / package).rglob("*.py"))]


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "environ") or (
        isinstance(node, ast.Attribute) and node.attr == "environ"
    )


def _env_names_in(tree: ast.Module) -> set[str]:
    """Upper-case string literals used as keys of os.environ / an `environ` mapping, or of os.getenv."""
    names: set[str] = set()
    for node in ast.walk(tree):
        candidates: list[ast.AST] = []
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            candidates = [node.slice]
        elif isinstance(node, ast.Call):
            function = node.func
            reads_environ = any(_is_environ(argument) for argument in node.args) or (
                isinstance(function, ast.Attribute)
                and (_is_environ(function.value) or function.attr == "getenv")
                and function.attr in ("get", "getenv", "pop", "setdefault")
            )
            if reads_environ:
                candidates = list(node.args)
        for candidate in candidates:
            value = candidate.value if isinstance(candidate, ast.Constant) else None
            if isinstance(value, str) and _ENV_NAME.match(value) and not _RUNTIME_PROVIDED.match(value):
                names.add(value)
    return names


def environment_variables_read(function: str) -> set[str]:
    """Every environment variable the code shipped in `function`'s zip reads."""
    packages = (function, *SHARED_PACKAGES)
    return {name for package in packages for tree in _trees(package) for name in _env_names_in(tree)}


def string_literals(function: str) -> set[str]:
    return {
        node.value
        for package in (function, *SHARED_PACKAGES)
        for tree in _trees(package)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def handler_parameters(handler: str) -> list[str] | None:
    """Parameter names of the function a Lambda handler string ("pkg.module.function") names, or None."""
    *module, function = handler.split(".")
    path = REPO_ROOT.joinpath(*module[:-1], f"{module[-1]}.py")
    if not path.is_file():
        return None
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return [argument.arg for argument in node.args.args]
    return None


def module_constants(relative_path: str) -> dict[str, Any]:
    """Top-level NAME = <literal> assignments of a Python file (dict/call values kept as source text)."""
    tree = ast.parse((REPO_ROOT / relative_path).read_text())
    constants: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                if isinstance(node.value, ast.Dict):
                    constants[node.targets[0].id] = {ast.literal_eval(key): None for key in node.value.keys if key}
    return constants
