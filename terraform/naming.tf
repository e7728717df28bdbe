data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
  prefix     = "${var.project_name}-${var.environment}"

  # Bucket names are global: the account id and the region make them unique yet predictable.
  # The local runner (local_pipeline/) derives the same names, with a fixed fake account and region.
  upload_bucket_name    = "${local.prefix}-uploads-${local.account_id}-${local.region}"
  thumbnail_bucket_name = "${local.prefix}-thumbnails-${local.account_id}-${local.region}"

  image_processor_name = "${local.prefix}-image-processor"
  db_writer_name       = "${local.prefix}-db-writer"

  metadata_queue_name           = "${local.prefix}-metadata"
  metadata_dlq_name             = "${local.prefix}-metadata-dlq"
  processor_failures_queue_name = "${local.prefix}-processor-failures"

  table_name       = "${local.prefix}-images"
  alarm_topic_name = "${local.prefix}-alarms"
  dashboard_name   = local.prefix
}
