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
resource "aws_cloudwatch_metric_alarm" "metadata_dlq_not_empty" {
  alarm_name          = "${local.metadata_dlq_name}-not-empty"
  alarm_description   = "Metadata messages db_writer failed to write ${var.max_receive_count} times are waiting in ${local.metadata_dlq_name}. Fix the cause (db_writer logs), then redrive them to ${local.metadata_queue_name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.metadata_dlq.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "processor_failures_not_empty" {
  alarm_name          = "${local.processor_failures_queue_name}-not-empty"
  alarm_description   = "S3 events image_processor failed after every retry are waiting in ${local.processor_failures_queue_name}. Fix the cause (image_processor logs), then re-upload or replay the events."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.processor_failures.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
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
