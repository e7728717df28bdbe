################################################################################
# Naming, region and tags
################################################################################

variable "aws_region" {
  description = "AWS region to deploy to, e.g. \"eu-west-1\". null uses the region of the AWS CLI configuration (AWS_REGION, AWS_PROFILE, ~/.aws/config). Only regions of the aws, aws-cn (China) and aws-us-gov (GovCloud) partitions are supported; plan refuses the others (the ISO regions, the European Sovereign Cloud)."
  type        = string
  default     = null

  validation {
    # A two-letter area (the aws and aws-cn partitions) or us-gov (aws-us-gov), a direction and a number.
    # Codes of the other partitions have more parts or a longer area: us-iso-east-1, eu-isoe-west-1, eusc-de-east-1.
    condition     = var.aws_region == null || can(regex("^([a-z]{2}|us-gov)-[a-z]+-[0-9]+$", var.aws_region))
    error_message = "aws_region must be a region of the aws, aws-cn or aws-us-gov partition, such as \"eu-west-1\", \"cn-north-1\" or \"us-gov-west-1\"; regions of other partitions (ISO, European Sovereign Cloud) are not supported."
  }
}

variable "project_name" {
  description = "First part of every resource name, e.g. \"image-pipeline\" in \"image-pipeline-dev-db-writer\". Lower-case letters, digits and hyphens, because it is part of the S3 bucket names."
  type        = string
  default     = "image-pipeline"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 2-24 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen (it is part of the S3 bucket names)."
  }
}

variable "environment" {
  description = "Second part of every resource name, e.g. \"dev\" or \"prod\"; several environments can live in one account."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$", var.environment))
    error_message = "environment must be 1-16 characters of lower-case letters, digits and hyphens, not starting or ending with a hyphen (it is part of the S3 bucket names)."
  }
}

# The tag rules common to every AWS service (keys, values, characters, 50 per resource):
# https://docs.aws.amazon.com/tag-editor/latest/userguide/reference.html
variable "tags" {
  description = "Extra tags for every resource, added through the provider's default_tags (Project, Environment and ManagedBy are always set, so at most 47 more fit AWS's 50 per resource). Keys of 1-128 characters, not starting with \"aws:\"; values of up to 256; letters, digits, spaces and _ . : / = + - @ only."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for key in keys(var.tags) : !startswith(lower(key), "aws:")])
    error_message = "tags: keys starting with \"aws:\" are reserved for AWS: ${join(", ", [for key in keys(var.tags) : key if startswith(lower(key), "aws:")])}."
  }

  validation {
    condition     = alltrue([for key in keys(var.tags) : length(key) >= 1 && length(key) <= 128])
    error_message = "tags: every key must be 1-128 characters long."
  }

  validation {
    condition     = alltrue([for value in values(var.tags) : length(value) <= 256])
    error_message = "tags: values can be at most 256 characters long; too long: ${join(", ", [for key, value in var.tags : key if length(value) > 256])}."
  }

  validation {
    condition     = length(merge(var.tags, { Project = "", Environment = "", ManagedBy = "" })) <= 50
    error_message = "tags: with Project, Environment and ManagedBy, which the stack always sets, every resource would carry ${length(merge(var.tags, { Project = "", Environment = "", ManagedBy = "" }))} tags; AWS allows 50."
  }

  validation {
    condition     = alltrue([for key, value in var.tags : can(regex("^[\\p{L}\\p{Z}\\p{N}_.:/=+@-]*$", "${key}${value}"))])
    error_message = "tags: keys and values may only hold letters, digits, spaces and _ . : / = + - @ (the characters every AWS service accepts)."
  }
}

################################################################################
# Lambda packages (build.sh output)
################################################################################

variable "package_dir" {
  description = "Folder holding build.sh's output: image_processor.zip, db_writer.zip and build-info.json. A relative path is relative to this terraform/ folder."
  type        = string
  default     = "../dist"

  validation {
    condition     = length(trimspace(var.package_dir)) > 0
    error_message = "package_dir must name a folder, e.g. \"../dist\"."
  }
}

variable "lambda_runtime" {
  description = "Python runtime of both functions. It must be the runtime build.sh built the packages for (dist/build-info.json); plan fails otherwise."
  type        = string
  default     = "python3.13"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.lambda_runtime)
    error_message = "lambda_runtime must be python3.12 or python3.13: Pillow 13 ships only manylinux_2_28 wheels, which python3.11's Amazon Linux 2 (glibc 2.26) cannot load."
  }
}

variable "lambda_architecture" {
  description = "CPU architecture of both functions: arm64 (Graviton, about 20% cheaper per GB-second) or x86_64. It must be the architecture build.sh built Pillow's wheels for (dist/build-info.json); plan fails otherwise."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be \"arm64\" or \"x86_64\"."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of both functions: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps each function's logs. Short by default because the logs are for debugging and CloudWatch bills storage per GB-month."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

################################################################################
# image_processor
################################################################################

variable "image_processor_memory_size" {
  description = "Memory of image_processor in MB. Thumbnailing is CPU-bound and Lambda's CPU share grows with memory up to 1,769 MB, so every size below that costs about the same GB-seconds per image; 1024 is the smallest that holds the largest image the pixel limits accept (WebP 50 MP RGBA peaks at 820 MB, 1,000 MB with a full 50 MiB download and 15 % headroom) and it thumbnails a JPEG 50 MP in about 0.4 s, far inside the 60 s timeout (bench/RESULTS.md has the cost per million images at each size). Raise it together with max_image_pixels."
  type        = number
  default     = 1024

  validation {
    condition     = var.image_processor_memory_size >= 512 && var.image_processor_memory_size <= 10240 && floor(var.image_processor_memory_size) == var.image_processor_memory_size
    error_message = "image_processor_memory_size must be a whole number of MB between 512 (below that large images run out of memory) and 10240."
  }
}

variable "image_processor_timeout" {
  description = "Timeout of image_processor in seconds. 60 leaves a wide margin over a 100-megapixel image, which decodes and resizes in a few seconds at 1024 MB."
  type        = number
  default     = 60

  validation {
    condition     = var.image_processor_timeout >= 10 && var.image_processor_timeout <= 900 && floor(var.image_processor_timeout) == var.image_processor_timeout
    error_message = "image_processor_timeout must be a whole number of seconds between 10 and 900."
  }
}

variable "image_processor_maximum_retry_attempts" {
  description = "How many times Lambda retries a failed S3 event (asynchronous invocation) before it sends it to the processor-failures queue."
  type        = number
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.image_processor_maximum_retry_attempts)
    error_message = "image_processor_maximum_retry_attempts must be 0, 1 or 2 (Lambda's limit)."
  }
}

variable "image_processor_maximum_event_age_in_seconds" {
  description = "Oldest S3 event Lambda still tries to process, in seconds; older events go to the processor-failures queue."
  type        = number
  default     = 3600

  validation {
    condition     = var.image_processor_maximum_event_age_in_seconds >= 60 && var.image_processor_maximum_event_age_in_seconds <= 21600 && floor(var.image_processor_maximum_event_age_in_seconds) == var.image_processor_maximum_event_age_in_seconds
    error_message = "image_processor_maximum_event_age_in_seconds must be a whole number of seconds between 60 and 21600 (Lambda's limits)."
  }
}

variable "upload_prefix" {
  description = "Only uploads whose key starts with this prefix (e.g. \"incoming/\") are processed; \"\" processes the whole bucket. There is deliberately no suffix filter: S3 filters are case-sensitive and the function recognises images by their content."
  type        = string
  default     = ""

  validation {
    condition     = !startswith(var.upload_prefix, "/") && length(var.upload_prefix) <= 1024
    error_message = "upload_prefix must be an S3 key prefix without a leading \"/\" (e.g. \"incoming/\"), or \"\"."
  }
}

variable "thumbnail_size" {
  description = "THUMBNAIL_SIZE: longest side of a thumbnail in pixels."
  type        = number
  default     = 256

  validation {
    condition     = var.thumbnail_size >= 16 && var.thumbnail_size <= 4096 && floor(var.thumbnail_size) == var.thumbnail_size
    error_message = "thumbnail_size must be a whole number of pixels between 16 and 4096."
  }
}

variable "extra_thumbnail_sizes" {
  description = "EXTRA_THUMBNAIL_SIZES: more thumbnail sizes (longest side in pixels), each made from the same decode and stored as thumbnails/_sizes/SIZE/KEY.webp (under thumbnail_prefix). Each adds one S3 PUT per processed image."
  type        = list(number)
  default     = []

  validation {
    condition     = alltrue([for size in var.extra_thumbnail_sizes : size >= 16 && size <= 4096 && floor(size) == size])
    error_message = "Every extra_thumbnail_sizes entry must be a whole number of pixels between 16 and 4096."
  }

  validation {
    condition     = length(distinct(var.extra_thumbnail_sizes)) == length(var.extra_thumbnail_sizes)
    error_message = "extra_thumbnail_sizes must list each size once."
  }
}

variable "thumbnail_prefix" {
  description = "THUMBNAIL_PREFIX: key prefix of the thumbnails in the thumbnails bucket (image_processor may only write and delete under it). \"\" or a prefix ending in \"/\"."
  type        = string
  default     = "thumbnails/"

  validation {
    condition     = var.thumbnail_prefix == "" || (endswith(var.thumbnail_prefix, "/") && !startswith(var.thumbnail_prefix, "/"))
    error_message = "thumbnail_prefix must be \"\" or a key prefix ending in \"/\" without a leading \"/\", e.g. \"thumbnails/\"."
  }
}

variable "max_image_bytes" {
  description = "MAX_IMAGE_BYTES: larger uploads are rejected (recorded as REJECTED, too_many_bytes) without being downloaded."
  type        = number
  default     = 52428800

  validation {
    condition     = var.max_image_bytes >= 1 && var.max_image_bytes <= 5368709120 && floor(var.max_image_bytes) == var.max_image_bytes
    error_message = "max_image_bytes must be a whole number of bytes between 1 and 5368709120 (5 GiB)."
  }
}

variable "max_image_pixels" {
  description = "MAX_IMAGE_PIXELS: images with more pixels are rejected (decompression-bomb guard). Raise it only together with image_processor_memory_size."
  type        = number
  default     = 100000000

  validation {
    condition     = var.max_image_pixels >= 1 && var.max_image_pixels <= 1000000000 && floor(var.max_image_pixels) == var.max_image_pixels
    error_message = "max_image_pixels must be a whole number between 1 and 1000000000."
  }
}

variable "max_decode_seconds" {
  description = "MAX_DECODE_SECONDS: the most one image's decode and thumbnails may take before its worker process is killed and the upload is REJECTED as decoder_limit (a hostile or broken file, not a retry). The slowest accepted input, a 48 MP HEIC, takes about 12 s at 1024 MB; the function also stops a decode 5 s before its own timeout, whichever comes first."
  type        = number
  default     = 30

  validation {
    condition     = var.max_decode_seconds >= 1 && var.max_decode_seconds <= 900 && floor(var.max_decode_seconds) == var.max_decode_seconds
    error_message = "max_decode_seconds must be a whole number of seconds between 1 and 900."
  }
}

variable "include_gps" {
  description = "INCLUDE_GPS: keep GPS coordinates from EXIF in the stored metadata. Off by default because they locate where a photo was taken."
  type        = bool
  default     = false
}

variable "embedded_thumbnails" {
  description = "EMBEDDED_THUMBNAILS: make a HEIF photo's thumbnails from the smaller copy the file embeds (iPhones do) when it is a faithful copy at least as large, about 10x less CPU. Turn off to thumbnail exactly the primary image's pixels: a file can embed a different picture as its thumbnail."
  type        = bool
  default     = true
}

################################################################################
# Metadata queue and db_writer
################################################################################

variable "db_writer_memory_size" {
  description = "Memory of db_writer in MB. 256 is plenty for parsing a batch of small JSON messages and writing them to DynamoDB."
  type        = number
  default     = 256

  validation {
    condition     = var.db_writer_memory_size >= 128 && var.db_writer_memory_size <= 10240 && floor(var.db_writer_memory_size) == var.db_writer_memory_size
    error_message = "db_writer_memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "db_writer_timeout" {
  description = "Timeout of db_writer in seconds. 30 covers a batch of 10 conditional writes with retries; the metadata queue's visibility timeout is derived from it (6 x timeout + batching window)."
  type        = number
  default     = 30

  validation {
    condition     = var.db_writer_timeout >= 3 && var.db_writer_timeout <= 900 && floor(var.db_writer_timeout) == var.db_writer_timeout
    error_message = "db_writer_timeout must be a whole number of seconds between 3 and 900."
  }
}

variable "batch_size" {
  description = "Most metadata messages db_writer receives in one invocation."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number between 1 and 10000 (above 10 also needs maximum_batching_window_in_seconds >= 1)."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "How long Lambda waits to fill a batch of metadata messages before it invokes db_writer, in seconds."
  type        = number
  default     = 5

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300 && floor(var.maximum_batching_window_in_seconds) == var.maximum_batching_window_in_seconds
    error_message = "maximum_batching_window_in_seconds must be a whole number between 0 and 300."
  }
}

variable "maximum_concurrency" {
  description = "Most db_writer instances the SQS event source runs at once; keeps DynamoDB writes and Lambda concurrency bounded."
  type        = number
  default     = 5

  validation {
    condition     = var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000 && floor(var.maximum_concurrency) == var.maximum_concurrency
    error_message = "maximum_concurrency must be a whole number between 2 and 1000 (Lambda's limits)."
  }
}

variable "max_receive_count" {
  description = "Receives of a metadata message before SQS moves it to the metadata DLQ. At least 5, so throttling or a short DynamoDB outage does not send good messages to the DLQ."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 5 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number between 5 and 1000."
  }
}

################################################################################
# Storage
################################################################################

variable "versioning_enabled" {
  description = "Keep previous versions of overwritten and deleted objects in both buckets (they expire after noncurrent_version_expiration_days)."
  type        = bool
  default     = true
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which S3 deletes a previous (noncurrent) object version."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete both buckets even when they still hold objects (and versions). Keep false wherever the images matter."
  type        = bool
  default     = false
}

variable "dynamodb_deletion_protection" {
  description = "Turn on DynamoDB deletion protection for the metadata table; `terraform destroy` fails until it is set to false and applied."
  type        = bool
  default     = true
}

variable "dynamodb_stream_enabled" {
  description = "Turn on a DynamoDB stream of the metadata table (each written record's new image, kept 24 hours) for your own consumers to hear that a record is ready: a Lambda event source mapping, EventBridge Pipes, Kinesis. Its ARN is the `dynamodb_stream_arn` output; docs/design.md shows a consumer. A Lambda function reads it free of charge; other readers pay per read request."
  type        = bool
  default     = false
}

################################################################################
# Monitoring
################################################################################

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic; null for none. AWS sends a confirmation e-mail that must be accepted."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address such as \"ops@example.com\", or null."
  }
}

variable "alarm_topic_subscribed_elsewhere" {
  description = "Set to true when the alarm topic (output alarm_topic_arn) has subscribers Terraform does not manage (a pager, AWS Chatbot, another account's queue): it silences the warning every plan prints while the topic has no alarm_email and no other subscriber."
  type        = bool
  default     = false
}

variable "queue_age_alarm_threshold_seconds" {
  description = "Alarm when the oldest message in the metadata queue is older than this many seconds: db_writer has stopped keeping up. 1800 stays above the ~15 minutes (max_receive_count x visibility timeout) a single bad message may take to reach the DLQ, which has its own alarm. It must leave at least one minute (the alarm's period) before the queue's 4-day retention (345600 s) ends, when SQS deletes the message: plan fails otherwise."
  type        = number
  default     = 1800

  # The upper bound depends on the queue's retention (a local), so it is a precondition on the alarm (monitoring.tf).
  validation {
    condition     = var.queue_age_alarm_threshold_seconds >= 60 && floor(var.queue_age_alarm_threshold_seconds) == var.queue_age_alarm_threshold_seconds
    error_message = "queue_age_alarm_threshold_seconds must be a whole number of seconds, at least 60."
  }
}

# Lambda's tracing modes: https://docs.aws.amazon.com/lambda/latest/dg/API_TracingConfig.html
variable "error_rate_alarm_threshold_percent" {
  description = "Alarm when a function's errors are more than this share of its invocations over 5 minutes (metric math Errors / Invocations). 1 % separates an outage or a bad deployment from the odd failure, which the errors alarms report on their own."
  type        = number
  default     = 1

  validation {
    condition     = var.error_rate_alarm_threshold_percent >= 1 && var.error_rate_alarm_threshold_percent <= 99 && floor(var.error_rate_alarm_threshold_percent) == var.error_rate_alarm_threshold_percent
    error_message = "error_rate_alarm_threshold_percent must be a whole percentage from 1 to 99."
  }
}

variable "end_to_end_latency_alarm_threshold_seconds" {
  description = "Alarm when the p99 time from upload to record written (db_writer's EndToEndLatency metric) is above this many seconds over 15 minutes. 120 s is twice image_processor's default timeout: above it, uploads wait for retries, throttling or a stalled queue."
  type        = number
  default     = 120

  validation {
    condition     = var.end_to_end_latency_alarm_threshold_seconds >= 1 && floor(var.end_to_end_latency_alarm_threshold_seconds) == var.end_to_end_latency_alarm_threshold_seconds
    error_message = "end_to_end_latency_alarm_threshold_seconds must be a whole number of seconds, at least 1."
  }
}

variable "account_concurrency_limit" {
  description = "The account's Lambda concurrent executions quota in this region (Service Quotas, \"Concurrent executions\"; 1000 unless raised or lowered). Terraform cannot read it: set it to your quota so the concurrency alarm means what it says."
  type        = number
  default     = 1000

  validation {
    condition     = var.account_concurrency_limit >= 10 && floor(var.account_concurrency_limit) == var.account_concurrency_limit
    error_message = "account_concurrency_limit must be a whole number, at least 10 (Lambda's smallest quota)."
  }
}

variable "concurrency_alarm_percent" {
  description = "Alarm when the account's ConcurrentExecutions reach this percentage of account_concurrency_limit: beyond the quota every function in the account is throttled, this pipeline's and others'."
  type        = number
  default     = 80

  validation {
    condition     = var.concurrency_alarm_percent >= 1 && var.concurrency_alarm_percent <= 100 && floor(var.concurrency_alarm_percent) == var.concurrency_alarm_percent
    error_message = "concurrency_alarm_percent must be a whole percentage from 1 to 100."
  }
}

variable "image_processor_reserved_concurrency" {
  description = "Reserved concurrency of image_processor; null (the default) leaves it unreserved. Reserving N guarantees N concurrent executions and caps the function at N (a burst of uploads then waits in Lambda's asynchronous queue, up to image_processor_maximum_event_age_in_seconds), but takes N from the account's unreserved pool, which must keep at least 100: on an account with a low quota, apply fails."
  type        = number
  default     = null

  validation {
    condition     = var.image_processor_reserved_concurrency == null || try(var.image_processor_reserved_concurrency >= 1 && floor(var.image_processor_reserved_concurrency) == var.image_processor_reserved_concurrency, false)
    error_message = "image_processor_reserved_concurrency must be a whole number, at least 1 (0 would stop the function), or null."
  }
}

variable "metadata_queue_redrive_role_arns" {
  description = "IAM roles, besides image_processor's, allowed to send to the metadata queue: the roles operators use to redrive its DLQ (a DLQ redrive sends with the caller's permissions). Every other principal is denied sqs:SendMessage by the queue policy, so a forged metadata message cannot reach db_writer."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.metadata_queue_redrive_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", arn))])
    error_message = "metadata_queue_redrive_role_arns must hold IAM role ARNs (arn:aws:iam::123456789012:role/name)."
  }
}

variable "xray_tracing" {
  description = "X-Ray active tracing for both functions: Lambda samples and records their invocations (the first each second and 5 % of the rest, which at a million images a month is every one), about $5.50 per million images at list price; X-Ray's first 100,000 traces a month are free (bench/RESULTS.md). Off, both functions are PassThrough: they trace only requests an upstream caller already sampled. Always off in China (aws-cn), where Lambda's X-Ray integration is unavailable."
  type        = bool
  default     = false
}
