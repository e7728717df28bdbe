# Plans and "applies" the stack against a mocked AWS provider (no account, no network): checks the
# names users rely on and the values Terraform computes. Run by tests/terraform/test_offline.py in a
# temporary copy of terraform/ that has placeholder build output in ../dist and ../dist-x86_64.

# terraform test fails a run on a failed check block, which plan and apply only print as a warning: every run
# but no_alarm_subscriber_warns says the topic has a subscriber.
variables {
  alarm_topic_subscribed_elsewhere = true
}

mock_provider "aws" {
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "123456789012" }
  }
  override_data {
    target = data.aws_region.current
    values = { region = "eu-west-1" }
  }
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws" }
  }
}

run "default_stack" {
  command = apply

  assert {
    condition     = output.upload_bucket_name == "image-pipeline-dev-uploads-123456789012-eu-west-1"
    error_message = "uploads bucket name: ${output.upload_bucket_name}"
  }
  assert {
    condition     = output.thumbnail_bucket_name == "image-pipeline-dev-thumbnails-123456789012-eu-west-1"
    error_message = "thumbnails bucket name: ${output.thumbnail_bucket_name}"
  }
  assert {
    condition = (
      output.image_processor_function_name == "image-pipeline-dev-image-processor" &&
      output.db_writer_function_name == "image-pipeline-dev-db-writer" &&
      output.image_processor_log_group_name == "/aws/lambda/image-pipeline-dev-image-processor" &&
      output.db_writer_log_group_name == "/aws/lambda/image-pipeline-dev-db-writer"
    )
    error_message = "function or log group names differ from the contract"
  }
  assert {
    condition = (
      aws_sqs_queue.metadata.name == "image-pipeline-dev-metadata" &&
      aws_sqs_queue.metadata_dlq.name == "image-pipeline-dev-metadata-dlq" &&
      aws_sqs_queue.processor_failures.name == "image-pipeline-dev-processor-failures" &&
      output.dynamodb_table_name == "image-pipeline-dev-images" &&
      aws_sns_topic.alarms.name == "image-pipeline-dev-alarms"
    )
    error_message = "queue, table or topic names differ from the contract"
  }
  assert {
    condition     = output.dashboard_url == "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/image-pipeline-dev-eu-west-1"
    error_message = "dashboard_url: ${output.dashboard_url}"
  }
  assert {
    condition = (
      aws_iam_role.image_processor.name == "image-pipeline-dev-image-processor-eu-west-1" &&
      aws_iam_role.db_writer.name == "image-pipeline-dev-db-writer-eu-west-1" &&
      aws_cloudwatch_dashboard.pipeline.dashboard_name == "image-pipeline-dev-eu-west-1"
    )
    error_message = "IAM roles and the dashboard are global to the account: their names must include the region"
  }
  assert {
    condition     = aws_lambda_function.image_processor.tracing_config[0].mode == "PassThrough" && aws_lambda_function.db_writer.tracing_config[0].mode == "PassThrough"
    error_message = "X-Ray tracing is opt-in (xray_tracing): by default neither function samples its own invocations"
  }
  assert {
    condition = (
      aws_lambda_function.image_processor.source_code_hash == filebase64sha256("../dist/image_processor.zip") &&
      aws_lambda_function.db_writer.source_code_hash == filebase64sha256("../dist/db_writer.zip") &&
      aws_lambda_function.image_processor.filename == "../dist/image_processor.zip"
    )
    error_message = "the functions do not deploy the zips in ../dist with their hashes"
  }
  assert {
    condition     = aws_lambda_function.image_processor.architectures == tolist(["arm64"]) && aws_lambda_function.db_writer.runtime == "python3.13"
    error_message = "default runtime/architecture differ from the contract (python3.13, arm64)"
  }
  assert {
    condition     = local.build_command == "./build.sh --arch arm64 --python 3.13"
    error_message = "with the default package_dir, the command in plan errors needs no --out: ${local.build_command}"
  }
  assert {
    condition     = aws_sqs_queue.metadata.visibility_timeout_seconds == 185
    error_message = "metadata visibility timeout must be 6 x 30 s + 5 s = 185 s, got ${aws_sqs_queue.metadata.visibility_timeout_seconds}"
  }
  assert {
    condition = (
      jsondecode(aws_sqs_queue.metadata.redrive_policy).maxReceiveCount == 5 &&
      jsondecode(aws_sqs_queue.metadata.redrive_policy).deadLetterTargetArn == aws_sqs_queue.metadata_dlq.arn
    )
    error_message = "the metadata queue must move messages to its DLQ after 5 receives"
  }
  assert {
    condition = (
      aws_lambda_function.image_processor.environment[0].variables.THUMBNAIL_BUCKET == output.thumbnail_bucket_name &&
      aws_lambda_function.image_processor.environment[0].variables.METADATA_QUEUE_URL == aws_sqs_queue.metadata.url &&
      aws_lambda_function.db_writer.environment[0].variables.TABLE_NAME == output.dynamodb_table_name
    )
    error_message = "the functions' environment does not point at the stack's bucket, queue and table"
  }
  assert {
    condition     = !contains(keys(aws_lambda_function.image_processor.environment[0].variables), "EXTRA_THUMBNAIL_SIZES")
    error_message = "with one thumbnail size the function's environment must be what it was before extra sizes existed"
  }
  assert {
    condition = alltrue([
      for widget in jsondecode(aws_cloudwatch_dashboard.pipeline.dashboard_body).widgets :
      widget.type == "alarm" ? true : widget.properties.region == "eu-west-1"
    ])
    error_message = "every metric and log widget must show the deployed region"
  }
  assert {
    condition = alltrue(flatten([
      for widget in jsondecode(aws_cloudwatch_dashboard.pipeline.dashboard_body).widgets : [
        # Rows with a dimension: metric math rows ([{expression}]) and account-wide metrics name no resource.
        for metric in try(widget.properties.metrics, []) : contains([
          aws_lambda_function.image_processor.function_name, aws_lambda_function.db_writer.function_name,
          aws_sqs_queue.metadata.name, aws_sqs_queue.metadata_dlq.name, aws_sqs_queue.processor_failures.name,
          aws_dynamodb_table.images.name,
        ], metric[3]) if length(metric) > 3
      ]
    ]))
    error_message = "a dashboard metric names a resource that is not in the stack"
  }
  assert {
    condition = (
      one(toset([for q in aws_cloudwatch_metric_alarm.this["metadata_dlq_not_empty"].metric_query : q.metric[0].dimensions.QueueName if length(q.metric) > 0])) == aws_sqs_queue.metadata_dlq.name &&
      one(toset([for q in aws_cloudwatch_metric_alarm.this["processor_failures_not_empty"].metric_query : q.metric[0].dimensions.QueueName if length(q.metric) > 0])) == aws_sqs_queue.processor_failures.name &&
      aws_cloudwatch_metric_alarm.this["metadata_queue_oldest_message"].dimensions.QueueName == aws_sqs_queue.metadata.name &&
      aws_cloudwatch_metric_alarm.this["image_processor_errors"].dimensions.FunctionName == aws_lambda_function.image_processor.function_name &&
      aws_cloudwatch_metric_alarm.this["db_writer_errors"].dimensions.FunctionName == aws_lambda_function.db_writer.function_name
    )
    error_message = "an alarm watches a queue or function other than the stack's"
  }
  assert {
    condition     = length(aws_sns_topic_subscription.alarm_email) == 0
    error_message = "no e-mail subscription is created without alarm_email"
  }
  assert {
    condition     = aws_dynamodb_table.images.stream_enabled == false && output.dynamodb_stream_arn == null
    error_message = "the table's stream is opt-in (dynamodb_stream_enabled): off, with no ARN output"
  }
  assert {
    condition     = output.alarm_topic_arn == aws_sns_topic.alarms.arn && output.alarm_topic_arn != ""
    error_message = "the alarm topic is always created and its ARN is an output"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["image_processor_throttles"].dimensions.FunctionName == aws_lambda_function.image_processor.function_name &&
      aws_cloudwatch_metric_alarm.this["db_writer_throttles"].dimensions.FunctionName == aws_lambda_function.db_writer.function_name &&
      aws_cloudwatch_metric_alarm.this["image_processor_async_events_dropped"].metric_name == "AsyncEventsDropped" &&
      aws_cloudwatch_metric_alarm.this["image_processor_async_events_dropped"].dimensions.FunctionName == aws_lambda_function.image_processor.function_name &&
      aws_cloudwatch_metric_alarm.this["image_processor_destination_delivery_failures"].metric_name == "DestinationDeliveryFailures" &&
      aws_cloudwatch_metric_alarm.this["image_processor_destination_delivery_failures"].dimensions.FunctionName == aws_lambda_function.image_processor.function_name
    )
    error_message = "the throttles and lost-event alarms watch the stack's functions"
  }
  assert {
    condition = alltrue([
      for alarm in [aws_cloudwatch_metric_alarm.this["image_processor_error_rate"], aws_cloudwatch_metric_alarm.this["db_writer_error_rate"]] :
      alarm.threshold == 1 && length([for q in alarm.metric_query : q if q.return_data && q.expression == "100 * errors / invocations"]) == 1
    ])
    error_message = "the error-rate alarms divide errors by invocations and fire above 1 %"
  }
  assert {
    condition = (
      one([for q in aws_cloudwatch_metric_alarm.this["image_processor_error_rate"].metric_query : q.metric[0].dimensions.FunctionName if q.id == "errors"]) == aws_lambda_function.image_processor.function_name &&
      one([for q in aws_cloudwatch_metric_alarm.this["db_writer_error_rate"].metric_query : q.metric[0].dimensions.FunctionName if q.id == "invocations"]) == aws_lambda_function.db_writer.function_name
    )
    error_message = "each error-rate alarm reads its own function's metrics"
  }
  assert {
    condition = alltrue([
      for alarm in [aws_cloudwatch_metric_alarm.this["metadata_dlq_not_empty"], aws_cloudwatch_metric_alarm.this["metadata_dlq_new_messages"]] :
      alltrue([for q in alarm.metric_query : q.metric[0].dimensions.QueueName == aws_sqs_queue.metadata_dlq.name if length(q.metric) > 0])
    ]) && length(aws_cloudwatch_metric_alarm.this["processor_failures_new_messages"].ok_actions) == 0
    error_message = "the DLQ alarms read their own queue, and the new-messages alarm sends no OK"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["end_to_end_latency"].threshold == 120000 &&
      aws_cloudwatch_metric_alarm.this["end_to_end_latency"].extended_statistic == "p99" &&
      aws_cloudwatch_metric_alarm.this["end_to_end_latency"].dimensions.FunctionName == aws_lambda_function.db_writer.function_name &&
      aws_cloudwatch_metric_alarm.this["account_concurrency"].threshold == 800 &&
      length(aws_cloudwatch_metric_alarm.this["account_concurrency"].dimensions) == 0
    )
    error_message = "latency p99 above 120 s, account concurrency above 80 % of 1000"
  }
  assert {
    condition = (
      aws_sqs_queue_policy.metadata.queue_url == aws_sqs_queue.metadata.id &&
      aws_sqs_queue_policy.metadata_dlq.queue_url == aws_sqs_queue.metadata_dlq.id &&
      aws_sqs_queue_policy.processor_failures.queue_url == aws_sqs_queue.processor_failures.id &&
      aws_sqs_queue_policy.metadata.policy == data.aws_iam_policy_document.metadata_queue.json
    )
    error_message = "every queue has its policy"
  }
  assert {
    condition = alltrue([
      for queue, document in data.aws_iam_policy_document.queue_tls_only :
      one([for st in document.statement : st.effect == "Deny" && contains(st.actions, "sqs:*") && length(st.actions) == 1 && one(st.condition).variable == "aws:SecureTransport" && tolist(one(st.condition).values) == tolist(["false"]) if st.sid == "DenyWithoutTLS"])
    ]) && length(data.aws_iam_policy_document.queue_tls_only) == 3
    error_message = "each of the three queues denies requests without TLS"
  }
  assert {
    condition = one([
      for st in data.aws_iam_policy_document.metadata_queue.statement :
      st.effect == "Deny" && contains(st.actions, "sqs:SendMessage") && length(st.actions) == 1 && one(st.condition).test == "ArnNotEquals" && tolist(one(st.condition).values) == tolist([aws_iam_role.image_processor.arn])
      if st.sid == "OnlyImageProcessorSends"
    ])
    error_message = "only image_processor's role may send to the metadata queue"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.processor_failures.redrive_allow_policy).redrivePermission == "denyAll"
    error_message = "processor-failures must refuse to be anyone's DLQ"
  }
  assert {
    condition = one([
      for st in data.aws_iam_policy_document.image_processor.statement :
      one(st.condition).variable == "s3:prefix" && tolist(one(st.condition).values) == tolist(["*"]) if st.sid == "TellMissingUploadsApart"
    ])
    error_message = "s3:ListBucket is limited to the upload prefix (everything, with the default empty prefix)"
  }
}

run "no_alarm_subscriber_warns" {
  command = plan

  variables {
    alarm_topic_subscribed_elsewhere = false
  }

  expect_failures = [check.alarm_topic_has_a_subscriber]
}

run "alarm_email_and_redrive_roles" {
  command = plan

  variables {
    alarm_email                          = "ops@example.com"
    alarm_topic_subscribed_elsewhere     = false
    upload_prefix                        = "incoming/"
    metadata_queue_redrive_role_arns     = ["arn:aws:iam::123456789012:role/operators"]
    image_processor_reserved_concurrency = 50
  }

  assert {
    condition     = length(aws_sns_topic_subscription.alarm_email) == 1
    error_message = "alarm_email subscribes one address"
  }
  assert {
    condition = one([
      for st in data.aws_iam_policy_document.metadata_queue.statement :
      contains(one(st.condition).values, "arn:aws:iam::123456789012:role/operators") if st.sid == "OnlyImageProcessorSends"
    ])
    error_message = "the redrive roles may send to the metadata queue too"
  }
  assert {
    condition = one([
      for st in data.aws_iam_policy_document.image_processor.statement :
      tolist(one(st.condition).values) == tolist(["incoming/*"]) if st.sid == "TellMissingUploadsApart"
    ])
    error_message = "s3:ListBucket follows upload_prefix"
  }
  assert {
    condition     = aws_lambda_function.image_processor.reserved_concurrent_executions == 50
    error_message = "image_processor_reserved_concurrency reserves concurrency"
  }
}

run "dynamodb_stream_on" {
  command = apply

  variables {
    dynamodb_stream_enabled = true
  }

  assert {
    condition     = aws_dynamodb_table.images.stream_enabled && aws_dynamodb_table.images.stream_view_type == "NEW_IMAGE"
    error_message = "dynamodb_stream_enabled = true must stream each record's new image"
  }
  assert {
    condition     = output.dynamodb_stream_arn == aws_dynamodb_table.images.stream_arn && output.dynamodb_stream_arn != null
    error_message = "dynamodb_stream_arn must give the stream's ARN when the stream is on"
  }
}

run "xray_tracing_on" {
  command = plan

  variables {
    xray_tracing = true
  }

  assert {
    condition     = aws_lambda_function.image_processor.tracing_config[0].mode == "Active" && aws_lambda_function.db_writer.tracing_config[0].mode == "Active"
    error_message = "xray_tracing = true must turn on active tracing for both functions"
  }
}

run "tags_null_means_no_extra_tags" {
  command = plan

  variables {
    tags = null
  }

  # Accepted (the plan fails otherwise, iterating over null in the tags validations): null is no extra tags.
  assert {
    condition     = aws_sqs_queue.metadata.name == "image-pipeline-dev-metadata"
    error_message = "tags = null must plan like the default stack"
  }
}

run "visibility_timeout_follows_db_writer" {
  command = plan

  variables {
    db_writer_timeout                  = 60
    maximum_batching_window_in_seconds = 10
  }

  assert {
    condition     = aws_sqs_queue.metadata.visibility_timeout_seconds == 6 * 60 + 10
    error_message = "metadata visibility timeout must be 6 x db_writer_timeout + batching window"
  }
}

run "options" {
  command = plan

  variables {
    upload_prefix         = "incoming/"
    alarm_email           = "ops@example.com"
    environment           = "prod"
    project_name          = "photos"
    force_destroy         = true
    include_gps           = true
    thumbnail_prefix      = "thumbs/"
    extra_thumbnail_sizes = [128, 1024]
    # Accepted (the plan fails otherwise): the most tags AWS allows beside the stack's three, with letters
    # beyond ASCII and every symbol AWS allows.
    tags = merge({ for i in range(45) : "Tag${i}" => "x" }, { "Équipe" = "Photo Archiv", "cost-center" = "a_b.c:d/e=f+g-h@i" })
  }

  assert {
    condition     = aws_s3_bucket_notification.uploads.lambda_function[0].filter_prefix == "incoming/"
    error_message = "upload_prefix must become the notification's key prefix filter"
  }
  assert {
    condition     = aws_sns_topic_subscription.alarm_email[0].endpoint == "ops@example.com"
    error_message = "alarm_email must be subscribed to the alarm topic"
  }
  assert {
    condition     = aws_lambda_function.db_writer.function_name == "photos-prod-db-writer" && aws_s3_bucket.this["uploads"].force_destroy
    error_message = "names must follow project_name and environment"
  }
  assert {
    condition = (
      aws_lambda_function.image_processor.environment[0].variables.INCLUDE_GPS == "true" &&
      aws_lambda_function.image_processor.environment[0].variables.THUMBNAIL_PREFIX == "thumbs/" &&
      aws_lambda_function.image_processor.environment[0].variables.EXTRA_THUMBNAIL_SIZES == "128,1024"
    )
    error_message = "image_processor settings must reach its environment"
  }
}

run "x86_64_build" {
  command = plan

  variables {
    package_dir         = "../dist-x86_64"
    lambda_architecture = "x86_64"
  }

  assert {
    condition     = aws_lambda_function.image_processor.architectures == tolist(["x86_64"]) && aws_lambda_function.db_writer.architectures == tolist(["x86_64"])
    error_message = "lambda_architecture must apply to both functions"
  }
  assert {
    condition = (
      startswith(local.build_command, "./build.sh --arch x86_64 --python 3.13 --out /") &&
      endswith(local.build_command, "/dist-x86_64") && !strcontains(local.build_command, "..")
    )
    error_message = "the command in plan errors must build into package_dir, as an absolute path: ${local.build_command}"
  }
}

# The same project_name and environment in a second region, here in China: the account-global names
# (IAM roles, dashboard) differ from eu-west-1's, the console is China's, and Lambda's X-Ray
# integration, which China does not offer, is not asked for even with xray_tracing on.
run "china_region" {
  command = plan

  override_data {
    target = data.aws_region.current
    values = { region = "cn-north-1" }
  }
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws-cn" }
  }

  variables {
    aws_region   = "cn-north-1"
    xray_tracing = true
  }

  assert {
    condition     = aws_iam_role.image_processor.name == "image-pipeline-dev-image-processor-cn-north-1" && aws_iam_role.db_writer.name == "image-pipeline-dev-db-writer-cn-north-1"
    error_message = "role names must include the region: ${aws_iam_role.image_processor.name}"
  }
  assert {
    condition     = output.dashboard_url == "https://cn-north-1.console.amazonaws.cn/cloudwatch/home?region=cn-north-1#dashboards/dashboard/image-pipeline-dev-cn-north-1"
    error_message = "dashboard_url: ${output.dashboard_url}"
  }
  assert {
    condition     = aws_lambda_function.image_processor.tracing_config[0].mode == "PassThrough" && aws_lambda_function.db_writer.tracing_config[0].mode == "PassThrough"
    error_message = "Lambda's X-Ray integration is not available in China: tracing must be PassThrough"
  }
}

run "govcloud_region" {
  command = plan

  override_data {
    target = data.aws_region.current
    values = { region = "us-gov-west-1" }
  }
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws-us-gov" }
  }

  variables {
    aws_region   = "us-gov-west-1"
    xray_tracing = true
  }

  assert {
    condition     = output.dashboard_url == "https://us-gov-west-1.console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-west-1#dashboards/dashboard/image-pipeline-dev-us-gov-west-1"
    error_message = "dashboard_url: ${output.dashboard_url}"
  }
  assert {
    condition     = aws_lambda_function.image_processor.tracing_config[0].mode == "Active" && aws_lambda_function.db_writer.tracing_config[0].mode == "Active"
    error_message = "GovCloud has Lambda's X-Ray integration: xray_tracing = true must turn on active tracing there"
  }
}

# A region from the AWS CLI configuration (aws_region = null) is not checked by aws_region's validation:
# the partition's postcondition refuses it.
run "unsupported_partition_from_cli_configuration" {
  command = plan

  override_data {
    target = data.aws_region.current
    values = { region = "us-iso-east-1" }
  }
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws-iso" }
  }

  expect_failures = [data.aws_partition.current]
}
