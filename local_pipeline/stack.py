"""The local stack's names and settings: what `terraform apply` with the default variables creates.

tests/local/test_stack_matches_terraform.py reads terraform/ and fails when a value here drifts.
"""

from __future__ import annotations

from dataclasses import dataclass

# moto's default account; the region every local client is pointed at.
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}

DAY_S = 24 * 60 * 60


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
class MetricAlarm:
    """A CloudWatch alarm on one metric with one dimension, as terraform/monitoring.tf defines them."""

    name: str
    description: str
    namespace: str
    metric_name: str
    dimension: tuple[str, str]
    statistic: str
    period_s: int
    threshold: float
    evaluation_periods: int = 1
    comparison_operator: str = "GreaterThanThreshold"
    treat_missing_data: str = "notBreaching"


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
    uploads_bucket: str
    thumbnails_bucket: str
    versioning_enabled: bool
    noncurrent_version_expiration_days: int
    upload_prefix: str
    table: str
    table_deletion_protection: bool
    alarm_topic: str
    dashboard: str
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
        return (self.uploads_bucket, self.thumbnails_bucket)

    @property
    def queues(self) -> tuple[QueueSettings, ...]:
        # Dead-letter queues first: a redrive policy names a queue that must already exist.
        return (self.metadata_dlq, self.processor_failures_queue, self.metadata_queue)

    @property
    def functions(self) -> tuple[FunctionSettings, ...]:
        return (self.image_processor, self.db_writer)


def default_stack(project_name: str = "image-pipeline", environment: str = "dev") -> Stack:
    prefix = f"{project_name}-{environment}"
    log_level = "INFO"
    db_writer_timeout_s = 30
    batching_window_s = 5
    max_receive_count = 5
    dlq_retention_s = 14 * DAY_S
    image_processor_name = f"{prefix}-image-processor"
    db_writer_name = f"{prefix}-db-writer"
    thumbnails_bucket = f"{prefix}-thumbnails-{ACCOUNT_ID}-{REGION}"
    table = f"{prefix}-images"
    metadata_dlq = QueueSettings(f"{prefix}-metadata-dlq", message_retention_s=dlq_retention_s)
    processor_failures = QueueSettings(f"{prefix}-processor-failures", message_retention_s=dlq_retention_s)
    metadata = QueueSettings(
        f"{prefix}-metadata",
        message_retention_s=4 * DAY_S,
        # AWS asks for at least six times the consumer's timeout plus its batching window.
        visibility_timeout_s=6 * db_writer_timeout_s + batching_window_s,
        dead_letter_queue=metadata_dlq.name,
        max_receive_count=max_receive_count,
    )

    def queue_depth_alarm(queue: QueueSettings, description: str) -> MetricAlarm:
        return MetricAlarm(
            name=f"{queue.name}-not-empty",
            description=description,
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimension=("QueueName", queue.name),
            statistic="Maximum",
            period_s=60,
            threshold=0,
        )

    def errors_alarm(function_name: str, description: str) -> MetricAlarm:
        return MetricAlarm(
            name=f"{function_name}-errors",
            description=f"{function_name} {description} See its log group /aws/lambda/{function_name}.",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimension=("FunctionName", function_name),
            statistic="Sum",
            period_s=300,
            threshold=0,
        )

    return Stack(
        prefix=prefix,
        uploads_bucket=f"{prefix}-uploads-{ACCOUNT_ID}-{REGION}",
        thumbnails_bucket=thumbnails_bucket,
        versioning_enabled=True,
        noncurrent_version_expiration_days=30,
        upload_prefix="",
        table=table,
        table_deletion_protection=True,
        alarm_topic=f"{prefix}-alarms",
        dashboard=f"{prefix}-{REGION}",
        log_retention_days=30,
        metadata_queue=metadata,
        metadata_dlq=metadata_dlq,
        processor_failures_queue=processor_failures,
        image_processor=FunctionSettings(
            name=image_processor_name,
            handler="image_processor.handler.lambda_handler",
            memory_mb=1024,
            timeout_s=60,
            environment={
                "THUMBNAIL_BUCKET": thumbnails_bucket,
                "THUMBNAIL_SIZE": "256",
                "THUMBNAIL_PREFIX": "thumbnails/",
                "MAX_IMAGE_BYTES": "52428800",
                "MAX_IMAGE_PIXELS": "100000000",
                "INCLUDE_GPS": "false",
                "EMBEDDED_THUMBNAILS": "true",
                "LOG_LEVEL": log_level,
            },
        ),
        db_writer=FunctionSettings(
            name=db_writer_name,
            handler="db_writer.handler.lambda_handler",
            memory_mb=256,
            timeout_s=db_writer_timeout_s,
            environment={"TABLE_NAME": table, "LOG_LEVEL": log_level},
        ),
        event_source=EventSourceSettings(
            batch_size=10, maximum_batching_window_s=batching_window_s, maximum_concurrency=5
        ),
        async_invoke=AsyncInvokeSettings(maximum_retry_attempts=2, maximum_event_age_s=3600),
        alarms=(
            queue_depth_alarm(
                metadata_dlq,
                f"Metadata messages db_writer failed to write {max_receive_count} times are waiting in "
                f"{metadata_dlq.name}. Fix the cause (db_writer logs), then redrive them to {metadata.name}.",
            ),
            queue_depth_alarm(
                processor_failures,
                f"S3 events image_processor failed after every retry are waiting in {processor_failures.name}. "
                "Fix the cause (image_processor logs), then re-upload or replay the events.",
            ),
            errors_alarm(image_processor_name, "raised or timed out."),
            errors_alarm(db_writer_name, "raised or timed out (the whole batch is received again)."),
            MetricAlarm(
                name=f"{metadata.name}-oldest-message-age",
                description=f"The oldest message in {metadata.name} is older than 1800 s: db_writer is not keeping up.",
                namespace="AWS/SQS",
                metric_name="ApproximateAgeOfOldestMessage",
                dimension=("QueueName", metadata.name),
                statistic="Maximum",
                period_s=60,
                threshold=1800,
            ),
        ),
    )
