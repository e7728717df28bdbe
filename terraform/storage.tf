# Two buckets with the same hardening: uploads (source images, the S3 event source) and thumbnails.
# Every setting is its own resource, as AWS provider v4+ expects.

locals {
  buckets = {
    uploads    = local.upload_bucket_name
    thumbnails = local.thumbnail_bucket_name
  }
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets

  #checkov:skip=CKV_AWS_18:The stack records no S3 access at all: server access logs would need a third bucket and log delivery, and it creates no CloudTrail trail. Each upload's outcome is a DynamoDB record and a function log line; an audit of who read or wrote objects needs CloudTrail data events, enabled outside this stack.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; thumbnails can be rebuilt and uploads are versioned.
  #checkov:skip=CKV_AWS_145:SSE-S3 encrypts at rest without a KMS key's monthly and per-request cost, and without KMS grants for every reader.
  #checkov:skip=CKV2_AWS_62:An inline skip covers both for_each instances: the thumbnails bucket triggers nothing by design, while the uploads bucket does have its event notification to image_processor (notifications.tf).
  bucket        = each.value
  force_destroy = var.force_destroy

  lifecycle {
    precondition {
      condition     = length(each.value) <= 63
      error_message = "S3 bucket name ${each.value} is ${length(each.value)} characters, over S3's limit of 63: shorten project_name or environment."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  versioning_configuration {
    # A bucket that had versioning can only be suspended, never returned to "Disabled".
    status = var.versioning_enabled ? "Enabled" : "Suspended"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    # prefix = "" (the whole bucket) rather than an empty filter block, which some 5.x/6.x providers warn about.
    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id = "expire-noncurrent-versions"
    # Stays enabled when versioning is suspended later, so versions kept while it was on still expire.
    status = "Enabled"

    filter {
      prefix = ""
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    # Delete markers left with no versions behind them are removed too.
    expiration {
      expired_object_delete_marker = true
    }
  }

  # Lifecycle rules on versions need the versioning configuration in place first (provider docs).
  depends_on = [aws_s3_bucket_versioning.this]
}

# Deny every request not made over TLS (AWS Foundational Security Best Practices S3.5).
data "aws_iam_policy_document" "bucket_tls_only" {
  for_each = local.buckets

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this[each.key].arn,
      "${aws_s3_bucket.this[each.key].arn}/*",
    ]

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

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  policy = data.aws_iam_policy_document.bucket_tls_only[each.key].json

  # S3 rejects concurrent changes to one bucket's configuration; the public access block goes first.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
