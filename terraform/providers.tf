provider "aws" {
  # null falls back to the usual AWS configuration (AWS_REGION, AWS_PROFILE, ~/.aws/config).
  region = var.aws_region

  default_tags {
    tags = merge(var.tags, {
      Project     = var.project_name
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
