resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed aws/sns key, and a customer-managed key costs a monthly fee; alarm notifications carry no image data.
  name = local.alarm_topic_name
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# A message in either dead-letter queue is an upload the pipeline gave up on: alarm on the first one.
# The depth counts messages in flight too, so receiving one to inspect it (docs/operations.md) does not
# turn the alarm OK. SQS's NumberOfMessagesSent leaves out messages a redrive policy moves to a DLQ, so the
# "new messages" alarms use the rise of that depth instead: they fire again for every minute in which
# messages arrive while the depth alarm is already in ALARM, and say nothing when they go back to OK.
resource "aws_cloudwatch_metric_alarm" "metadata_dlq_not_empty" {
  alarm_name          = "${local.metadata_dlq_name}-not-empty"
  alarm_description   = "Metadata messages db_writer failed to write ${var.max_receive_count} times are waiting in ${local.metadata_dlq_name}. Fix the cause (db_writer logs), then redrive them to ${local.metadata_queue_name}."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "messages"
    expression  = "visible + in_flight"
    label       = "Messages in ${aws_sqs_queue.metadata_dlq.name}"
    return_data = true
  }
  metric_query {
    id = "visible"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.metadata_dlq.name }
      stat        = "Maximum"
      period      = 60
    }
  }
  metric_query {
    id = "in_flight"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesNotVisible"
      dimensions  = { QueueName = aws_sqs_queue.metadata_dlq.name }
      stat        = "Maximum"
      period      = 60
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "metadata_dlq_new_messages" {
  alarm_name          = "${local.metadata_dlq_name}-new-messages"
  alarm_description   = "More metadata messages reached ${local.metadata_dlq_name} in the last minute: db_writer is still failing. See its logs before redriving."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "arrived"
    expression  = "DIFF(visible + in_flight)"
    label       = "Messages added to ${aws_sqs_queue.metadata_dlq.name}"
    return_data = true
  }
  metric_query {
    id = "visible"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.metadata_dlq.name }
      stat        = "Maximum"
      period      = 60
    }
  }
  metric_query {
    id = "in_flight"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesNotVisible"
      dimensions  = { QueueName = aws_sqs_queue.metadata_dlq.name }
      stat        = "Maximum"
      period      = 60
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "processor_failures_not_empty" {
  alarm_name          = "${local.processor_failures_queue_name}-not-empty"
  alarm_description   = "S3 events image_processor failed after every retry are waiting in ${local.processor_failures_queue_name}. Fix the cause (image_processor logs), then re-upload or replay the events."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "messages"
    expression  = "visible + in_flight"
    label       = "Messages in ${aws_sqs_queue.processor_failures.name}"
    return_data = true
  }
  metric_query {
    id = "visible"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.processor_failures.name }
      stat        = "Maximum"
      period      = 60
    }
  }
  metric_query {
    id = "in_flight"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesNotVisible"
      dimensions  = { QueueName = aws_sqs_queue.processor_failures.name }
      stat        = "Maximum"
      period      = 60
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "processor_failures_new_messages" {
  alarm_name          = "${local.processor_failures_queue_name}-new-messages"
  alarm_description   = "More S3 events reached ${local.processor_failures_queue_name} in the last minute: image_processor is still failing. See its logs before replaying."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "arrived"
    expression  = "DIFF(visible + in_flight)"
    label       = "Messages added to ${aws_sqs_queue.processor_failures.name}"
    return_data = true
  }
  metric_query {
    id = "visible"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.processor_failures.name }
      stat        = "Maximum"
      period      = 60
    }
  }
  metric_query {
    id = "in_flight"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesNotVisible"
      dimensions  = { QueueName = aws_sqs_queue.processor_failures.name }
      stat        = "Maximum"
      period      = 60
    }
  }
}

# Errors are invocations that raised or timed out; image_processor's are retried by Lambda, db_writer's
# by SQS, so the alarm says "something is failing" before anything reaches a dead-letter queue.
resource "aws_cloudwatch_metric_alarm" "image_processor_errors" {
  alarm_name          = "${local.image_processor_name}-errors"
  alarm_description   = "${local.image_processor_name} raised or timed out. See its log group /aws/lambda/${local.image_processor_name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.image_processor.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "db_writer_errors" {
  alarm_name          = "${local.db_writer_name}-errors"
  alarm_description   = "${local.db_writer_name} raised or timed out (the whole batch is received again). See its log group /aws/lambda/${local.db_writer_name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.db_writer.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# Messages piling up: db_writer is throttled, failing or not consuming at all.
resource "aws_cloudwatch_metric_alarm" "metadata_queue_oldest_message" {
  alarm_name          = "${local.metadata_queue_name}-oldest-message-age"
  alarm_description   = "The oldest message in ${local.metadata_queue_name} is older than ${var.queue_age_alarm_threshold_seconds} s: db_writer is not keeping up."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.metadata.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = var.queue_age_alarm_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  lifecycle {
    # SQS deletes a message when it reaches the queue's retention, so the age never passes it: the alarm
    # needs at least one 60-second period (its period above) of ages above the threshold to fire.
    precondition {
      condition     = var.queue_age_alarm_threshold_seconds + 60 <= local.metadata_retention_seconds
      error_message = "queue_age_alarm_threshold_seconds is ${var.queue_age_alarm_threshold_seconds}, but the metadata queue deletes messages after ${local.metadata_retention_seconds} s, so this alarm could never fire: use at most ${local.metadata_retention_seconds - 60}."
    }
  }
}

# Throttled invocations are retried by Lambda (asynchronous) or SQS (db_writer), so nothing is lost yet,
# but every one delays uploads and a long run of them ages events out: worth knowing within 5 minutes.
resource "aws_cloudwatch_metric_alarm" "image_processor_throttles" {
  alarm_name          = "${local.image_processor_name}-throttles"
  alarm_description   = "Lambda refused to run ${local.image_processor_name} (account or reserved concurrency reached). S3 events wait and are retried for up to ${var.image_processor_maximum_event_age_in_seconds} s, then go to ${local.processor_failures_queue_name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.image_processor.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "db_writer_throttles" {
  alarm_name          = "${local.db_writer_name}-throttles"
  alarm_description   = "Lambda refused to run ${local.db_writer_name} (account concurrency reached). Messages stay in ${local.metadata_queue_name} and reach its DLQ after ${var.max_receive_count} receives."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.db_writer.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# The silent paths: an event Lambda drops, or a failure record it cannot deliver to processor-failures
# (for example a queue policy or a deleted queue), reaches no queue and no alarm above. Any one is a lost upload.
resource "aws_cloudwatch_metric_alarm" "image_processor_async_events_dropped" {
  alarm_name          = "${local.image_processor_name}-async-events-dropped"
  alarm_description   = "Lambda dropped S3 events for ${local.image_processor_name} without running them to the end and without a failure record: those uploads have no record. Re-upload or reprocess the keys uploaded in the alarm's period."
  namespace           = "AWS/Lambda"
  metric_name         = "AsyncEventsDropped"
  dimensions          = { FunctionName = aws_lambda_function.image_processor.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "image_processor_destination_delivery_failures" {
  alarm_name          = "${local.image_processor_name}-destination-delivery-failures"
  alarm_description   = "Lambda could not deliver failure records of ${local.image_processor_name} to ${local.processor_failures_queue_name}: those uploads failed and are in no queue. Check the queue exists and its policy, then reprocess the keys uploaded in the alarm's period."
  namespace           = "AWS/Lambda"
  metric_name         = "DestinationDeliveryFailures"
  dimensions          = { FunctionName = aws_lambda_function.image_processor.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# A share of the invocations rather than a count: the errors alarms above fire on the first failure, these
# on a failing share that no single bad input explains. No invocations means no data, which is not breaching.
resource "aws_cloudwatch_metric_alarm" "image_processor_error_rate" {
  alarm_name          = "${local.image_processor_name}-error-rate"
  alarm_description   = "More than ${var.error_rate_alarm_threshold_percent} % of ${local.image_processor_name}'s invocations failed over 5 minutes: an outage or a bad deployment rather than one bad input. See its log group /aws/lambda/${local.image_processor_name}."
  evaluation_periods  = 1
  threshold           = var.error_rate_alarm_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "error_rate"
    expression  = "100 * errors / invocations"
    label       = "Errors (% of invocations)"
    return_data = true
  }
  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.image_processor.function_name }
      stat        = "Sum"
      period      = 300
    }
  }
  metric_query {
    id = "invocations"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Invocations"
      dimensions  = { FunctionName = aws_lambda_function.image_processor.function_name }
      stat        = "Sum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "db_writer_error_rate" {
  alarm_name          = "${local.db_writer_name}-error-rate"
  alarm_description   = "More than ${var.error_rate_alarm_threshold_percent} % of ${local.db_writer_name}'s invocations failed over 5 minutes: an outage or a bad deployment rather than one bad input. See its log group /aws/lambda/${local.db_writer_name}."
  evaluation_periods  = 1
  threshold           = var.error_rate_alarm_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "error_rate"
    expression  = "100 * errors / invocations"
    label       = "Errors (% of invocations)"
    return_data = true
  }
  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.db_writer.function_name }
      stat        = "Sum"
      period      = 300
    }
  }
  metric_query {
    id = "invocations"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Invocations"
      dimensions  = { FunctionName = aws_lambda_function.db_writer.function_name }
      stat        = "Sum"
      period      = 300
    }
  }
}

# db_writer's EndToEndLatency (EMF): S3's event time of the upload to the record written, in milliseconds.
# Three 5-minute periods, so one slow retry does not page anyone, a stalled pipeline does.
resource "aws_cloudwatch_metric_alarm" "end_to_end_latency" {
  alarm_name          = "${local.prefix}-end-to-end-latency"
  alarm_description   = "The p99 time from upload to record written is above ${var.end_to_end_latency_alarm_threshold_seconds} s for 15 minutes: uploads wait for retries, throttled functions or a queue db_writer does not keep up with."
  namespace           = "ImagePipeline"
  metric_name         = "EndToEndLatency"
  dimensions          = { FunctionName = aws_lambda_function.db_writer.function_name }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.end_to_end_latency_alarm_threshold_seconds * 1000
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# ConcurrentExecutions without a dimension is the whole account's: past the quota every function in the
# region is throttled, this stack's and others'. Five minutes above the share, not one burst.
resource "aws_cloudwatch_metric_alarm" "account_concurrency" {
  alarm_name          = "${local.prefix}-account-concurrency"
  alarm_description   = "Lambda concurrent executions in ${local.region} are above ${var.concurrency_alarm_percent} % of the account's ${var.account_concurrency_limit}: throttling is near for every function in the account. Find the busiest function on the dashboard; ask for a higher quota or cap it with reserved concurrency."
  namespace           = "AWS/Lambda"
  metric_name         = "ConcurrentExecutions"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = floor(var.account_concurrency_limit * var.concurrency_alarm_percent / 100)
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# A warning, not an error: plan and apply go on, but nobody is told about an alarm until someone subscribes.
check "alarm_topic_has_a_subscriber" {
  assert {
    condition     = var.alarm_email != null || var.alarm_topic_subscribed_elsewhere
    error_message = "No one is subscribed to the alarm topic ${local.alarm_topic_name}: the alarms will fire into the void. Set alarm_email, or subscribe an endpoint to the topic (output alarm_topic_arn) and set alarm_topic_subscribed_elsewhere = true."
  }
}
