"""The local stack is what terraform/ says, read at start-up: a change there is a change here, and
Terraform the loader cannot evaluate stops the stack with the file and line."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from local_pipeline.resources import create_resources
from local_pipeline.stack import ACCOUNT_ID, REGION, default_stack, queue_arn
from local_pipeline.terraform import TERRAFORM_DIR, UnsupportedTerraform
from moto_extensions.dashboard_page import dashboard_url
from tests.local.subprocess_stack import REPO_ROOT, running_local_stack

STACK = default_stack()


def terraform_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new))


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_variable_default_changes_the_local_stack(tmp_path):
    # GIVEN a copy of terraform/ with other defaults for image_processor's memory and the queue age alarm
    terraform = terraform_copy(tmp_path)
    variables = terraform / "variables.tf"
    text = variables.read_text()
    text = re.sub(r'(variable "image_processor_memory_size" \{[^}]*?default\s*=\s*)1024', r"\g<1>2048", text)
    text = re.sub(r'(variable "queue_age_alarm_threshold_seconds" \{[^}]*?default\s*=\s*)1800', r"\g<1>900", text)
    variables.write_text(text)

    # WHEN the local stack is read from it
    stack = default_stack(terraform)

    # THEN the function and the alarm have the new values, and nothing else changed
    assert (STACK.image_processor.memory_mb, stack.image_processor.memory_mb) == (1024, 2048)
    [age] = [alarm for alarm in stack.alarms if alarm.name.endswith("-oldest-message-age")]
    assert age.threshold == 900
    assert "older than 900 s" in age.description
    assert stack.metadata_queue == STACK.metadata_queue


@pytest.mark.parametrize(
    ("file", "old", "new", "construct"),
    [
        (
            "functions.tf",
            "memory_size   = var.image_processor_memory_size",
            "memory_size   = try(var.image_processor_memory_size, 1024)",
            "try(var.image_processor_memory_size, 1024)",
        ),
        (
            "dashboard.tf",
            "alarms = [for alarm in aws_cloudwatch_metric_alarm.this : alarm.arn]",
            "alarms = values(aws_cloudwatch_metric_alarm.this)[*].arn",
            "[*].arn",
        ),
    ],
)
def test_terraform_the_loader_cannot_evaluate_names_the_file_line_and_construct(tmp_path, file, old, new, construct):
    # GIVEN a copy of terraform/ with a construct the loader does not evaluate where the local stack reads
    terraform = terraform_copy(tmp_path)
    edit(terraform / file, old, new)
    line = line_of(terraform / file, construct)

    # WHEN the stack is read from it
    with pytest.raises(UnsupportedTerraform) as raised:
        default_stack(terraform)

    # THEN the error names the file, the line and the construct
    assert f"{terraform / file}:{line}: " in str(raised.value)
    assert construct in str(raised.value)


def test_the_local_stack_does_not_start_on_terraform_it_cannot_evaluate(tmp_path):
    # GIVEN a copy of terraform/ whose image_processor memory is a try(...)
    terraform = terraform_copy(tmp_path)
    edit(terraform / "functions.tf", "= var.image_processor_memory_size", "= try(var.image_processor_memory_size, 1)")

    # WHEN the local stack starts from it
    started = subprocess.run(
        [sys.executable, "-m", "local_pipeline", "--port", "1", "--terraform-dir", str(terraform)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # THEN it stops at once with one line saying where and what
    assert started.returncode == 2
    line = line_of(terraform / "functions.tf", "try(")
    assert started.stderr.strip().splitlines() == [
        f"error: {terraform / 'functions.tf'}:{line}: the local stack cannot evaluate this Terraform "
        "(the function try() is not supported): try(var.image_processor_memory_size, 1)"
    ]


def test_the_outputs_file_holds_terraforms_outputs_for_the_running_stack(tmp_path):
    outputs_file = tmp_path / "state" / "outputs.json"
    declared = re.findall(r'^output "(\w+)"', (TERRAFORM_DIR / "outputs.tf").read_text(), re.M)
    # GIVEN a running local stack
    with running_local_stack(outputs_file=outputs_file) as local:
        # THEN its outputs file names it and holds every output of terraform/outputs.tf, valued locally
        written = json.loads(outputs_file.read_text())
        assert (written["pid"], written["endpoint_url"], written["region"]) == (
            local.process.pid,
            local.endpoint,
            REGION,
        )
        outputs = written["outputs"]
        assert list(outputs) == declared
        values = {name: output["value"] for name, output in outputs.items()}
        assert all(output["sensitive"] is False for output in outputs.values())
        assert outputs["upload_bucket_name"]["type"] == "string"
        sqs = local.client("sqs")
        for output, queue in (
            ("metadata_queue_url", STACK.metadata_queue),
            ("metadata_dlq_url", STACK.metadata_dlq),
            ("processor_failures_queue_url", STACK.processor_failures_queue),
        ):
            assert values[output] == sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        assert values["upload_bucket_name"] == STACK.upload_bucket
        assert values["thumbnail_bucket_name"] == STACK.thumbnail_bucket
        assert values["dynamodb_table_name"] == STACK.table_name
        assert values["image_processor_function_name"] == STACK.image_processor.name
        assert values["db_writer_log_group_name"] == STACK.db_writer.log_group
        assert values["alarm_topic_arn"] == f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{STACK.alarm_topic}"
        assert values["dashboard_url"] == dashboard_url(local.endpoint, STACK.dashboard)
        assert values["dynamodb_stream_arn"] is None  # dynamodb_stream_enabled is false by default

        # WHEN it stops
        local.process.send_signal(signal.SIGINT)
        local.process.wait(30)
        # THEN the file is gone
        assert not outputs_file.exists()


def test_created_resources_have_the_stack_settings(aws):
    # GIVEN the resources the runner creates
    resources = create_resources(STACK, aws)
    sqs, s3 = aws("sqs"), aws("s3")

    # THEN queues, buckets, table, log groups, alarms and dashboard carry the stack's settings
    for queue in STACK.queues:
        attributes = sqs.get_queue_attributes(QueueUrl=resources.queue_urls[queue.name], AttributeNames=["All"])
        attributes = attributes["Attributes"]
        assert int(attributes["VisibilityTimeout"]) == queue.visibility_timeout_s
        assert int(attributes["MessageRetentionPeriod"]) == queue.message_retention_s
        assert int(attributes["ReceiveMessageWaitTimeSeconds"]) == queue.receive_wait_time_s
        if queue.dead_letter_queue:
            assert json.loads(attributes["RedrivePolicy"]) == {
                "deadLetterTargetArn": queue_arn(queue.dead_letter_queue),
                "maxReceiveCount": queue.max_receive_count,
            }
    for bucket in STACK.buckets:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == STACK.versioning_status
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    table = aws("dynamodb").describe_table(TableName=STACK.table_name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "image_key", "KeyType": "HASH"}]
    assert table["DeletionProtectionEnabled"] is STACK.table_deletion_protection
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": STACK.table_stream_view_type}
    groups = aws("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
    assert {(g["logGroupName"], g["retentionInDays"]) for g in groups} == {
        (f.log_group, STACK.log_retention_days) for f in STACK.functions
    }
    alarms = aws("cloudwatch").describe_alarms()["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} == {a.name for a in STACK.alarms}
    assert all(a["AlarmActions"] == [resources.topic_arn] for a in alarms)
    notifying_ok = {a.name for a in STACK.alarms if a.notifies_ok}
    assert {a["AlarmName"] for a in alarms if a["OKActions"] == [resources.topic_arn]} == notifying_ok
    dashboard = aws("cloudwatch").get_dashboard(DashboardName=STACK.dashboard)
    assert json.loads(dashboard["DashboardBody"]) == STACK.dashboard_body


def test_the_functions_environments_can_share_one_process():
    # The runner imports both handlers into one process, with one os.environ.
    image_processor, db_writer = STACK.image_processor.environment, STACK.db_writer.environment
    assert "METADATA_QUEUE_URL" not in db_writer
    shared = image_processor.keys() & db_writer.keys()
    assert {name: image_processor[name] for name in shared} == {name: db_writer[name] for name in shared}
