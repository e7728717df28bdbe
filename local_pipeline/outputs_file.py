"""The running local stack's outputs, for the operator tools: PIPELINE_LOCAL_OUTPUTS, by default
.local-stack/outputs.json, holding terraform/outputs.tf evaluated for this stack in the shape of
`terraform output -json`, with the pid that owns it. A reader trusts it only while that pid runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

OUTPUTS_VARIABLE = "PIPELINE_LOCAL_OUTPUTS"
DEFAULT_OUTPUTS_FILE = Path(__file__).resolve().parents[1] / ".local-stack" / "outputs.json"


def outputs_path() -> Path:
    """Where the running local stack's outputs file is: PIPELINE_LOCAL_OUTPUTS, else the default."""
    return Path(os.environ.get(OUTPUTS_VARIABLE) or DEFAULT_OUTPUTS_FILE)


def write_outputs(path: Path, endpoint: str, region: str, outputs: dict[str, dict[str, Any]]) -> None:
    """Atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"pid": os.getpid(), "endpoint_url": endpoint, "region": region, "outputs": outputs}
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
