"""Runs terraform without network for the tests, on a throwaway copy of the stack.

The AWS provider cannot be downloaded here. ../shared/tfvalidate serves its schema from a stand-in
(see ../shared/README.md): `validate` runs `terraform validate` against it, and the same stand-in,
behind a `mock_provider` block, lets `terraform test` plan and "apply" the stack with fake values.
Where terraform or ../shared is missing (a user's clone), the tests skip; in CI (CI=true) they fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.terraform.stack import REPO_ROOT, TERRAFORM_DIR

SHARED_DIR = REPO_ROOT.parent / "shared"
TFVALIDATE_DIR = SHARED_DIR / "tfvalidate"
VALIDATE = TFVALIDATE_DIR / "validate"
TFTEST_DIR = Path(__file__).parent / "tftest"
FUNCTIONS = ("image_processor", "db_writer")


def require(available: bool, what: str) -> None:
    """Skips the test when `what` is missing, except in CI, where every check must run."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing, and CI=true requires every check to run")
    pytest.skip(f"{what} is missing: check skipped (it runs in CI)")


def terraform_binary() -> str:
    binary = shutil.which("terraform")
    require(binary is not None, "terraform (on PATH)")
    assert binary is not None
    return binary


def require_tfvalidate() -> None:
    require(VALIDATE.is_file(), f"{VALIDATE} (the shared offline validator)")


def write_build(directory: Path, *, runtime: str, architecture: str, tamper: str | None = None) -> Path:
    """Placeholder build.sh output: zips Terraform only hashes, and a build-info.json describing them.

    `tamper` names a function whose zip is changed after build-info.json was written.
    """
    directory.mkdir(parents=True)
    functions = {}
    for function in FUNCTIONS:
        data = f"placeholder package of {function}".encode()
        (directory / f"{function}.zip").write_bytes(data + (b" (changed)" if function == tamper else b""))
        functions[function] = {
            "zip": f"{function}.zip",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "requirements": {},
        }
    info = {"runtime": runtime, "architecture": architecture, "functions": functions}
    (directory / "build-info.json").write_text(json.dumps(info))
    return directory


@dataclass(frozen=True)
class Workspace:
    """A copy of terraform/ (plus the tftest files) beside placeholder builds, in a temporary folder."""

    root: Path
    env: dict[str, str]

    @property
    def terraform_dir(self) -> Path:
        return self.root / "terraform"

    def run(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [terraform_binary(), f"-chdir={self.terraform_dir}", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def make_workspace(root: Path) -> Workspace:
    """Copies the stack and writes the CLI configuration that serves the shared provider stand-in."""
    terraform_binary()
    require_tfvalidate()
    shutil.copytree(TERRAFORM_DIR, root / "terraform", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    shutil.copytree(TFTEST_DIR, root / "terraform" / "tests")
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "TF_DATA_DIR": str(root / "tf-data")}
    env.pop("TF_CLI_ARGS", None)
    env["TF_CLI_CONFIG_FILE"] = str(_provider_stand_in(root / "plugin", env))
    return Workspace(root, env)


def _provider_stand_in(plugin_dir: Path, env: dict[str, str]) -> Path:
    """The same dev_overrides set-up as ../shared/tfvalidate/validate, reusing the virtualenv it creates."""
    default_cache = Path(env.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    venv = Path(env.get("TFVALIDATE_VENV", default_cache / "tfvalidate" / "venv"))
    python = venv / "bin" / "python"
    if not python.exists() or subprocess.run([python, "-c", "import tf"], capture_output=True).returncode != 0:
        # The first run of `validate` creates the virtualenv (PyPI package `tf`); an empty folder will do.
        empty = plugin_dir.parent / "empty"
        empty.mkdir()
        subprocess.run([VALIDATE, str(empty)], capture_output=True, check=False, timeout=600)
    plugin_dir.mkdir()
    launcher = plugin_dir / "terraform-provider-aws"
    launcher.write_text(
        "#!/bin/sh\n"
        f'TFSTUB_SCHEMA="{TFVALIDATE_DIR / "aws-schema.json"}" '
        f'exec "{venv / "bin" / "python"}" "{TFVALIDATE_DIR / "stub_provider.py"}" "$@"\n'
    )
    launcher.chmod(0o755)
    config = plugin_dir.parent / "terraformrc"
    config.write_text(
        f'provider_installation {{\n  dev_overrides {{\n    "hashicorp/aws" = "{plugin_dir}"\n  }}\n  direct {{}}\n}}\n'
    )
    return config
