output "upload_bucket_name" {
  description = "Bucket to upload images to: aws s3 cp photo.jpg s3://<upload_bucket_name>/"
  value       = aws_s3_bucket.this["uploads"].bucket
}

output "thumbnail_bucket_name" {
  description = "Bucket holding the WebP thumbnails, under thumbnail_prefix"
  value       = aws_s3_bucket.this["thumbnails"].bucket
}

output "image_processor_function_name" {
  description = "Name of the image_processor Lambda function"
  value       = aws_lambda_function.image_processor.function_name
}

output "image_processor_log_group_name" {
  description = "Log group of image_processor: aws logs tail <image_processor_log_group_name> --follow"
  value       = aws_cloudwatch_log_group.image_processor.name
}

output "db_writer_function_name" {
  description = "Name of the db_writer Lambda function"
  value       = aws_lambda_function.db_writer.function_name
}

output "db_writer_log_group_name" {
  description = "Log group of db_writer: aws logs tail <db_writer_log_group_name> --follow"
  value       = aws_cloudwatch_log_group.db_writer.name
}

output "dynamodb_table_name" {
  description = "DynamoDB table with one metadata item per upload key (hash key image_key)"
  value       = aws_dynamodb_table.images.name
}

output "dynamodb_stream_arn" {
  description = "ARN of the metadata table's stream (new images of written records) to subscribe a consumer to; null unless dynamodb_stream_enabled"
  value       = var.dynamodb_stream_enabled ? aws_dynamodb_table.images.stream_arn : null
}

output "metadata_queue_url" {
  description = "URL of the SQS queue from image_processor to db_writer"
  value       = aws_sqs_queue.metadata.url
}

output "metadata_dlq_url" {
  description = "URL of the dead-letter queue of metadata messages db_writer could not write"
  value       = aws_sqs_queue.metadata_dlq.url
}

output "processor_failures_queue_url" {
  description = "URL of the queue of S3 events image_processor failed to process (its on-failure destination)"
  value       = aws_sqs_queue.processor_failures.url
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify; subscribe more endpoints to it"
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_url" {
  description = "CloudWatch console URL of the pipeline's dashboard in the deployed region"
  value       = "https://${local.region}.${local.console_domain}/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.pipeline.dashboard_name}"
}
