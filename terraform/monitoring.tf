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

locals {
  lambda_dimensions = {
    image_processor = { FunctionName = aws_lambda_function.image_processor.function_name }
    db_writer       = { FunctionName = aws_lambda_function.db_writer.function_name }
  }

  # Every alarm of the stack, by the name of its instance of aws_cloudwatch_metric_alarm.this below. Adding
  # one is adding an entry here (and a row to docs/operations.md): the dashboard's alarm widget and the
  # local stack (local_pipeline/) take every entry. An alarm watches one `metric`, or the metric math
  # `expression` over `metrics` (each named by the id the expression uses); `ok_actions = false` for an
  # alarm whose return to OK is no news; evaluation_periods is 1 unless given.
  alarms = {
    # A message in either dead-letter queue is an upload the pipeline gave up on: alarm on the first one.
    # The depth counts messages in flight too, so receiving one to inspect it (docs/operations.md) does not
    # turn the alarm OK. SQS's NumberOfMessagesSent leaves out messages a redrive policy moves to a DLQ, so
    # the "new messages" alarms use the rise of that depth instead: they fire again for every minute in
    # which messages arrive while the depth alarm is already in ALARM, and say nothing when they go back to OK.
    metadata_dlq_not_empty = {
      name        = "${local.metadata_dlq_name}-not-empty"
      description = "Metadata messages db_writer failed to write ${var.max_receive_count} times are waiting in ${local.metadata_dlq_name}. Fix the cause (db_writer logs), then redrive them to ${local.metadata_queue_name}."
      threshold   = 0
      expression  = { id = "messages", expression = "visible + in_flight", label = "Messages in ${aws_sqs_queue.metadata_dlq.name}" }
      metrics     = local.queue_depth_metrics.metadata_dlq
    }
    metadata_dlq_new_messages = {
      name        = "${local.metadata_dlq_name}-new-messages"
      description = "More metadata messages reached ${local.metadata_dlq_name} in the last minute: db_writer is still failing. See its logs before redriving."
      threshold   = 0
      expression  = { id = "arrived", expression = "DIFF(visible + in_flight)", label = "Messages added to ${aws_sqs_queue.metadata_dlq.name}" }
      metrics     = local.queue_depth_metrics.metadata_dlq
      ok_actions  = false
    }
    processor_failures_not_empty = {
      name        = "${local.processor_failures_queue_name}-not-empty"
      description = "S3 events image_processor failed after every retry are waiting in ${local.processor_failures_queue_name}. Fix the cause (image_processor logs), then re-upload or replay the events."
      threshold   = 0
      expression  = { id = "messages", expression = "visible + in_flight", label = "Messages in ${aws_sqs_queue.processor_failures.name}" }
      metrics     = local.queue_depth_metrics.processor_failures
    }
    processor_failures_new_messages = {
      name        = "${local.processor_failures_queue_name}-new-messages"
      description = "More S3 events reached ${local.processor_failures_queue_name} in the last minute: image_processor is still failing. See its logs before replaying."
      threshold   = 0
      expression  = { id = "arrived", expression = "DIFF(visible + in_flight)", label = "Messages added to ${aws_sqs_queue.processor_failures.name}" }
      metrics     = local.queue_depth_metrics.processor_failures
      ok_actions  = false
    }

    # Errors are invocations that raised or timed out; image_processor's are retried by Lambda, db_writer's
    # by SQS, so the alarm says "something is failing" before anything reaches a dead-letter queue.
    image_processor_errors = {
      name        = "${local.image_processor_name}-errors"
      description = "${local.image_processor_name} raised or timed out. See its log group /aws/lambda/${local.image_processor_name}."
      threshold   = 0
      metric      = { namespace = "AWS/Lambda", metric_name = "Errors", dimensions = local.lambda_dimensions.image_processor, statistic = "Sum", period = 300 }
    }
    db_writer_errors = {
      name        = "${local.db_writer_name}-errors"
      description = "${local.db_writer_name} raised or timed out (the whole batch is received again). See its log group /aws/lambda/${local.db_writer_name}."
      threshold   = 0
      metric      = { namespace = "AWS/Lambda", metric_name = "Errors", dimensions = local.lambda_dimensions.db_writer, statistic = "Sum", period = 300 }
    }

    # Messages piling up: db_writer is throttled, failing or not consuming at all. (The metadata queue's
    # precondition checks this threshold leaves the alarm time to fire before SQS deletes the message.)
    metadata_queue_oldest_message = {
      name        = "${local.metadata_queue_name}-oldest-message-age"
      description = "The oldest message in ${local.metadata_queue_name} is older than ${var.queue_age_alarm_threshold_seconds} s: db_writer is not keeping up."
      threshold   = var.queue_age_alarm_threshold_seconds
      metric      = { namespace = "AWS/SQS", metric_name = "ApproximateAgeOfOldestMessage", dimensions = { QueueName = aws_sqs_queue.metadata.name }, statistic = "Maximum", period = local.queue_age_alarm_period }
    }

    # Throttled invocations are retried by Lambda (asynchronous) or SQS (db_writer), so nothing is lost yet,
    # but every one delays uploads and a long run of them ages events out: worth knowing within 5 minutes.
    image_processor_throttles = {
      name        = "${local.image_processor_name}-throttles"
      description = "Lambda refused to run ${local.image_processor_name} (account or reserved concurrency reached). S3 events wait and are retried for up to ${var.image_processor_maximum_event_age_in_seconds} s, then go to ${local.processor_failures_queue_name}."
      threshold   = 0
      metric      = { namespace = "AWS/Lambda", metric_name = "Throttles", dimensions = local.lambda_dimensions.image_processor, statistic = "Sum", period = 300 }
    }
    db_writer_throttles = {
      name        = "${local.db_writer_name}-throttles"
      description = "Lambda refused to run ${local.db_writer_name} (account concurrency reached). Messages stay in ${local.metadata_queue_name} and reach its DLQ after ${var.max_receive_count} receives."
      threshold   = 0
      metric      = { namespace = "AWS/Lambda", metric_name = "Throttles", dimensions = local.lambda_dimensions.db_writer, statistic = "Sum", period = 300 }
    }

    # The silent paths: an event Lambda drops, or a failure record it cannot deliver to processor-failures
    # (for example a queue policy or a deleted queue), reaches no queue and no alarm above. Any one is a lost upload.
    image_processor_async_events_dropped = {
      name        = "${local.image_processor_name}-async-events-dropped"
      description = "Lambda dropped S3 events for ${local.image_processor_name} without running them to the end and without a failure record: those uploads have no record. Re-upload or reprocess the keys uploaded in the alarm's period."
      threshold   = 0
      metric      = { namespace = "AWS/Lambda", metric_name = "AsyncEventsDropped", dimensions = local.lambda_dimensions.image_processor, statistic = "Sum", period = 300 }
    }
    image_processor_destination_delivery_failures = {
      name        = "${local.image_processor_name}-destination-delivery-failures"
      description = "Lambda could not deliver failure records of ${local.image_processor_name} to ${local.processor_failures_queue_name}: those uploads failed and are in no queue. Check the queue exists and its policy, then reprocess the keys uploaded in the alarm's period."
      threshold   = 0
      metric      = { namespace = "AWS/Lambda", metric_name = "DestinationDeliveryFailures", dimensions = local.lambda_dimensions.image_processor, statistic = "Sum", period = 300 }
    }

    # A share of the invocations rather than a count: the errors alarms above fire on the first failure, these
    # on a failing share that no single bad input explains. No invocations means no data, which is not breaching.
    image_processor_error_rate = {
      name        = "${local.image_processor_name}-error-rate"
      description = "More than ${var.error_rate_alarm_threshold_percent} % of ${local.image_processor_name}'s invocations failed over 5 minutes: an outage or a bad deployment rather than one bad input. See its log group /aws/lambda/${local.image_processor_name}."
      threshold   = var.error_rate_alarm_threshold_percent
      expression  = { id = "error_rate", expression = "100 * errors / invocations", label = "Errors (% of invocations)" }
      metrics     = local.error_rate_metrics.image_processor
    }
    db_writer_error_rate = {
      name        = "${local.db_writer_name}-error-rate"
      description = "More than ${var.error_rate_alarm_threshold_percent} % of ${local.db_writer_name}'s invocations failed over 5 minutes: an outage or a bad deployment rather than one bad input. See its log group /aws/lambda/${local.db_writer_name}."
      threshold   = var.error_rate_alarm_threshold_percent
      expression  = { id = "error_rate", expression = "100 * errors / invocations", label = "Errors (% of invocations)" }
      metrics     = local.error_rate_metrics.db_writer
    }

    # db_writer's EndToEndLatency (EMF): S3's event time of the upload to the record written, in milliseconds.
    # Three 5-minute periods, so one slow retry does not page anyone, a stalled pipeline does.
    end_to_end_latency = {
      name               = "${local.prefix}-end-to-end-latency"
      description        = "The p99 time from upload to record written is above ${var.end_to_end_latency_alarm_threshold_seconds} s for 15 minutes: uploads wait for retries, throttled functions or a queue db_writer does not keep up with."
      threshold          = var.end_to_end_latency_alarm_threshold_seconds * 1000
      evaluation_periods = 3
      metric             = { namespace = "ImagePipeline", metric_name = "EndToEndLatency", dimensions = local.lambda_dimensions.db_writer, extended_statistic = "p99", period = 300 }
    }

    # ConcurrentExecutions without a dimension is the whole account's: past the quota every function in the
    # region is throttled, this stack's and others'. Five minutes above the share, not one burst.
    account_concurrency = {
      name               = "${local.prefix}-account-concurrency"
      description        = "Lambda concurrent executions in ${local.region} are above ${var.concurrency_alarm_percent} % of the account's ${var.account_concurrency_limit}: throttling is near for every function in the account. Find the busiest function on the dashboard; ask for a higher quota or cap it with reserved concurrency."
      threshold          = floor(var.account_concurrency_limit * var.concurrency_alarm_percent / 100)
      evaluation_periods = 5
      metric             = { namespace = "AWS/Lambda", metric_name = "ConcurrentExecutions", statistic = "Maximum", period = 60 }
    }
  }

  # Visible and in flight: receiving a message to inspect it leaves the count as it was.
  queue_depth_metrics = {
    for queue, name in { metadata_dlq = aws_sqs_queue.metadata_dlq.name, processor_failures = aws_sqs_queue.processor_failures.name } : queue => [
      { id = "visible", namespace = "AWS/SQS", metric_name = "ApproximateNumberOfMessagesVisible", dimensions = { QueueName = name }, stat = "Maximum", period = 60 },
      { id = "in_flight", namespace = "AWS/SQS", metric_name = "ApproximateNumberOfMessagesNotVisible", dimensions = { QueueName = name }, stat = "Maximum", period = 60 },
    ]
  }
  error_rate_metrics = {
    for function, dimensions in local.lambda_dimensions : function => [
      { id = "errors", namespace = "AWS/Lambda", metric_name = "Errors", dimensions = dimensions, stat = "Sum", period = 300 },
      { id = "invocations", namespace = "AWS/Lambda", metric_name = "Invocations", dimensions = dimensions, stat = "Sum", period = 300 },
    ]
  }
  queue_age_alarm_period = 60
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = each.value.name
  alarm_description   = each.value.description
  namespace           = lookup(lookup(each.value, "metric", {}), "namespace", null)
  metric_name         = lookup(lookup(each.value, "metric", {}), "metric_name", null)
  dimensions          = lookup(lookup(each.value, "metric", {}), "dimensions", null)
  statistic           = lookup(lookup(each.value, "metric", {}), "statistic", null)
  extended_statistic  = lookup(lookup(each.value, "metric", {}), "extended_statistic", null)
  period              = lookup(lookup(each.value, "metric", {}), "period", null)
  evaluation_periods  = lookup(each.value, "evaluation_periods", 1)
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = lookup(each.value, "ok_actions", true) ? [aws_sns_topic.alarms.arn] : []

  dynamic "metric_query" {
    for_each = lookup(each.value, "expression", null) == null ? [] : [each.value.expression]
    content {
      id          = metric_query.value.id
      expression  = metric_query.value.expression
      label       = metric_query.value.label
      return_data = true
    }
  }
  dynamic "metric_query" {
    for_each = lookup(each.value, "metrics", [])
    content {
      id = metric_query.value.id
      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.metric_name
        dimensions  = metric_query.value.dimensions
        stat        = metric_query.value.stat
        period      = metric_query.value.period
      }
    }
  }
}

# The alarms were one resource each: a deployed stack keeps them, renamed in its state.
moved {
  from = aws_cloudwatch_metric_alarm.metadata_dlq_not_empty
  to   = aws_cloudwatch_metric_alarm.this["metadata_dlq_not_empty"]
}

moved {
  from = aws_cloudwatch_metric_alarm.metadata_dlq_new_messages
  to   = aws_cloudwatch_metric_alarm.this["metadata_dlq_new_messages"]
}

moved {
  from = aws_cloudwatch_metric_alarm.processor_failures_not_empty
  to   = aws_cloudwatch_metric_alarm.this["processor_failures_not_empty"]
}

moved {
  from = aws_cloudwatch_metric_alarm.processor_failures_new_messages
  to   = aws_cloudwatch_metric_alarm.this["processor_failures_new_messages"]
}

moved {
  from = aws_cloudwatch_metric_alarm.image_processor_errors
  to   = aws_cloudwatch_metric_alarm.this["image_processor_errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.db_writer_errors
  to   = aws_cloudwatch_metric_alarm.this["db_writer_errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.metadata_queue_oldest_message
  to   = aws_cloudwatch_metric_alarm.this["metadata_queue_oldest_message"]
}

moved {
  from = aws_cloudwatch_metric_alarm.image_processor_throttles
  to   = aws_cloudwatch_metric_alarm.this["image_processor_throttles"]
}

moved {
  from = aws_cloudwatch_metric_alarm.db_writer_throttles
  to   = aws_cloudwatch_metric_alarm.this["db_writer_throttles"]
}

moved {
  from = aws_cloudwatch_metric_alarm.image_processor_async_events_dropped
  to   = aws_cloudwatch_metric_alarm.this["image_processor_async_events_dropped"]
}

moved {
  from = aws_cloudwatch_metric_alarm.image_processor_destination_delivery_failures
  to   = aws_cloudwatch_metric_alarm.this["image_processor_destination_delivery_failures"]
}

moved {
  from = aws_cloudwatch_metric_alarm.image_processor_error_rate
  to   = aws_cloudwatch_metric_alarm.this["image_processor_error_rate"]
}

moved {
  from = aws_cloudwatch_metric_alarm.db_writer_error_rate
  to   = aws_cloudwatch_metric_alarm.this["db_writer_error_rate"]
}

moved {
  from = aws_cloudwatch_metric_alarm.end_to_end_latency
  to   = aws_cloudwatch_metric_alarm.this["end_to_end_latency"]
}

moved {
  from = aws_cloudwatch_metric_alarm.account_concurrency
  to   = aws_cloudwatch_metric_alarm.this["account_concurrency"]
}

# A warning, not an error: plan and apply go on, but nobody is told about an alarm until someone subscribes.
check "alarm_topic_has_a_subscriber" {
  assert {
    condition     = var.alarm_email != null || var.alarm_topic_subscribed_elsewhere
    error_message = "No one is subscribed to the alarm topic ${local.alarm_topic_name}: the alarms will fire into the void. Set alarm_email, or subscribe an endpoint to the topic (output alarm_topic_arn) and set alarm_topic_subscribed_elsewhere = true."
  }
}
