"""terraform fmt, terraform validate and `terraform test` (plans with a mocked AWS provider), offline.

All of them run on a temporary copy of terraform/ next to placeholder build output, so nothing is left
in the repository. They skip where terraform or ../shared is missing, except in CI (CI=true). The
`terraform test` runs plan the whole stack several times, over a minute on 2 cores: they are marked slow.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.terraform.offline import (
    TFTEST_DIR,
    VALIDATE,
    Workspace,
    make_workspace,
    require_tfvalidate,
    terraform_binary,
    write_build,
)
from tests.terraform.stack import REPO_ROOT, load_stack

RUNTIME = load_stack().variables["lambda_runtime"]["default"]
ARCHITECTURE = load_stack().variables["lambda_architecture"]["default"]
BUILD = f"./build.sh --arch {ARCHITECTURE} --python {RUNTIME.removeprefix('python')}"

# name -> (variables, what the plan error must say). Each plans the stack and must fail with only these
# errors, before anything would be created.
FAILING_PLANS = {
    "missing_build": (
        {"package_dir": "../no-build"},
        [
            "No Lambda package at ../no-build/image_processor.zip",
            "No Lambda package at ../no-build/db_writer.zip",
            f"{BUILD} --out /",
            "/no-build`",
        ],
    ),
    "build_for_another_architecture": (
        {"lambda_architecture": "x86_64"},
        [
            f"were built for {RUNTIME}/{ARCHITECTURE}, but this stack deploys {RUNTIME}/x86_64",
            f"`./build.sh --arch x86_64 --python {RUNTIME.removeprefix('python')}`",
        ],
    ),
    "build_for_another_runtime": (
        {"lambda_runtime": "python3.12"},
        [f"but this stack deploys python3.12/{ARCHITECTURE}", f"`./build.sh --arch {ARCHITECTURE} --python 3.12`"],
    ),
    "zips_without_build_info": (
        {"package_dir": "../dist-without-info"},
        ["../dist-without-info/build-info.json is missing or is not valid JSON", BUILD],
    ),
    "zip_changed_after_build": (
        {"package_dir": "../dist-changed"},
        ["../dist-changed/db_writer.zip is not the file described in ../dist-changed/build-info.json", BUILD],
    ),
    "bucket_name_over_63_characters": (
        {"project_name": "image-pipeline-archive", "environment": "staging"},
        ["over S3's limit of 63: shorten project_name or environment"],
    ),
    "extra_thumbnail_sizes_repeating_thumbnail_size": (
        {"extra_thumbnail_sizes": [256, 512]},
        ["extra_thumbnail_sizes must not list thumbnail_size (256): that size is always made."],
    ),
    "extra_thumbnail_sizes_out_of_range": (
        {"extra_thumbnail_sizes": [8, 512, 512]},
        [
            "Every extra_thumbnail_sizes entry must be a whole number of pixels between 16 and 4096.",
            "extra_thumbnail_sizes must list each size once.",
        ],
    ),
    "max_receive_count_below_5": (
        {"max_receive_count": 4},
        ["max_receive_count must be a whole number between 5 and 1000"],
    ),
    "batch_over_10_without_window": (
        {"batch_size": 100, "maximum_batching_window_in_seconds": 0},
        ["only allow with maximum_batching_window_in_seconds of at least 1"],
    ),
    # A 40-character prefix: the image_processor role, whose name carries the region, exceeds IAM's 64
    # (the bucket names fail too).
    "iam_role_name_over_64_characters": (
        {"project_name": "image-pipeline-archive1", "environment": "staging-long-env"},
        [
            "IAM role name image-pipeline-archive1-staging-long-env-image-processor-eu-west-1 is 66 characters, "
            "over IAM's limit of 64: shorten project_name or environment"
        ],
    ),
    "region_of_an_unsupported_partition": (
        {"aws_region": "us-iso-east-1"},
        ["aws_region must be a region of the aws, aws-cn or aws-us-gov partition"],
    ),
    "queue_age_alarm_that_could_never_fire": (
        {"queue_age_alarm_threshold_seconds": 345600},
        ["the metadata queue deletes messages after 345600 s, so this alarm could never fire: use at most 345540"],
    ),
    "fractional_seconds": (
        {"queue_age_alarm_threshold_seconds": 1800.5, "image_processor_maximum_event_age_in_seconds": 3600.5},
        [
            "queue_age_alarm_threshold_seconds must be a whole number of seconds",
            "image_processor_maximum_event_age_in_seconds must be a whole number of seconds",
        ],
    ),
    "tag_key_reserved_for_aws": (
        {"tags": {"AWS:owner": "me"}},
        ['keys starting with "aws:" are reserved for AWS: AWS:owner'],
    ),
    "tag_key_and_value_too_long": (
        {"tags": {"k" * 129: "v", "Owner": "x" * 257}},
        ["every key must be 1-128 characters long", "values can be at most 256 characters long; too long: Owner"],
    ),
    "more_tags_than_aws_allows": (
        {"tags": {f"Tag{i}": "x" for i in range(48)}},
        ["every resource would carry 51 tags; AWS allows 50"],
    ),
    "tag_with_a_character_aws_refuses": (
        {"tags": {"Owner": "me, you"}},
        ["keys and values may only hold letters, digits, spaces and _ . : / = + - @"],
    ),
}
# Plan errors that carry our own messages; anything else (a function-call error) is a failure.
EXPECTED_SUMMARIES = {"Resource precondition failed", "Invalid value for variable"}


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("terraform-offline")
    workspace = make_workspace(root)
    write_build(root / "dist", runtime=RUNTIME, architecture=ARCHITECTURE)
    write_build(root / "dist-x86_64", runtime=RUNTIME, architecture="x86_64")
    write_build(root / "dist-changed", runtime=RUNTIME, architecture=ARCHITECTURE, tamper="db_writer")
    (write_build(root / "dist-without-info", runtime=RUNTIME, architecture=ARCHITECTURE) / "build-info.json").unlink()
    return workspace


def test_terraform_fmt_check():
    result = subprocess.run(
        [terraform_binary(), "fmt", "-check", "-recursive", "-diff", "terraform", str(TFTEST_DIR)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform`:\n{result.stdout}"


def test_terraform_validate_offline(workspace: Workspace):
    require_tfvalidate()
    result = subprocess.run(
        [VALIDATE, str(workspace.terraform_dir), "-json"], capture_output=True, text=True, timeout=600, check=False
    )
    report = json.loads(result.stdout[result.stdout.index("{") :])
    problems = [
        f"{d['severity']}: {d['summary']}: {d.get('detail', '')}"
        for d in report["diagnostics"]
        if d["summary"] != "Provider development overrides are in effect"  # about the validator itself
    ]
    assert report["valid"] and result.returncode == 0, "\n".join(problems) or result.stderr
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_terraform_test_plans_and_applies_with_mocked_aws(workspace: Workspace):
    result = workspace.run("test", "-no-color", "-filter=tests/stack.tftest.hcl")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "0 failed" in result.stdout and " 0 passed" not in result.stdout


@pytest.fixture(scope="session")
def failing_plans(workspace: Workspace) -> dict[str, list[dict]]:
    """Plans every FAILING_PLANS case in one `terraform test` run; returns the error diagnostics per case."""
    mock = (TFTEST_DIR / "stack.tftest.hcl").read_text().split("\nrun ")[0]
    for name, (variables, _) in FAILING_PLANS.items():
        assignments = "\n".join(f"    {key} = {json.dumps(value)}" for key, value in variables.items())
        run = f'run "plan" {{\n  command = plan\n\n  variables {{\n{assignments}\n  }}\n}}\n'
        (workspace.terraform_dir / "tests" / f"{name}.tftest.hcl").write_text(f"{mock}\n{run}")
    filters = [f"-filter=tests/{name}.tftest.hcl" for name in FAILING_PLANS]
    result = workspace.run("test", "-json", *filters)
    errors: dict[str, list[dict]] = {name: [] for name in [*FAILING_PLANS, "configuration"]}
    for line in result.stdout.splitlines():
        entry = json.loads(line)
        if entry.get("@level") == "error" and "diagnostic" in entry:
            case = Path(entry.get("@testfile", "configuration")).name.removesuffix(".tftest.hcl")
            errors[case].append(entry["diagnostic"])
    assert not errors.pop("configuration"), f"terraform test could not load the stack:\n{result.stdout[-3000:]}"
    assert result.returncode != 0, result.stdout[-3000:]
    return errors


@pytest.mark.slow
@pytest.mark.parametrize("case", FAILING_PLANS)
def test_plan_fails_before_creating_anything_with_a_clear_message(failing_plans, case: str):
    _, expected = FAILING_PLANS[case]
    diagnostics = failing_plans[case]
    assert diagnostics, f"{case}: the plan should have failed"
    text = "\n".join(f"{d['summary']}: {d.get('detail', '')}" for d in diagnostics)
    assert {d["summary"] for d in diagnostics} <= EXPECTED_SUMMARIES, text
    for fragment in expected:
        assert fragment in text, f"{case}: {fragment!r} not in\n{text}"
