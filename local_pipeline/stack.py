"""The local stack's names and settings, read from terraform/ at start-up (local_pipeline/terraform.py):
what `terraform apply` with the default variables creates, in moto's account and region.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

from local_pipeline.terraform import ACCOUNT_ID, REGION, TERRAFORM_DIR, Evaluator, load_terraform

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


@dataclass(frozen=True)
class FunctionSettings:
    name: str
    handler: str
    memory_mb: int
    timeout_s: int
    # Without METADATA_QUEUE_URL, which depends on the endpoint and is added at start-up.
    environment: dict[str, str]

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.name}"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"


@dataclass(frozen=True)
class QueueSettings:
    name: str
    message_retention_s: int
    visibility_timeout_s: int = 30
    receive_wait_time_s: int = 20
    # Set on a source queue: its dead-letter queue's name and the receives before a message moves there.
    dead_letter_queue: str | None = None
    max_receive_count: int | None = None

    @property
    def arn(self) -> str:
        return queue_arn(self.name)


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimension: tuple[str, str] | None  # None: the account-wide figure (Lambda's ConcurrentExecutions)
    statistic: str  # Sum, Maximum, or a percentile such as p99
    period_s: int


@dataclass(frozen=True)
class MetricAlarm:
    """A CloudWatch alarm as terraform/monitoring.tf declares it: on one metric, or on a metric math
    `expression` over `inputs` (each metric named by the id the expression uses)."""

    name: str
    description: str
    threshold: float
    metric: Metric | None
    expression: str | None
    inputs: tuple[tuple[str, Metric], ...]
    evaluation_periods: int
    comparison_operator: str
    treat_missing_data: str
    notifies_ok: bool

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return (self.metric,) if self.metric else tuple(metric for _, metric in self.inputs)


@dataclass(frozen=True)
class EventSourceSettings:
    """The SQS -> db_writer event source mapping (FunctionResponseTypes = ReportBatchItemFailures)."""

    batch_size: int
    maximum_batching_window_s: int
    maximum_concurrency: int


@dataclass(frozen=True)
class AsyncInvokeSettings:
    """The S3 -> image_processor asynchronous invocation configuration."""

    maximum_retry_attempts: int
    maximum_event_age_s: int


@dataclass(frozen=True)
class Stack:
    prefix: str
    upload_bucket: str
    thumbnail_bucket: str
    versioning_status: str
    noncurrent_version_expiration_days: int
    upload_prefix: str | None
    table_name: str
    table_deletion_protection: bool
    # What the table's stream carries: Terraform's dynamodb_stream_enabled = true (off by default there);
    # always on locally, so that a consumer can be tried against the local stack.
    table_stream_view_type: str
    alarm_topic: str
    dashboard: str
    dashboard_body: dict[str, Any]
    log_retention_days: int
    metadata_queue: QueueSettings
    metadata_dlq: QueueSettings
    processor_failures_queue: QueueSettings
    image_processor: FunctionSettings
    db_writer: FunctionSettings
    event_source: EventSourceSettings
    async_invoke: AsyncInvokeSettings
    alarms: tuple[MetricAlarm, ...]

    @property
    def buckets(self) -> tuple[str, str]:
        return (self.upload_bucket, self.thumbnail_bucket)

    @property
    def queues(self) -> tuple[QueueSettings, ...]:
        # Dead-letter queues first: a redrive policy names a queue that must already exist.
        return (self.metadata_dlq, self.processor_failures_queue, self.metadata_queue)

    @property
    def functions(self) -> tuple[FunctionSettings, ...]:
        return (self.image_processor, self.db_writer)


@cache
def default_stack(terraform_dir: Path = TERRAFORM_DIR) -> Stack:
    """The stack terraform_dir describes, with its variables' defaults."""
    values = Evaluator(load_terraform(terraform_dir))
    streaming = Evaluator(values.terraform, variables={"dynamodb_stream_enabled": True})  # see Stack
    queues = {name: _queue(values, name) for name in values.terraform.resources_of_type("aws_sqs_queue")}
    [lifecycle] = [
        rule
        for rule in _uploads(values, "aws_s3_bucket_lifecycle_configuration", "rule")
        if "noncurrent_version_expiration" in rule
    ]
    [notification] = values.argument("aws_s3_bucket_notification", "uploads", "lambda_function")
    mapping = partial(values.argument, "aws_lambda_event_source_mapping", "db_writer")
    invoke_config = partial(values.argument, "aws_lambda_function_event_invoke_config", "image_processor")
    [scaling] = mapping("scaling_config")
    return Stack(
        prefix=values.local("prefix"),
        upload_bucket=values.argument("aws_s3_bucket", "this", "bucket", "uploads"),
        thumbnail_bucket=values.argument("aws_s3_bucket", "this", "bucket", "thumbnails"),
        versioning_status=_uploads(values, "aws_s3_bucket_versioning", "versioning_configuration")[0]["status"],
        noncurrent_version_expiration_days=lifecycle["noncurrent_version_expiration"][0]["noncurrent_days"],
        upload_prefix=notification.get("filter_prefix"),
        table_name=values.argument("aws_dynamodb_table", "images", "name"),
        table_deletion_protection=values.argument("aws_dynamodb_table", "images", "deletion_protection_enabled"),
        table_stream_view_type=streaming.argument("aws_dynamodb_table", "images", "stream_view_type"),
        alarm_topic=values.argument("aws_sns_topic", "alarms", "name"),
        dashboard=values.argument("aws_cloudwatch_dashboard", "pipeline", "dashboard_name"),
        dashboard_body=json.loads(values.argument("aws_cloudwatch_dashboard", "pipeline", "dashboard_body")),
        log_retention_days=values.argument("aws_cloudwatch_log_group", "image_processor", "retention_in_days"),
        metadata_queue=queues["metadata"],
        metadata_dlq=queues["metadata_dlq"],
        processor_failures_queue=queues["processor_failures"],
        image_processor=_function(values, "image_processor"),
        db_writer=_function(values, "db_writer"),
        event_source=EventSourceSettings(
            batch_size=mapping("batch_size"),
            maximum_batching_window_s=mapping("maximum_batching_window_in_seconds"),
            maximum_concurrency=scaling["maximum_concurrency"],
        ),
        async_invoke=AsyncInvokeSettings(
            maximum_retry_attempts=invoke_config("maximum_retry_attempts"),
            maximum_event_age_s=invoke_config("maximum_event_age_in_seconds"),
        ),
        alarms=tuple(
            _alarm(values, name, key)
            for name in values.terraform.resources_of_type("aws_cloudwatch_metric_alarm")
            for key in values.resource_keys("aws_cloudwatch_metric_alarm", name)
        ),
    )


def _uploads(values: Evaluator, resource_type: str, block: str) -> list[dict[str, Any]]:
    """A nested block of the uploads bucket's instance of a per-bucket resource."""
    return values.argument(resource_type, "this", block, "uploads")


def _optional(values: Evaluator, resource_type: str, name: str, key: str | None = None) -> Callable[..., Any]:
    """setting(argument, default=None) reads one of the resource's arguments, which Terraform may leave out."""

    def setting(argument: str, default: Any = None) -> Any:
        try:
            return values.argument(resource_type, name, argument, key)
        except KeyError:
            return default

    return setting


def _queue(values: Evaluator, name: str) -> QueueSettings:
    setting = _optional(values, "aws_sqs_queue", name)
    redrive = setting("redrive_policy")
    redrive = json.loads(redrive) if redrive else {}
    return QueueSettings(
        name=setting("name"),
        message_retention_s=setting("message_retention_seconds"),
        # SQS's defaults, which Terraform leaves in place when the argument is absent.
        visibility_timeout_s=setting("visibility_timeout_seconds", 30),
        receive_wait_time_s=setting("receive_wait_time_seconds", 0),
        dead_letter_queue=redrive["deadLetterTargetArn"].rpartition(":")[2] if redrive else None,
        max_receive_count=redrive.get("maxReceiveCount"),
    )


def _function(values: Evaluator, name: str) -> FunctionSettings:
    setting = partial(values.argument, "aws_lambda_function", name)
    [environment] = setting("environment")
    return FunctionSettings(
        name=setting("function_name"),
        handler=setting("handler"),
        memory_mb=setting("memory_size"),
        timeout_s=setting("timeout"),
        environment={key: value for key, value in environment["variables"].items() if key != "METADATA_QUEUE_URL"},
    )


def _alarm(values: Evaluator, name: str, key: str | None) -> MetricAlarm:
    setting = _optional(values, "aws_cloudwatch_metric_alarm", name, key)
    queries = setting("metric_query", [])
    [returned] = [query for query in queries if query.get("return_data")] or [{}]
    return MetricAlarm(
        name=setting("alarm_name"),
        description=setting("alarm_description"),
        threshold=setting("threshold"),
        metric=None if queries else _metric(setting),
        expression=returned.get("expression"),
        inputs=tuple((query["id"], _metric(query["metric"][0].get)) for query in queries if "metric" in query),
        evaluation_periods=setting("evaluation_periods"),
        comparison_operator=setting("comparison_operator"),
        treat_missing_data=setting("treat_missing_data", "missing"),
        notifies_ok=bool(setting("ok_actions")),
    )


def _metric(setting: Any) -> Metric:
    """A single-metric alarm's metric, or a metric_query's metric block."""
    dimensions = setting("dimensions") or {}
    return Metric(
        namespace=setting("namespace"),
        name=setting("metric_name"),
        dimension=next(iter(dimensions.items()), None),
        statistic=setting("statistic") or setting("stat") or setting("extended_statistic"),
        period_s=setting("period"),
    )
