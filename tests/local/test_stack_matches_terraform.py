"""The local stack has the names and settings terraform/ gives with its default variables.

Each test evaluates terraform/*.tf (tests/local/terraform_values.py) and compares it with
local_pipeline/stack.py, or with what the runner creates in moto from it.
"""

from __future__ import annotations

import json
import re

import hcl2
import pytest

from local_pipeline.resources import DASHBOARD_FILE, create_resources
from local_pipeline.stack import DAY_S, Metric, QueueSettings, default_stack, queue_arn
from tests.local.terraform_values import TerraformValues, dashboard_json

STACK = default_stack()


@pytest.fixture(scope="module")
def tf() -> TerraformValues:
    return TerraformValues()


def test_names_match(tf):
    assert STACK.prefix == f"{tf.variable('project_name')}-{tf.variable('environment')}"
    assert tf.expression("local.upload_bucket_name") == STACK.uploads_bucket
    assert tf.expression("local.thumbnail_bucket_name") == STACK.thumbnails_bucket
    assert tf.expression("local.table_name") == STACK.table
    assert tf.expression("local.alarm_topic_name") == STACK.alarm_topic
    assert tf.expression("local.dashboard_name") == STACK.dashboard
    assert tf.expression("aws_cloudwatch_dashboard.pipeline.dashboard_name") == STACK.dashboard
    for key, function in (("image_processor", STACK.image_processor), ("db_writer", STACK.db_writer)):
        assert tf.expression(f"aws_lambda_function.{key}.function_name") == function.name
        assert tf.expression(f"aws_cloudwatch_log_group.{key}.name") == function.log_group


@pytest.mark.parametrize(
    ("resource", "queue"),
    [
        ("metadata", STACK.metadata_queue),
        ("metadata_dlq", STACK.metadata_dlq),
        ("processor_failures", STACK.processor_failures_queue),
    ],
)
def test_queue_settings_match(tf, resource: str, queue: QueueSettings):
    body = tf.resource("aws_sqs_queue", resource)
    assert tf(body["name"]) == queue.name
    assert tf(body["message_retention_seconds"]) == queue.message_retention_s
    # 30 s is SQS's default, which Terraform leaves in place when the argument is absent.
    assert tf(body.get("visibility_timeout_seconds", 30)) == queue.visibility_timeout_s
    assert tf(body["receive_wait_time_seconds"]) == queue.receive_wait_time_s
    assert tf(body["sqs_managed_sse_enabled"]) is True
    redrive = body.get("redrive_policy")
    if queue.dead_letter_queue is None:
        assert redrive is None
        return
    match = re.fullmatch(r"\$\{jsonencode\(\{deadLetterTargetArn = (\S+), maxReceiveCount = (\S+)\}\)\}", redrive)
    assert match, redrive
    assert tf.expression(match.group(1)) == queue_arn(queue.dead_letter_queue)
    assert tf.expression(match.group(2)) == queue.max_receive_count


@pytest.mark.parametrize("key", ["image_processor", "db_writer"])
def test_function_settings_match(tf, key: str):
    function = getattr(STACK, key)
    body = tf.resource("aws_lambda_function", key)
    assert tf(body["handler"]) == function.handler
    assert tf(body["memory_size"]) == function.memory_mb
    assert tf(body["timeout"]) == function.timeout_s
    [environment] = body["environment"]
    variables = environment["variables"]
    if isinstance(variables, str):
        # merge(<the map>, <a map only some settings add>): the local stack plays the default settings.
        match = re.fullmatch(r"\$\{merge\((\{.*?\}), length\(var\.(\w+)\) > 0 \? \{.*\} : \{\}\)\}", variables)
        assert match, variables
        assert tf.variable(match.group(2)) == []
        variables = hcl2.loads(f"map = {match.group(1)}")["map"]
    variables = dict(variables)
    # The queue URL depends on the endpoint: the runner adds it at start-up.
    if variables.pop("METADATA_QUEUE_URL", None) is not None:
        assert key == "image_processor"
    assert tf(variables) == function.environment


def test_event_source_mapping_matches(tf):
    body = tf.resource("aws_lambda_event_source_mapping", "db_writer")
    assert tf(body["event_source_arn"]) == STACK.metadata_queue.arn
    assert tf(body["function_name"]) == STACK.db_writer.arn
    assert body["function_response_types"] == ["ReportBatchItemFailures"]
    assert tf(body["batch_size"]) == STACK.event_source.batch_size
    assert tf(body["maximum_batching_window_in_seconds"]) == STACK.event_source.maximum_batching_window_s
    assert tf(body["scaling_config"][0]["maximum_concurrency"]) == STACK.event_source.maximum_concurrency


def test_asynchronous_invocation_matches(tf):
    body = tf.resource("aws_lambda_function_event_invoke_config", "image_processor")
    assert tf(body["function_name"]) == STACK.image_processor.name
    assert tf(body["maximum_retry_attempts"]) == STACK.async_invoke.maximum_retry_attempts
    assert tf(body["maximum_event_age_in_seconds"]) == STACK.async_invoke.maximum_event_age_s
    assert tf(body["destination_config"][0]["on_failure"][0]["destination"]) == STACK.processor_failures_queue.arn


def test_s3_notification_matches(tf):
    body = tf.resource("aws_s3_bucket_notification", "uploads")
    assert tf(body["bucket"]) == STACK.uploads_bucket
    [target] = body["lambda_function"]
    assert tf(target["lambda_function_arn"]) == STACK.image_processor.arn
    assert target["events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert tf.variable("upload_prefix") == STACK.upload_prefix


def terraform_metric(tf, body: dict) -> Metric:
    """A single-metric alarm's metric, or a metric_query's metric block, as the local stack writes it."""
    statistic = body.get("statistic") or body.get("stat") or body["extended_statistic"]
    dimensions = tf(body.get("dimensions", {}))
    assert len(dimensions) <= 1, dimensions
    return Metric(
        namespace=tf(body["namespace"]),
        name=tf(body["metric_name"]),
        dimension=next(iter(dimensions.items()), None),
        statistic=tf(statistic),
        period_s=tf(body["period"]),
    )


def test_alarms_match(tf):
    alarms = {alarm.name: alarm for alarm in STACK.alarms}
    declared = tf.stack.of_type("aws_cloudwatch_metric_alarm")
    assert {tf(body["alarm_name"]) for body in declared.values()} == set(alarms)
    topic = f"arn:aws:sns:us-east-1:123456789012:{STACK.alarm_topic}"
    for body in declared.values():
        alarm = alarms[tf(body["alarm_name"])]
        assert tf(body["alarm_description"]) == alarm.description
        if "metric_query" in body:
            [returned] = [query for query in body["metric_query"] if query.get("return_data")]
            inputs = [query for query in body["metric_query"] if "metric" in query]
            assert returned["expression"] == alarm.expression
            assert tuple((query["id"], terraform_metric(tf, query["metric"][0])) for query in inputs) == alarm.inputs
        else:
            assert terraform_metric(tf, body) == alarm.metric
        assert tf(body["evaluation_periods"]) == alarm.evaluation_periods
        assert tf(body["threshold"]) == alarm.threshold
        assert tf(body["comparison_operator"]) == alarm.comparison_operator
        assert tf(body["treat_missing_data"]) == alarm.treat_missing_data
        assert tf(body["alarm_actions"]) == [topic]
        assert tf(body.get("ok_actions", [])) == ([topic] if alarm.notifies_ok else [])


def test_table_matches(tf):
    body = tf.resource("aws_dynamodb_table", "images")
    assert tf(body["name"]) == STACK.table
    assert (body["billing_mode"], body["hash_key"]) == ("PAY_PER_REQUEST", "image_key")
    assert body["attribute"] == [{"name": "image_key", "type": "S"}]
    assert body["point_in_time_recovery"] == [{"enabled": True}]
    assert body["server_side_encryption"] == [{"enabled": True}]
    assert tf(body["deletion_protection_enabled"]) == STACK.table_deletion_protection
    # The local stack always streams, as Terraform does with dynamodb_stream_enabled = true.
    assert body["stream_view_type"] == f'${{var.dynamodb_stream_enabled ? "{STACK.table_stream_view_type}" : null}}'


def test_bucket_and_log_settings_match(tf):
    assert tf.variable("versioning_enabled") == STACK.versioning_enabled
    assert tf.variable("noncurrent_version_expiration_days") == STACK.noncurrent_version_expiration_days
    assert tf.variable("log_retention_days") == STACK.log_retention_days
    for key in ("image_processor", "db_writer"):
        assert tf(tf.resource("aws_cloudwatch_log_group", key)["retention_in_days"]) == STACK.log_retention_days
    encryption = tf.resource("aws_s3_bucket_server_side_encryption_configuration", "this")
    assert encryption["rule"][0]["apply_server_side_encryption_by_default"] == [{"sse_algorithm": "AES256"}]
    rules = tf(tf.resource("aws_s3_bucket_lifecycle_configuration", "this")["rule"])
    assert [rule["id"] for rule in rules] == ["abort-incomplete-multipart-uploads", "expire-noncurrent-versions"]
    assert rules[0]["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]
    assert rules[1]["noncurrent_version_expiration"] == [{"noncurrent_days": STACK.noncurrent_version_expiration_days}]
    assert rules[1]["expiration"] == [{"expired_object_delete_marker": True}]


def test_created_resources_have_the_stack_settings(aws):
    # GIVEN the resources the runner creates
    resources = create_resources(STACK, aws)
    sqs, s3 = aws("sqs"), aws("s3")

    # THEN queues, buckets, table, log groups, alarms and dashboard carry the settings above
    for queue in STACK.queues:
        attributes = sqs.get_queue_attributes(QueueUrl=resources.queue_urls[queue.name], AttributeNames=["All"])[
            "Attributes"
        ]
        assert int(attributes["VisibilityTimeout"]) == queue.visibility_timeout_s
        assert int(attributes["MessageRetentionPeriod"]) == queue.message_retention_s
        assert int(attributes["ReceiveMessageWaitTimeSeconds"]) == queue.receive_wait_time_s
        if queue.dead_letter_queue:
            assert json.loads(attributes["RedrivePolicy"]) == {
                "deadLetterTargetArn": queue_arn(queue.dead_letter_queue),
                "maxReceiveCount": queue.max_receive_count,
            }
    assert STACK.metadata_dlq.message_retention_s == 14 * DAY_S
    for bucket in STACK.buckets:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    table = aws("dynamodb").describe_table(TableName=STACK.table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "image_key", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is True
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
    assert json.loads(dashboard["DashboardBody"]) == json.loads(DASHBOARD_FILE.read_text())


def test_the_local_dashboard_is_terraforms(tf):
    assert DASHBOARD_FILE.read_text() == dashboard_json(tf), (
        "local_pipeline/dashboard.json differs from terraform/dashboard.tf: "
        "run .venv/bin/python -m tests.local.terraform_values"
    )


def test_the_functions_environments_can_share_one_process():
    # The runner imports both handlers into one process, with one os.environ.
    image_processor, db_writer = STACK.image_processor.environment, STACK.db_writer.environment
    assert "METADATA_QUEUE_URL" not in db_writer
    assert {name: image_processor[name] for name in image_processor.keys() & db_writer.keys()} == {
        name: db_writer[name] for name in image_processor.keys() & db_writer.keys()
    }
