data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

# The stack is written for these partitions only: elsewhere (the ISO regions, the European Sovereign
# Cloud) service principals and the console differ. aws_region's validation refuses their region codes;
# this also catches a region that comes from the AWS CLI configuration.
data "aws_partition" "current" {
  lifecycle {
    postcondition {
      condition     = contains(keys(local.console_domains), self.partition)
      error_message = "This stack supports only the aws, aws-cn and aws-us-gov partitions, but the region ${local.region} is in ${self.partition}: choose a region of a supported partition (aws_region, or AWS_REGION / your AWS CLI profile)."
    }
  }
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
  prefix     = "${var.project_name}-${var.environment}"

  # Console domain of each supported partition, for dashboard_url.
  console_domains = {
    aws        = "console.aws.amazon.com"
    aws-cn     = "console.amazonaws.cn"
    aws-us-gov = "console.amazonaws-us-gov.com"
  }

  # Bucket names are global: the account id and the region make them unique yet predictable.
  # The local runner (local_pipeline/) derives the same names, with a fixed fake account and region.
  upload_bucket_name    = "${local.prefix}-uploads-${local.account_id}-${local.region}"
  thumbnail_bucket_name = "${local.prefix}-thumbnails-${local.account_id}-${local.region}"

  image_processor_name = "${local.prefix}-image-processor"
  db_writer_name       = "${local.prefix}-db-writer"

  # IAM roles and CloudWatch dashboards belong to the whole account, not to a region: with the region in
  # their names, the same project_name and environment can be deployed to a second region.
  image_processor_role_name = "${local.image_processor_name}-${local.region}"
  db_writer_role_name       = "${local.db_writer_name}-${local.region}"
  dashboard_name            = "${local.prefix}-${local.region}"

  metadata_queue_name           = "${local.prefix}-metadata"
  metadata_dlq_name             = "${local.prefix}-metadata-dlq"
  processor_failures_queue_name = "${local.prefix}-processor-failures"

  table_name       = "${local.prefix}-images"
  alarm_topic_name = "${local.prefix}-alarms"
}
