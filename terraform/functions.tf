locals {
  # Active samples and records the functions' own invocations, billed per trace (var.xray_tracing). PassThrough
  # records only what an upstream caller already sampled. Lambda's X-Ray integration is not available in the
  # China regions, so there it is always PassThrough: https://docs.amazonaws.cn/en_us/aws/latest/userguide/lambda.html
  tracing_mode = var.xray_tracing && local.partition != "aws-cn" ? "Active" : "PassThrough"
}

# Created before the functions (log_group below references them), so Terraform owns retention and
# deletion instead of Lambda creating a never-expiring group on the first invocation.
resource "aws_cloudwatch_log_group" "image_processor" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; a KMS key would add cost and a key policy for the logs service.
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (30 days by default): debugging logs, billed per GB-month.
  name              = "/aws/lambda/${local.image_processor_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "db_writer" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; a KMS key would add cost and a key policy for the logs service.
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (30 days by default): debugging logs, billed per GB-month.
  name              = "/aws/lambda/${local.db_writer_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "image_processor" {
  #checkov:skip=CKV_AWS_115:Reserved concurrency is the optional image_processor_reserved_concurrency variable, unset by default because reserving fails on accounts with a low concurrency quota; the account_concurrency alarm watches the account's limit.
  #checkov:skip=CKV_AWS_116:A dead-letter queue is the older form of the on-failure destination set in aws_lambda_function_event_invoke_config.
  #checkov:skip=CKV_AWS_117:The function only calls S3 and SQS APIs; a VPC would need NAT or endpoints at a monthly cost for no isolation gain.
  #checkov:skip=CKV_AWS_173:The environment holds only bucket/queue names and limits, no secrets; Lambda encrypts it with its AWS-managed key.
  #checkov:skip=CKV_AWS_272:build.sh produces unsigned zips; source_code_hash ties each deployment to the verified build output.
  function_name = local.image_processor_name
  description   = "Thumbnail and metadata for every image uploaded to ${local.upload_bucket_name}"
  role          = aws_iam_role.image_processor.arn
  handler       = "image_processor.handler.lambda_handler"
  runtime       = var.lambda_runtime
  architectures = [var.lambda_architecture]
  memory_size   = var.image_processor_memory_size
  timeout       = var.image_processor_timeout
  # null leaves the provider's -1: unreserved.
  reserved_concurrent_executions = var.image_processor_reserved_concurrency
  filename                       = local.package_files.image_processor
  source_code_hash               = local.package_hashes.image_processor

  environment {
    # EXTRA_THUMBNAIL_SIZES only when there are some: with one size the configuration is what it always was.
    variables = merge(
      {
        THUMBNAIL_BUCKET    = aws_s3_bucket.this["thumbnails"].bucket
        METADATA_QUEUE_URL  = aws_sqs_queue.metadata.url
        THUMBNAIL_SIZE      = tostring(var.thumbnail_size)
        THUMBNAIL_PREFIX    = var.thumbnail_prefix
        MAX_IMAGE_BYTES     = tostring(var.max_image_bytes)
        MAX_IMAGE_PIXELS    = tostring(var.max_image_pixels)
        MAX_DECODE_SECONDS  = tostring(var.max_decode_seconds)
        INCLUDE_GPS         = tostring(var.include_gps)
        EMBEDDED_THUMBNAILS = tostring(var.embedded_thumbnails)
        LOG_LEVEL           = var.log_level
      },
      length(var.extra_thumbnail_sizes) > 0 ? { EXTRA_THUMBNAIL_SIZES = join(",", var.extra_thumbnail_sizes) } : {},
    )
  }

  logging_config {
    log_format = "Text" # the handlers already write one JSON object per line
    log_group  = aws_cloudwatch_log_group.image_processor.name
  }

  tracing_config {
    mode = local.tracing_mode
  }

  # The role's permissions must exist before the first event arrives.
  depends_on = [aws_iam_role_policy.image_processor]

  lifecycle {
    precondition {
      condition     = local.package_errors.image_processor == null
      error_message = coalesce(local.package_errors.image_processor, "-")
    }
    precondition {
      condition     = !contains(var.extra_thumbnail_sizes, var.thumbnail_size)
      error_message = "extra_thumbnail_sizes must not list thumbnail_size (${var.thumbnail_size}): that size is always made."
    }
  }
}

resource "aws_lambda_function" "db_writer" {
  #checkov:skip=CKV_AWS_115:Concurrency is capped by the event source mapping's maximum_concurrency; reserved concurrency fails on low-quota accounts.
  #checkov:skip=CKV_AWS_116:Failed messages go to the metadata queue's redrive DLQ; a function DLQ only applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_117:The function only calls SQS and DynamoDB APIs; a VPC would need NAT or endpoints at a monthly cost for no isolation gain.
  #checkov:skip=CKV_AWS_173:The environment holds only the table name and log level, no secrets; Lambda encrypts it with its AWS-managed key.
  #checkov:skip=CKV_AWS_272:build.sh produces unsigned zips; source_code_hash ties each deployment to the verified build output.
  function_name    = local.db_writer_name
  description      = "Writes image metadata from ${local.metadata_queue_name} to the ${local.table_name} table"
  role             = aws_iam_role.db_writer.arn
  handler          = "db_writer.handler.lambda_handler"
  runtime          = var.lambda_runtime
  architectures    = [var.lambda_architecture]
  memory_size      = var.db_writer_memory_size
  timeout          = var.db_writer_timeout
  filename         = local.package_files.db_writer
  source_code_hash = local.package_hashes.db_writer

  environment {
    variables = {
      TABLE_NAME = aws_dynamodb_table.images.name
      LOG_LEVEL  = var.log_level
    }
  }

  logging_config {
    log_format = "Text" # the handlers already write one JSON object per line
    log_group  = aws_cloudwatch_log_group.db_writer.name
  }

  tracing_config {
    mode = local.tracing_mode
  }

  depends_on = [aws_iam_role_policy.db_writer]

  lifecycle {
    precondition {
      condition     = local.package_errors.db_writer == null
      error_message = coalesce(local.package_errors.db_writer, "-")
    }
  }
}

# S3 invokes image_processor asynchronously: Lambda retries, then hands the event to the failures queue.
resource "aws_lambda_function_event_invoke_config" "image_processor" {
  function_name                = aws_lambda_function.image_processor.function_name
  maximum_retry_attempts       = var.image_processor_maximum_retry_attempts
  maximum_event_age_in_seconds = var.image_processor_maximum_event_age_in_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.processor_failures.arn
    }
  }

  # Lambda checks that the execution role may send to the destination when this is created.
  depends_on = [aws_iam_role_policy.image_processor]
}

resource "aws_lambda_event_source_mapping" "db_writer" {
  event_source_arn                   = aws_sqs_queue.metadata.arn
  function_name                      = aws_lambda_function.db_writer.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds

  # db_writer returns the ids of the messages it could not write; only those are received again.
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  # Lambda checks that the execution role can receive from the queue when this is created.
  depends_on = [aws_iam_role_policy.db_writer]

  lifecycle {
    precondition {
      condition     = var.batch_size <= 10 || var.maximum_batching_window_in_seconds >= 1
      error_message = "batch_size ${var.batch_size} is above 10, which SQS event sources only allow with maximum_batching_window_in_seconds of at least 1."
    }
  }
}
