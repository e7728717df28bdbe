locals {
  # AWS: "set the source queue's visibility timeout to at least six times the timeout that you configure
  # on your function" plus MaximumBatchingWindowInSeconds, or messages of a batch still running are
  # delivered again. https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
  metadata_visibility_timeout_seconds = 6 * var.db_writer_timeout + var.maximum_batching_window_in_seconds

  # 14 days, SQS's maximum: failed messages wait for a human. Longer than the metadata queue's 4 days,
  # because a message keeps its original enqueue time when it moves to the DLQ.
  dlq_retention_seconds      = 1209600
  metadata_retention_seconds = 345600
}

# image_processor -> db_writer: one JSON message per processed, rejected or deleted upload.
resource "aws_sqs_queue" "metadata" {
  name                       = local.metadata_queue_name
  visibility_timeout_seconds = local.metadata_visibility_timeout_seconds
  message_retention_seconds  = local.metadata_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.metadata_dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  lifecycle {
    # SQS deletes a message when it reaches the queue's retention, so its age never passes it: the
    # oldest-message-age alarm (monitoring.tf) needs at least one period of ages above its threshold to fire.
    precondition {
      condition     = var.queue_age_alarm_threshold_seconds + local.queue_age_alarm_period <= local.metadata_retention_seconds
      error_message = "queue_age_alarm_threshold_seconds is ${var.queue_age_alarm_threshold_seconds}, but the metadata queue deletes messages after ${local.metadata_retention_seconds} s, so this alarm could never fire: use at most ${local.metadata_retention_seconds - local.queue_age_alarm_period}."
    }
  }
}

# Metadata messages db_writer failed to write max_receive_count times.
resource "aws_sqs_queue" "metadata_dlq" {
  name                      = local.metadata_dlq_name
  message_retention_seconds = local.dlq_retention_seconds
  receive_wait_time_seconds = 20
  sqs_managed_sse_enabled   = true
}

# Only the metadata queue may use the DLQ; also what the console's "Start DLQ redrive" sends back to.
resource "aws_sqs_queue_redrive_allow_policy" "metadata_dlq" {
  queue_url = aws_sqs_queue.metadata_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.metadata.arn]
  })
}

# On-failure destination of image_processor: S3 events that failed every retry or grew too old.
resource "aws_sqs_queue" "processor_failures" {
  name                      = local.processor_failures_queue_name
  message_retention_seconds = local.dlq_retention_seconds
  receive_wait_time_seconds = 20
  sqs_managed_sse_enabled   = true
}

# Nothing may use processor-failures as its dead-letter queue: only Lambda's on-failure destination sends to it.
resource "aws_sqs_queue_redrive_allow_policy" "processor_failures" {
  queue_url = aws_sqs_queue.processor_failures.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "denyAll"
  })
}

# Every queue refuses requests made without TLS, whoever makes them.
data "aws_iam_policy_document" "queue_tls_only" {
  for_each = {
    metadata           = aws_sqs_queue.metadata.arn
    metadata_dlq       = aws_sqs_queue.metadata_dlq.arn
    processor_failures = aws_sqs_queue.processor_failures.arn
  }

  statement {
    sid       = "DenyWithoutTLS"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# db_writer writes whatever the metadata queue holds: only image_processor (and the roles named to redrive
# the DLQ, since a redrive sends with its caller's permissions) may put a message there.
data "aws_iam_policy_document" "metadata_queue" {
  source_policy_documents = [data.aws_iam_policy_document.queue_tls_only["metadata"].json]

  statement {
    sid       = "OnlyImageProcessorSends"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.metadata.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = concat([aws_iam_role.image_processor.arn], var.metadata_queue_redrive_role_arns)
    }
  }
}

resource "aws_sqs_queue_policy" "metadata" {
  queue_url = aws_sqs_queue.metadata.id
  policy    = data.aws_iam_policy_document.metadata_queue.json
}

resource "aws_sqs_queue_policy" "metadata_dlq" {
  queue_url = aws_sqs_queue.metadata_dlq.id
  policy    = data.aws_iam_policy_document.queue_tls_only["metadata_dlq"].json
}

resource "aws_sqs_queue_policy" "processor_failures" {
  queue_url = aws_sqs_queue.processor_failures.id
  policy    = data.aws_iam_policy_document.queue_tls_only["processor_failures"].json
}
