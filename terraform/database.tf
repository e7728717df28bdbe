# One item per upload key, written by db_writer (conditional PutItem: the newest S3 event wins).
resource "aws_dynamodb_table" "images" {
  #checkov:skip=CKV_AWS_119:Encrypted with the AWS-managed key (server_side_encryption below); a customer-managed key adds a monthly cost and key-policy grants without protecting more.
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "image_key"

  attribute {
    name = "image_key"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = var.dynamodb_deletion_protection

  # "Ready" events for consumers outside the stack. NEW_IMAGE: every item is the whole record, so the new
  # image is all a consumer needs (filter on status = PROCESSED); old images would double each stream
  # record for a comparison no consumer of ours makes. DynamoDB refuses a view type on a stream that is off
  # (github.com/hashicorp/terraform-provider-aws/issues/1134), hence null.
  stream_enabled   = var.dynamodb_stream_enabled
  stream_view_type = var.dynamodb_stream_enabled ? "NEW_IMAGE" : null
}
