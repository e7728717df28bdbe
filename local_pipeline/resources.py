"""Creates the stack's resources in moto with the settings Terraform gives them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from local_pipeline.stack import Metric, MetricAlarm, QueueSettings, Stack, queue_arn

# S3 notifications reach image_processor through this queue (see pipeline.pump_notifications); it exists
# only locally. moto cannot filter on its name, so it carries the stack prefix like everything else.
EVENTS_QUEUE_SUFFIX = "local-s3-events"


@dataclass(frozen=True)
class Resources:
    """What the rest of the runner needs to know about the created resources."""

    queue_urls: dict[str, str]
    events_queue_url: str
    topic_arn: str


def create_resources(stack: Stack, clients: Any) -> Resources:
    """`clients(service)` returns a boto3 client for the local endpoint."""
    sqs = clients("sqs")
    queue_urls = {queue.name: _create_queue(sqs, queue) for queue in stack.queues}
    events_queue = QueueSettings(f"{stack.prefix}-{EVENTS_QUEUE_SUFFIX}", message_retention_s=4 * 24 * 3600)
    events_queue_url = _create_queue(sqs, events_queue)

    s3 = clients("s3")
    for bucket in stack.buckets:
        _create_bucket(s3, bucket, stack)
    events: dict[str, Any] = {"Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
    if stack.upload_prefix:
        events["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": stack.upload_prefix}]}}
    # The function's own entry too, as Terraform writes it, so what reads the configuration (scripts/reprocess.py
    # checks the bucket is the function's event source) sees what it sees on AWS. moto cannot invoke the
    # function and skips it: the events travel through the queue entry.
    s3.put_bucket_notification_configuration(
        Bucket=stack.upload_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"Id": "image-processor", "QueueArn": events_queue.arn, **events}],
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": stack.image_processor.arn, **events}],
        },
    )

    _create_table(clients("dynamodb"), stack)
    logs = clients("logs")
    for function in stack.functions:
        logs.create_log_group(logGroupName=function.log_group)
        logs.put_retention_policy(logGroupName=function.log_group, retentionInDays=stack.log_retention_days)

    topic_arn = clients("sns").create_topic(Name=stack.alarm_topic)["TopicArn"]
    cloudwatch = clients("cloudwatch")
    for alarm in stack.alarms:
        cloudwatch.put_metric_alarm(
            AlarmName=alarm.name,
            AlarmDescription=alarm.description,
            **_alarm_metric(alarm),
            EvaluationPeriods=alarm.evaluation_periods,
            Threshold=alarm.threshold,
            ComparisonOperator=alarm.comparison_operator,
            TreatMissingData=alarm.treat_missing_data,
            ActionsEnabled=True,
            AlarmActions=[topic_arn],
            OKActions=[topic_arn] if alarm.notifies_ok else [],
        )
    cloudwatch.put_dashboard(DashboardName=stack.dashboard, DashboardBody=json.dumps(stack.dashboard_body))
    return Resources(queue_urls, events_queue_url, topic_arn)


def _alarm_metric(alarm: MetricAlarm) -> dict[str, Any]:
    """put_metric_alarm's arguments for the metric an alarm watches: one metric, or a metric math expression."""
    if alarm.metric is not None:
        metric = alarm.metric
        return {
            "Namespace": metric.namespace,
            "MetricName": metric.name,
            "Dimensions": _dimensions(metric),
            "Period": metric.period_s,
            # A percentile such as p99 is an extended statistic.
            "ExtendedStatistic" if metric.statistic.startswith("p") else "Statistic": metric.statistic,
        }
    queries = [{"Id": "expression", "Expression": alarm.expression, "ReturnData": True}]
    for metric_id, metric in alarm.inputs:
        stat = {"Metric": {"Namespace": metric.namespace, "MetricName": metric.name, "Dimensions": _dimensions(metric)}}
        stat |= {"Period": metric.period_s, "Stat": metric.statistic}
        queries.append({"Id": metric_id, "MetricStat": stat, "ReturnData": False})
    return {"Metrics": queries}


def _dimensions(metric: Metric) -> list[dict[str, str]]:
    return [{"Name": metric.dimension[0], "Value": metric.dimension[1]}] if metric.dimension else []


def _create_queue(sqs: Any, queue: QueueSettings) -> str:
    attributes = {
        "MessageRetentionPeriod": str(queue.message_retention_s),
        "VisibilityTimeout": str(queue.visibility_timeout_s),
        "ReceiveMessageWaitTimeSeconds": str(queue.receive_wait_time_s),
        "SqsManagedSseEnabled": "true",
    }
    if queue.dead_letter_queue:
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": queue_arn(queue.dead_letter_queue), "maxReceiveCount": queue.max_receive_count}
        )
    return sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]


def _create_bucket(s3: Any, bucket: str, stack: Stack) -> None:
    s3.create_bucket(Bucket=bucket)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": stack.versioning_status})
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "abort-incomplete-multipart-uploads",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                },
                {
                    "ID": "expire-noncurrent-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": stack.noncurrent_version_expiration_days},
                    "Expiration": {"ExpiredObjectDeleteMarker": True},
                },
            ]
        },
    )


def _create_table(dynamodb: Any, stack: Stack) -> None:
    dynamodb.create_table(
        TableName=stack.table_name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "image_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "image_key", "AttributeType": "S"}],
        SSESpecification={"Enabled": True},
        DeletionProtectionEnabled=stack.table_deletion_protection,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": stack.table_stream_view_type},
    )
    dynamodb.update_continuous_backups(
        TableName=stack.table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
