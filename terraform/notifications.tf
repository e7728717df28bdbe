# S3 -> image_processor for every created and removed object (under upload_prefix, when set).
# No suffix filter: S3 filters are case-sensitive (photo.JPG) and the function recognises images by
# their content, recording non-images as REJECTED.

resource "aws_lambda_permission" "uploads_invoke_image_processor" {
  statement_id   = "AllowInvokeFromUploadsBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.image_processor.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.this["uploads"].arn
  source_account = local.account_id
}

resource "aws_s3_bucket_notification" "uploads" {
  bucket = aws_s3_bucket.this["uploads"].id

  lambda_function {
    lambda_function_arn = aws_lambda_function.image_processor.arn
    events              = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    filter_prefix       = var.upload_prefix == "" ? null : var.upload_prefix
  }

  # S3 tests the destination when the notification is saved: the invoke permission must exist first.
  depends_on = [aws_lambda_permission.uploads_invoke_image_processor]
}
