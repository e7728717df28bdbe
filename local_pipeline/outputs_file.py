"""The running local stack's outputs, for the operator tools: PIPELINE_LOCAL_OUTPUTS, by default
.local-stack/outputs.json, holding terraform/outputs.tf evaluated for this stack in the shape of
`terraform output -json`, with the pid that owns it. A reader trusts it only while that pid runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from local_pipeline.terraform import REGION, TERRAFORM_DIR, Evaluator, load_terraform

OUTPUTS_VARIABLE = "PIPELINE_LOCAL_OUTPUTS"
DEFAULT_OUTPUTS_FILE = TERRAFORM_DIR.parent / ".local-stack" / "outputs.json"


def outputs_path() -> Path:
    return Path(os.environ.get(OUTPUTS_VARIABLE) or DEFAULT_OUTPUTS_FILE)


def local_outputs(terraform_dir: Path, endpoint: str, dashboard_url: str) -> dict[str, dict[str, Any]]:
    """Every output of terraform_dir, valued for the local stack at `endpoint`."""
    values = Evaluator(load_terraform(terraform_dir), endpoint=endpoint)
    outputs = {}
    for name in values.terraform.outputs:
        # The console URL Terraform gives names AWS's console; locally the dashboard is a page of the endpoint.
        value = dashboard_url if name == "dashboard_url" else values.output(name)
        outputs[name] = {"sensitive": False, "type": _type(value), "value": value}
    return outputs


def write_outputs(path: Path, endpoint: str, outputs: dict[str, dict[str, Any]]) -> None:
    """Atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"pid": os.getpid(), "endpoint_url": endpoint, "region": REGION, "outputs": outputs}
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(path)


def remove_outputs(path: Path) -> None:
    """Only this process's file: another local stack may have started since and written its own."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _type(value: Any) -> str:
    # terraform output -json names a type; a null output here is a conditional whose other branch is a string.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string"
