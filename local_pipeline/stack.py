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
class Metric:
    namespace: str
    name: str
    dimension: tuple[str, str] | None  # None: the account-wide figure (Lambda's ConcurrentExecutions)
    statistic: str  # Sum, Maximum, or a percentile such as p99
    period_s: int


@dataclass(frozen=True)
class MetricAlarm:
    """A CloudWatch alarm as terraform/monitoring.tf defines them: on one metric, or on a metric math
    `expression` over `inputs` (each metric named by the id the expression uses)."""

    name: str
    description: str
    threshold: float
    metric: Metric | None = None
    expression: str | None = None
    inputs: tuple[tuple[str, Metric], ...] = ()
    evaluation_periods: int = 1
    comparison_operator: str = "GreaterThanThreshold"
    treat_missing_data: str = "notBreaching"
    notifies_ok: bool = True

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
    uploads_bucket: str
    thumbnails_bucket: str
    versioning_enabled: bool
    noncurrent_version_expiration_days: int
    upload_prefix: str
    table: str
    table_deletion_protection: bool
    # What the table's stream carries: Terraform's dynamodb_stream_enabled = true (off by default there);
    # always on locally, so that a consumer can be tried against the local stack.
    table_stream_view_type: str
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
    error_rate_percent = 1
    latency_threshold_s = 120
    account_concurrency_limit, concurrency_alarm_percent = 1000, 80
    maximum_event_age_s = 3600
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

    def queue_metric(queue: QueueSettings, name: str) -> Metric:
        return Metric("AWS/SQS", name, ("QueueName", queue.name), "Maximum", 60)

    def queue_messages(queue: QueueSettings) -> tuple[tuple[str, Metric], ...]:
        # Visible and in flight: receiving a message to inspect it leaves the count as it was.
        return (
            ("visible", queue_metric(queue, "ApproximateNumberOfMessagesVisible")),
            ("in_flight", queue_metric(queue, "ApproximateNumberOfMessagesNotVisible")),
        )

    def dead_letter_alarms(queue: QueueSettings, depth: str, arrivals: str) -> tuple[MetricAlarm, MetricAlarm]:
        return (
            MetricAlarm(
                name=f"{queue.name}-not-empty",
                description=depth,
                threshold=0,
                expression="visible + in_flight",
                inputs=queue_messages(queue),
            ),
            MetricAlarm(
                name=f"{queue.name}-new-messages",
                description=arrivals,
                threshold=0,
                expression="DIFF(visible + in_flight)",
                inputs=queue_messages(queue),
                notifies_ok=False,
            ),
        )

    def lambda_metric(function_name: str, name: str, statistic: str = "Sum", period_s: int = 300) -> Metric:
        return Metric("AWS/Lambda", name, ("FunctionName", function_name), statistic, period_s)

    def errors_alarm(function_name: str, description: str) -> MetricAlarm:
        return MetricAlarm(
            name=f"{function_name}-errors",
            description=f"{function_name} {description} See its log group /aws/lambda/{function_name}.",
            metric=lambda_metric(function_name, "Errors"),
            threshold=0,
        )

    def error_rate_alarm(function_name: str) -> MetricAlarm:
        return MetricAlarm(
            name=f"{function_name}-error-rate",
            description=(
                f"More than {error_rate_percent} % of {function_name}'s invocations failed over 5 minutes: an outage "
                f"or a bad deployment rather than one bad input. See its log group /aws/lambda/{function_name}."
            ),
            threshold=error_rate_percent,
            expression="100 * errors / invocations",
            inputs=(
                ("errors", lambda_metric(function_name, "Errors")),
                ("invocations", lambda_metric(function_name, "Invocations")),
            ),
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
        table_stream_view_type="NEW_IMAGE",
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
                "MAX_DECODE_SECONDS": "30",
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
        async_invoke=AsyncInvokeSettings(maximum_retry_attempts=2, maximum_event_age_s=maximum_event_age_s),
        alarms=(
            *dead_letter_alarms(
                metadata_dlq,
                f"Metadata messages db_writer failed to write {max_receive_count} times are waiting in "
                f"{metadata_dlq.name}. Fix the cause (db_writer logs), then redrive them to {metadata.name}.",
                f"More metadata messages reached {metadata_dlq.name} in the last minute: db_writer is still failing. "
                "See its logs before redriving.",
            ),
            *dead_letter_alarms(
                processor_failures,
                f"S3 events image_processor failed after every retry are waiting in {processor_failures.name}. "
                "Fix the cause (image_processor logs), then re-upload or replay the events.",
                f"More S3 events reached {processor_failures.name} in the last minute: image_processor is still "
                "failing. See its logs before replaying.",
            ),
            errors_alarm(image_processor_name, "raised or timed out."),
            errors_alarm(db_writer_name, "raised or timed out (the whole batch is received again)."),
            MetricAlarm(
                name=f"{metadata.name}-oldest-message-age",
                description=f"The oldest message in {metadata.name} is older than 1800 s: db_writer is not keeping up.",
                metric=queue_metric(metadata, "ApproximateAgeOfOldestMessage"),
                threshold=1800,
            ),
            MetricAlarm(
                name=f"{image_processor_name}-throttles",
                description=(
                    f"Lambda refused to run {image_processor_name} (account or reserved concurrency reached). "
                    f"S3 events wait and are retried for up to {maximum_event_age_s} s, then go to "
                    f"{processor_failures.name}."
                ),
                metric=lambda_metric(image_processor_name, "Throttles"),
                threshold=0,
            ),
            MetricAlarm(
                name=f"{db_writer_name}-throttles",
                description=(
                    f"Lambda refused to run {db_writer_name} (account concurrency reached). Messages stay in "
                    f"{metadata.name} and reach its DLQ after {max_receive_count} receives."
                ),
                metric=lambda_metric(db_writer_name, "Throttles"),
                threshold=0,
            ),
            MetricAlarm(
                name=f"{image_processor_name}-async-events-dropped",
                description=(
                    f"Lambda dropped S3 events for {image_processor_name} without running them to the end and without "
                    "a failure record: those uploads have no record. Re-upload or reprocess the keys uploaded in the "
                    "alarm's period."
                ),
                metric=lambda_metric(image_processor_name, "AsyncEventsDropped"),
                threshold=0,
            ),
            MetricAlarm(
                name=f"{image_processor_name}-destination-delivery-failures",
                description=(
                    f"Lambda could not deliver failure records of {image_processor_name} to {processor_failures.name}: "
                    "those uploads failed and are in no queue. Check the queue exists and its policy, then reprocess "
                    "the keys uploaded in the alarm's period."
                ),
                metric=lambda_metric(image_processor_name, "DestinationDeliveryFailures"),
                threshold=0,
            ),
            error_rate_alarm(image_processor_name),
            error_rate_alarm(db_writer_name),
            MetricAlarm(
                name=f"{prefix}-end-to-end-latency",
                description=(
                    f"The p99 time from upload to record written is above {latency_threshold_s} s for 15 minutes: "
                    "uploads wait for retries, throttled functions or a queue db_writer does not keep up with."
                ),
                # db_writer's own EMF metric: the local stack records it from db_writer's log lines, as AWS does.
                metric=Metric("ImagePipeline", "EndToEndLatency", ("FunctionName", db_writer_name), "p99", 300),
                threshold=latency_threshold_s * 1000,
                evaluation_periods=3,
            ),
            MetricAlarm(
                name=f"{prefix}-account-concurrency",
                description=(
                    f"Lambda concurrent executions in {REGION} are above {concurrency_alarm_percent} % of the "
                    f"account's {account_concurrency_limit}: throttling is near for every function in the account. "
                    "Find the busiest function on the dashboard; ask for a higher quota or cap it with reserved "
                    "concurrency."
                ),
                metric=Metric("AWS/Lambda", "ConcurrentExecutions", None, "Maximum", 60),
                threshold=account_concurrency_limit * concurrency_alarm_percent // 100,
                evaluation_periods=5,
            ),
        ),
    )
