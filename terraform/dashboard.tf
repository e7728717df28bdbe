# The metric widgets are written out literally (no for-expressions) so tests/terraform can check that every
# metric names a resource of this stack, with the dimension that metric is published under. The alarm
# widget lists every alarm of monitoring.tf.

locals {
  # Only supported partitions get this far (the postcondition on data.aws_partition.current).
  console_domain = local.console_domains[local.partition]

  # Matches the handlers' JSON log lines with level ERROR, and Lambda's own text lines for timeouts,
  # crashes and import errors, which the handlers never get to log.
  recent_errors_query = join(" | ", [
    "SOURCE '${aws_cloudwatch_log_group.image_processor.name}'",
    "SOURCE '${aws_cloudwatch_log_group.db_writer.name}'",
    "fields @timestamp, @log, level, message, request_id, @message",
    "filter level = 'ERROR' or @message like /Task timed out|\\[ERROR\\]|Traceback/",
    "sort @timestamp desc",
    "limit 100",
  ])

  dashboard_widgets = [
    {
      type   = "alarm"
      x      = 0
      y      = 0
      width  = 24
      height = 3
      properties = {
        title  = "Alarms"
        alarms = [for alarm in aws_cloudwatch_metric_alarm.this : alarm.arn]
      }
    },

    # image_processor
    {
      type   = "metric"
      x      = 0
      y      = 3
      width  = 8
      height = 6
      properties = {
        title  = "image_processor: invocations, errors, throttles"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/Lambda", "Invocations", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum" }],
          ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum" }],
          ["AWS/Lambda", "Throttles", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 8
      y      = 3
      width  = 8
      height = 6
      properties = {
        title  = "image_processor: duration (ms)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "p50", label = "p50" }],
          ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "p99", label = "p99" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 16
      y      = 3
      width  = 8
      height = 6
      properties = {
        title  = "image_processor: concurrent executions"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Maximum" }],
        ]
      }
    },

    # db_writer
    {
      type   = "metric"
      x      = 0
      y      = 9
      width  = 8
      height = 6
      properties = {
        title  = "db_writer: invocations, errors, throttles"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/Lambda", "Invocations", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "Sum" }],
          ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "Sum" }],
          ["AWS/Lambda", "Throttles", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "Sum" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 8
      y      = 9
      width  = 8
      height = 6
      properties = {
        title  = "db_writer: duration (ms)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "p50", label = "p50" }],
          ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "p99", label = "p99" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 16
      y      = 9
      width  = 8
      height = 6
      properties = {
        title  = "db_writer: concurrent executions"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "Maximum" }],
        ]
      }
    },

    # Queues
    {
      type   = "metric"
      x      = 0
      y      = 15
      width  = 8
      height = 6
      properties = {
        title  = "Metadata queue: messages"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.metadata.name, { stat = "Maximum", label = "waiting" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", aws_sqs_queue.metadata.name, { stat = "Maximum", label = "in flight" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 8
      y      = 15
      width  = 8
      height = 6
      properties = {
        title  = "Metadata queue: age of oldest message (s)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", aws_sqs_queue.metadata.name, { stat = "Maximum" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 16
      y      = 15
      width  = 8
      height = 6
      properties = {
        title  = "Dead-letter queues: messages"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.metadata_dlq.name, { stat = "Maximum", label = "metadata DLQ" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.processor_failures.name, { stat = "Maximum", label = "processor failures" }],
        ]
      }
    },

    # DynamoDB
    {
      type   = "metric"
      x      = 0
      y      = 21
      width  = 8
      height = 6
      properties = {
        title  = "DynamoDB: writes"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", aws_dynamodb_table.images.name, { stat = "Sum", label = "write units" }],
          ["AWS/DynamoDB", "ConditionalCheckFailedRequests", "TableName", aws_dynamodb_table.images.name, { stat = "Sum", label = "stale or duplicate events" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 8
      y      = 21
      width  = 8
      height = 6
      properties = {
        title  = "DynamoDB: write throttles"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", aws_dynamodb_table.images.name, { stat = "Sum" }],
        ]
      }
    },

    # The handlers' own metrics (CloudWatch embedded metric format, namespace ImagePipeline)
    {
      type   = "metric"
      x      = 16
      y      = 21
      width  = 8
      height = 6
      properties = {
        title  = "Images processed and rejected"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["ImagePipeline", "ImagesProcessed", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", label = "processed" }],
          ["ImagePipeline", "ImagesRejected", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", label = "rejected" }],
          ["ImagePipeline", "ImagesDeleted", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", label = "deleted" }],
          # One S3 PUT per size per processed image: above "processed" when extra_thumbnail_sizes is set.
          ["ImagePipeline", "ThumbnailsWritten", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", label = "thumbnails written" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 27
      width  = 8
      height = 6
      properties = {
        title  = "Image processing time (ms)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["ImagePipeline", "ProcessingTime", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "p50", label = "p50" }],
          ["ImagePipeline", "ProcessingTime", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "p99", label = "p99" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 8
      y      = 27
      width  = 8
      height = 6
      properties = {
        title  = "Bytes in and out"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["ImagePipeline", "BytesIn", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", label = "uploads read" }],
          ["ImagePipeline", "BytesOut", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", label = "thumbnail bytes written" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 16
      y      = 27
      width  = 8
      height = 6
      properties = {
        title  = "Metadata records"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["ImagePipeline", "RecordsWritten", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "Sum", label = "written" }],
          ["ImagePipeline", "RecordsSkipped", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "Sum", label = "skipped (stale or duplicate)" }],
          ["ImagePipeline", "RecordsFailed", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "Sum", label = "failed (retried)" }],
        ]
      }
    },

    # Operational health: rates, latency and limits (metric math rows have an id; hidden inputs set visible = false)
    {
      type   = "metric"
      x      = 0
      y      = 33
      width  = 8
      height = 6
      properties = {
        title  = "Error rate (% of invocations)"
        region = local.region
        view   = "timeSeries"
        period = 300
        metrics = [
          [{ expression = "100 * processor_errors / processor_invocations", label = "image_processor", id = "processor_rate" }],
          [{ expression = "100 * writer_errors / writer_invocations", label = "db_writer", id = "writer_rate" }],
          ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", id = "processor_errors", visible = false }],
          ["AWS/Lambda", "Invocations", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", id = "processor_invocations", visible = false }],
          ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "Sum", id = "writer_errors", visible = false }],
          ["AWS/Lambda", "Invocations", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "Sum", id = "writer_invocations", visible = false }],
        ]
        annotations = {
          horizontal = [{ label = "alarm", value = var.error_rate_alarm_threshold_percent }]
        }
      }
    },
    {
      type   = "metric"
      x      = 8
      y      = 33
      width  = 8
      height = 6
      properties = {
        title  = "Upload to record written (ms)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["ImagePipeline", "EndToEndLatency", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "p50", label = "p50" }],
          ["ImagePipeline", "EndToEndLatency", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "p99", label = "p99" }],
        ]
        annotations = {
          horizontal = [{ label = "alarm (p99)", value = var.end_to_end_latency_alarm_threshold_seconds * 1000 }]
        }
      }
    },
    {
      type   = "metric"
      x      = 16
      y      = 33
      width  = 8
      height = 6
      properties = {
        title  = "Cold starts"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["ImagePipeline", "ColdStart", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", label = "image_processor" }],
          ["ImagePipeline", "ColdStart", "FunctionName", aws_lambda_function.db_writer.function_name, { stat = "Sum", label = "db_writer" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 39
      width  = 12
      height = 6
      properties = {
        title  = "Account: concurrent executions"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/Lambda", "ConcurrentExecutions", { stat = "Maximum", label = "all functions in the account" }],
        ]
        annotations = {
          horizontal = [{ label = "alarm", value = floor(var.account_concurrency_limit * var.concurrency_alarm_percent / 100) }]
        }
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 39
      width  = 12
      height = 6
      properties = {
        title  = "image_processor: events lost by Lambda"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          ["AWS/Lambda", "AsyncEventsDropped", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", label = "dropped" }],
          ["AWS/Lambda", "DestinationDeliveryFailures", "FunctionName", aws_lambda_function.image_processor.function_name, { stat = "Sum", label = "not delivered to processor-failures" }],
        ]
      }
    },

    {
      type   = "log"
      x      = 0
      y      = 45
      width  = 24
      height = 8
      properties = {
        title  = "Recent errors"
        region = local.region
        view   = "table"
        query  = local.recent_errors_query
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
