# One role per function, each with one inline policy on exact ARNs (and key prefixes in the buckets).

data "aws_iam_policy_document" "lambda_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "image_processor" {
  name               = local.image_processor_role_name
  description        = "Execution role of the ${local.image_processor_name} Lambda function in ${local.region}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json

  lifecycle {
    precondition {
      condition     = length(local.image_processor_role_name) <= 64
      error_message = "IAM role name ${local.image_processor_role_name} is ${length(local.image_processor_role_name)} characters, over IAM's limit of 64: shorten project_name or environment."
    }
  }
}

resource "aws_iam_role" "db_writer" {
  name               = local.db_writer_role_name
  description        = "Execution role of the ${local.db_writer_name} Lambda function in ${local.region}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json

  lifecycle {
    precondition {
      condition     = length(local.db_writer_role_name) <= 64
      error_message = "IAM role name ${local.db_writer_role_name} is ${length(local.db_writer_role_name)} characters, over IAM's limit of 64: shorten project_name or environment."
    }
  }
}

data "aws_iam_policy_document" "image_processor" {
  statement {
    sid       = "ReadUploads"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this["uploads"].arn}/${var.upload_prefix}*"]
  }

  # Without ListBucket S3 answers 403 instead of 404 for a key that no longer exists, and the
  # function could not tell a deleted upload (a final outcome) from a permission problem (retried).
  # For that check S3 sets s3:prefix to the requested key, so the condition keeps the 404s under
  # upload_prefix and lets the role list nothing else.
  statement {
    sid       = "TellMissingUploadsApart"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this["uploads"].arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.upload_prefix}*"]
    }
  }

  statement {
    sid       = "WriteAndDeleteThumbnails"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this["thumbnails"].arn}/${var.thumbnail_prefix}*"]
  }

  # The failures queue is the on-failure destination: Lambda sends to it with this role.
  statement {
    sid     = "SendMetadataAndFailures"
    actions = ["sqs:SendMessage"]
    resources = [
      aws_sqs_queue.metadata.arn,
      aws_sqs_queue.processor_failures.arn,
    ]
  }

  statement {
    sid       = "OwnLogGroupOnly"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.image_processor.arn}:*"]
  }

  # Kept with xray_tracing off: PassThrough still records the traces an upstream caller sampled, and Lambda
  # writes them with the execution role. X-Ray has no resource-level permissions: AWS requires "*" here.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "db_writer" {
  # The three actions the SQS event source mapping needs to poll, and delete what succeeded.
  statement {
    sid       = "ConsumeMetadataQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.metadata.arn]
  }

  statement {
    sid       = "WriteImagesTable"
    actions   = ["dynamodb:PutItem"]
    resources = [aws_dynamodb_table.images.arn]
  }

  statement {
    sid       = "OwnLogGroupOnly"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.db_writer.arn}:*"]
  }

  # Kept with xray_tracing off: PassThrough still records the traces an upstream caller sampled, and Lambda
  # writes them with the execution role. X-Ray has no resource-level permissions: AWS requires "*" here.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "image_processor" {
  name   = "least-privilege"
  role   = aws_iam_role.image_processor.id
  policy = data.aws_iam_policy_document.image_processor.json
}

resource "aws_iam_role_policy" "db_writer" {
  name   = "least-privilege"
  role   = aws_iam_role.db_writer.id
  policy = data.aws_iam_policy_document.db_writer.json
}
