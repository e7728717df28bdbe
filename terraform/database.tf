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
}
