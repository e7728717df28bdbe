"""What users rely on in terraform/, read with python-hcl2 (no terraform needed)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local_pipeline.stack import MetricAlarm, default_stack
from tests.terraform.python_code import (
    environment_variables_read,
    handler_parameters,
    module_constants,
    string_literals,
)
from tests.terraform.stack import REPO_ROOT, TERRAFORM_DIR, Stack, block, load_hcl, load_stack, reference

FUNCTIONS = ("image_processor", "db_writer")
# The stack evaluated with its defaults, as the local stack reads it.
LOCAL_STACK = default_stack()
ALARMS = LOCAL_STACK.alarms
# Each alarm's key in local.alarms: the name its own resource had before they became one, kept by `moved`.
ALARM_KEYS = (
    "metadata_dlq_not_empty",
    "metadata_dlq_new_messages",
    "processor_failures_not_empty",
    "processor_failures_new_messages",
    "image_processor_errors",
    "db_writer_errors",
    "metadata_queue_oldest_message",
    "image_processor_throttles",
    "db_writer_throttles",
    "image_processor_async_events_dropped",
    "image_processor_destination_delivery_failures",
    "image_processor_error_rate",
    "db_writer_error_rate",
    "end_to_end_latency",
    "account_concurrency",
)
DEAD_LETTER_QUEUES = ("metadata_dlq", "processor_failures")
FOURTEEN_DAYS = 14 * 24 * 3600
# Actions AWS only grants on Resource "*" (no resource-level permissions).
STAR_ONLY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# Which resource attribute a CloudWatch dimension must name.
DIMENSION_TARGETS = {
    "FunctionName": ("aws_lambda_function", "function_name"),
    "QueueName": ("aws_sqs_queue", "name"),
    "TableName": ("aws_dynamodb_table", "name"),
}


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack()


def default(stack: Stack, variable: str) -> Any:
    return stack.variables[variable]["default"]


def evaluate_with_defaults(stack: Stack, expression: str) -> int:
    """Evaluates simple arithmetic over local.* and var.* (their defaults), e.g. "6 * var.x + var.y"."""
    text = expression.removeprefix("${").removesuffix("}")
    text = re.sub(r"local\.(\w+)", lambda m: str(evaluate_with_defaults(stack, str(stack.locals[m[1]]))), text)
    text = re.sub(r"var\.(\w+)", lambda m: str(default(stack, m[1])), text)
    assert re.fullmatch(r"[\d\s+*()-]+", text), f"not plain arithmetic: {expression!r}"
    return int(eval(text))  # only digits and + * ( ) - remain


def metric_rows(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, metric, {dimension: value}, options) for each metric of a dashboard widget."""
    rows = []
    for row in widget["properties"].get("metrics", []):
        if len(row) == 1:  # a metric math expression over the widget's other rows (by their ids)
            continue
        options = row[-1] if isinstance(row[-1], dict) else {}
        values = row[:-1] if options else row
        namespace, metric, *pairs = values
        rows.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True)), options))
    return rows


# --- layout and conventions -------------------------------------------------------------------------


def test_versions_require_terraform_1_6_and_only_the_aws_provider(stack: Stack):
    (settings,) = stack.terraform
    assert settings["required_version"] == ">= 1.6"
    (providers,) = settings["required_providers"]
    assert providers == {"aws": {"source": "hashicorp/aws", "version": "~> 6.0"}}
    assert set(stack.providers) == {"aws"}
    used = {name.split("_")[0] for name in [*stack.resources, *stack.data]}
    assert used == {"aws"}, f"resources of other providers: {used - {'aws'}}"


def test_every_resource_is_tagged_through_provider_default_tags(stack: Stack):
    (provider,) = stack.providers["aws"]
    tags = block(provider, "default_tags")["tags"]
    assert "var.tags" in tags and "Project = var.project_name" in tags and "Environment = var.environment" in tags


@pytest.mark.parametrize("name", sorted(load_stack().variables))
def test_variable_has_description_type_and_validation(stack: Stack, name: str):
    variable = stack.variables[name]
    assert len(variable.get("description", "")) > 20, f"{name}: describe what it does"
    assert variable.get("type"), f"{name}: declare a type"
    free_form = variable["type"] in ("bool", "${map(string)}")
    assert free_form or variable.get("validation"), f"{name}: validate it, a {variable['type']} can be wrong"


def test_resource_names_derive_from_project_and_environment(stack: Stack):
    assert stack.locals["prefix"] == "${var.project_name}-${var.environment}"
    named = {
        "aws_lambda_function": "function_name",
        "aws_sqs_queue": "name",
        "aws_dynamodb_table": "name",
        "aws_sns_topic": "name",
        "aws_iam_role": "name",
        "aws_cloudwatch_log_group": "name",
        "aws_cloudwatch_dashboard": "dashboard_name",
    }
    for resource_type, argument in named.items():
        for name, body in stack.of_type(resource_type).items():
            assert "local." in body[argument], f"{resource_type}.{name}.{argument} is not derived from the prefix"
    for name, alarm in stack.locals["alarms"].items():
        assert alarm["name"].startswith("${local."), f"alarm {name} is not derived from the prefix"
    for bucket in ("upload_bucket_name", "thumbnail_bucket_name"):
        assert stack.locals[bucket].startswith("${local.prefix}-")
        assert stack.locals[bucket].endswith("-${local.account_id}-${local.region}")


def test_account_global_names_include_the_region(stack: Stack):
    # IAM roles and dashboards belong to the account, not to a region: without the region in their names a
    # second region with the same project_name and environment fails on the roles and takes over the dashboard.
    for resource_type, argument in (("aws_iam_role", "name"), ("aws_cloudwatch_dashboard", "dashboard_name")):
        for name, body in stack.of_type(resource_type).items():
            source = stack.locals[reference(body[argument]).removeprefix("local.")]
            assert source.startswith("${local.") and source.endswith("-${local.region}"), f"{resource_type}.{name}"


@pytest.mark.parametrize("role", FUNCTIONS)
def test_role_name_is_checked_against_iams_64_characters(stack: Stack, role: str):
    body = stack.of_type("aws_iam_role")[role]
    (precondition,) = block(body, "lifecycle")["precondition"]
    assert precondition["condition"] == f"${{length({reference(body['name'])}) <= 64}}"


@pytest.mark.parametrize(
    "name", [name for name, variable in load_stack().variables.items() if variable["type"] == "number"]
)
def test_number_variable_refuses_fractions(stack: Stack, name: str):
    conditions = " ".join(validation["condition"] for validation in stack.variables[name]["validation"])
    whole = f"floor(var.{name}) == var.{name}" in conditions
    listed = re.search(rf"contains\(\[[\d, ]+\], var\.{name}\)", conditions)  # a list of whole numbers
    assert whole or listed, f"{name}: 1.5 would pass its validation"


# --- queues ---------------------------------------------------------------------------------------


def test_metadata_visibility_timeout_is_six_db_writer_timeouts_plus_batching_window(stack: Stack):
    queue = stack.of_type("aws_sqs_queue")["metadata"]
    expression = queue["visibility_timeout_seconds"]
    local_name = reference(expression).removeprefix("local.")
    source = stack.locals[local_name]
    assert "var.db_writer_timeout" in source and "var.maximum_batching_window_in_seconds" in source
    timeout, window = default(stack, "db_writer_timeout"), default(stack, "maximum_batching_window_in_seconds")
    assert evaluate_with_defaults(stack, expression) >= 6 * timeout + window == 185


def test_db_writer_event_source_reports_batch_item_failures(stack: Stack):
    (mapping,) = stack.of_type("aws_lambda_event_source_mapping").values()
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert reference(mapping["event_source_arn"]) == "aws_sqs_queue.metadata.arn"
    assert reference(mapping["function_name"]).startswith("aws_lambda_function.db_writer.")
    assert mapping["batch_size"] == "${var.batch_size}"
    assert mapping["maximum_batching_window_in_seconds"] == "${var.maximum_batching_window_in_seconds}"
    assert block(mapping, "scaling_config")["maximum_concurrency"] == "${var.maximum_concurrency}"
    assert (default(stack, "batch_size"), default(stack, "maximum_batching_window_in_seconds")) == (10, 5)
    assert default(stack, "maximum_concurrency") == 5


def test_metadata_queue_redrives_to_dlq_after_at_least_five_receives(stack: Stack):
    policy = stack.of_type("aws_sqs_queue")["metadata"]["redrive_policy"]
    assert "deadLetterTargetArn = aws_sqs_queue.metadata_dlq.arn" in policy
    assert "maxReceiveCount = var.max_receive_count" in policy
    assert default(stack, "max_receive_count") >= 5
    (validation,) = stack.variables["max_receive_count"]["validation"]
    assert "var.max_receive_count >= 5" in validation["condition"]


@pytest.mark.parametrize("queue", DEAD_LETTER_QUEUES)
def test_dead_letter_queue_keeps_messages_14_days_encrypted(stack: Stack, queue: str):
    body = stack.of_type("aws_sqs_queue")[queue]
    assert evaluate_with_defaults(stack, body["message_retention_seconds"]) == FOURTEEN_DAYS
    assert body["sqs_managed_sse_enabled"] is True


def test_metadata_dlq_outlives_its_source_and_only_accepts_it(stack: Stack):
    metadata = stack.of_type("aws_sqs_queue")["metadata"]
    assert evaluate_with_defaults(stack, metadata["message_retention_seconds"]) < FOURTEEN_DAYS
    assert metadata["sqs_managed_sse_enabled"] is True and metadata["receive_wait_time_seconds"] == 20
    allow = stack.of_type("aws_sqs_queue_redrive_allow_policy")["metadata_dlq"]
    assert reference(allow["queue_url"]) == "aws_sqs_queue.metadata_dlq.id"
    assert 'redrivePermission = "byQueue"' in allow["redrive_allow_policy"]
    assert "sourceQueueArns = [aws_sqs_queue.metadata.arn]" in allow["redrive_allow_policy"]


# --- functions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_names_a_function_in_the_python_code(stack: Stack, function: str):
    handler = stack.of_type("aws_lambda_function")[function]["handler"]
    assert handler == f"{function}.handler.lambda_handler"
    assert handler_parameters(handler) == ["event", "context"], f"{handler} is not a Lambda handler in the code"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_environment_variables_are_the_ones_the_code_reads(stack: Stack, function: str):
    environment = block(stack.of_type("aws_lambda_function")[function], "environment")["variables"]
    # A map, or a merge() of maps when a variable is set only for some settings: the names either way.
    names = (
        set(environment) if isinstance(environment, dict) else set(re.findall(r"\b([A-Z][A-Z0-9_]+) =", environment))
    )
    assert names == environment_variables_read(function)


def allowed_values(stack: Stack, variable: str) -> list[str]:
    """The list in a `contains([...], var.x)` validation."""
    (validation,) = stack.variables[variable]["validation"]
    return json.loads(re.search(r"contains\((\[.*?\])", validation["condition"])[1])


def test_runtime_and_architecture_match_what_build_sh_builds(stack: Stack):
    assert "scripts/build.py" in (REPO_ROOT / "build.sh").read_text(), "build.sh no longer runs scripts/build.py"
    build = module_constants("scripts/build.py")
    assert default(stack, "lambda_runtime") == f"python{build['DEFAULT_PYTHON']}"
    assert default(stack, "lambda_architecture") == build["DEFAULT_ARCH"]
    assert allowed_values(stack, "lambda_runtime") == [f"python{version}" for version in build["PYTHON_VERSIONS"]]
    assert sorted(allowed_values(stack, "lambda_architecture")) == sorted(build["ARCHITECTURES"])
    for function in FUNCTIONS:
        body = stack.of_type("aws_lambda_function")[function]
        assert body["runtime"] == "${var.lambda_runtime}"
        assert body["architectures"] == ["${var.lambda_architecture}"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_deploys_build_output_and_checks_it_at_plan(stack: Stack, function: str):
    body = stack.of_type("aws_lambda_function")[function]
    assert body["filename"] == f"${{local.package_files.{function}}}"
    assert body["source_code_hash"] == f"${{local.package_hashes.{function}}}"
    preconditions = [precondition["condition"] for precondition in block(body, "lifecycle")["precondition"]]
    assert f"${{local.package_errors.{function} == null}}" in preconditions
    assert default(stack, "package_dir") == "../dist"


@pytest.mark.parametrize(("function", "memory", "timeout"), [("image_processor", 1024, 60), ("db_writer", 256, 30)])
def test_function_memory_and_timeout_are_variables_with_contract_defaults(stack, function, memory, timeout):
    body = stack.of_type("aws_lambda_function")[function]
    assert body["memory_size"] == f"${{var.{function}_memory_size}}"
    assert body["timeout"] == f"${{var.{function}_timeout}}"
    assert (default(stack, f"{function}_memory_size"), default(stack, f"{function}_timeout")) == (memory, timeout)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_log_group_is_the_functions_own_and_created_first(stack: Stack, function: str):
    log_group = stack.of_type("aws_cloudwatch_log_group")[function]
    body = stack.of_type("aws_lambda_function")[function]
    assert log_group["name"] == f"/aws/lambda/{body['function_name']}"
    assert log_group["retention_in_days"] == "${var.log_retention_days}"
    # Referencing the group orders its creation before the function's.
    assert reference(block(body, "logging_config")["log_group"]) == f"aws_cloudwatch_log_group.{function}.name"


def test_image_processor_failures_go_to_the_failures_queue(stack: Stack):
    (config,) = stack.of_type("aws_lambda_function_event_invoke_config").values()
    assert reference(config["function_name"]) == "aws_lambda_function.image_processor.function_name"
    assert config["maximum_retry_attempts"] == "${var.image_processor_maximum_retry_attempts}"
    assert config["maximum_event_age_in_seconds"] == "${var.image_processor_maximum_event_age_in_seconds}"
    on_failure = block(block(config, "destination_config"), "on_failure")
    assert reference(on_failure["destination"]) == "aws_sqs_queue.processor_failures.arn"
    assert default(stack, "image_processor_maximum_retry_attempts") == 2
    assert default(stack, "image_processor_maximum_event_age_in_seconds") == 3600


def test_uploads_notify_image_processor_of_creations_and_removals_only_with_permission(stack: Stack):
    notification = stack.of_type("aws_s3_bucket_notification")["uploads"]
    assert reference(notification["bucket"]) == 'aws_s3_bucket.this["uploads"].id'
    target = block(notification, "lambda_function")
    assert reference(target["lambda_function_arn"]) == "aws_lambda_function.image_processor.arn"
    assert target["events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert "filter_suffix" not in target, "a suffix filter is case-sensitive: photo.JPG would be missed"
    assert "var.upload_prefix" in target["filter_prefix"]
    assert notification["depends_on"] == ["${aws_lambda_permission.uploads_invoke_image_processor}"]
    permission = stack.of_type("aws_lambda_permission")["uploads_invoke_image_processor"]
    assert permission["principal"] == "s3.amazonaws.com"
    assert reference(permission["source_arn"]) == 'aws_s3_bucket.this["uploads"].arn'
    assert reference(permission["source_account"]) == "local.account_id"


# --- storage --------------------------------------------------------------------------------------


def test_buckets_are_private_owner_enforced_encrypted_versioned_and_tls_only(stack: Stack):
    buckets = stack.of_type("aws_s3_bucket")["this"]
    assert set(stack.locals["buckets"]) == {"uploads", "thumbnails"}
    assert buckets["force_destroy"] == "${var.force_destroy}" and default(stack, "force_destroy") is False
    per_bucket = [
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_policy",
    ]
    for resource_type in per_bucket:
        assert stack.of_type(resource_type)["this"]["for_each"] == buckets["for_each"], resource_type
    public_access = stack.of_type("aws_s3_bucket_public_access_block")["this"]
    assert all(public_access[flag] is True for flag in ("block_public_acls", "block_public_policy"))
    assert all(public_access[flag] is True for flag in ("ignore_public_acls", "restrict_public_buckets"))
    ownership = block(stack.of_type("aws_s3_bucket_ownership_controls")["this"], "rule")
    assert ownership["object_ownership"] == "BucketOwnerEnforced"
    encryption = block(stack.of_type("aws_s3_bucket_server_side_encryption_configuration")["this"], "rule")
    assert block(encryption, "apply_server_side_encryption_by_default")["sse_algorithm"] in ("AES256", "aws:kms")
    versioning = block(stack.of_type("aws_s3_bucket_versioning")["this"], "versioning_configuration")
    assert "var.versioning_enabled" in versioning["status"]
    (deny,) = stack.data["aws_iam_policy_document"]["bucket_tls_only"]["statement"]
    assert deny["effect"] == "Deny"
    assert block(deny, "condition") == {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
    assert reference(stack.of_type("aws_s3_bucket_policy")["this"]["policy"]).startswith(
        "data.aws_iam_policy_document.bucket_tls_only"
    )


def test_lifecycle_aborts_multipart_uploads_and_expires_noncurrent_versions(stack: Stack):
    rules = stack.of_type("aws_s3_bucket_lifecycle_configuration")["this"]["rule"]
    actions = {key for rule in rules for key in rule if key not in ("id", "status", "filter")}
    assert {"abort_incomplete_multipart_upload", "noncurrent_version_expiration"} <= actions
    assert all(rule["status"] == "Enabled" for rule in rules)


def test_table_is_on_demand_keyed_by_image_key_with_recovery_and_encryption(stack: Stack):
    table = stack.of_type("aws_dynamodb_table")["images"]
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["hash_key"] == "image_key"
    assert table["attribute"] == [{"name": "image_key", "type": "S"}]
    assert block(table, "point_in_time_recovery")["enabled"] is True
    assert block(table, "server_side_encryption")["enabled"] is True
    assert table["deletion_protection_enabled"] == "${var.dynamodb_deletion_protection}"


def test_table_stream_is_opt_in_and_carries_new_images(stack: Stack):
    table = stack.of_type("aws_dynamodb_table")["images"]
    assert table["stream_enabled"] == "${var.dynamodb_stream_enabled}"
    assert table["stream_view_type"] == '${var.dynamodb_stream_enabled ? "NEW_IMAGE" : null}'
    assert stack.variables["dynamodb_stream_enabled"]["default"] is False


# --- IAM ------------------------------------------------------------------------------------------


def role_policy_statements(stack: Stack, function: str) -> list[dict[str, Any]]:
    attachment = stack.of_type("aws_iam_role_policy")[function]
    assert reference(attachment["role"]) == f"aws_iam_role.{function}.id"
    assert reference(attachment["policy"]) == f"data.aws_iam_policy_document.{function}.json"
    return stack.data["aws_iam_policy_document"][function]["statement"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_has_its_own_role(stack: Stack, function: str):
    assert reference(stack.of_type("aws_lambda_function")[function]["role"]) == f"aws_iam_role.{function}.arn"
    assert set(stack.of_type("aws_iam_role_policy")) == set(FUNCTIONS)
    assert not stack.of_type("aws_iam_role_policy_attachment"), "inline least-privilege policies only"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_iam_policy_has_no_wildcard_action_and_exact_resources(stack: Stack, function: str):
    for statement in role_policy_statements(stack, function):
        assert statement.get("effect", "Allow") == "Allow"
        assert not any("*" in action for action in statement["actions"]), statement["actions"]
        for resource in statement["resources"]:
            if resource == "*":
                assert set(statement["actions"]) <= STAR_ONLY_ACTIONS, f"{statement['actions']} on *"
                continue
            match = re.fullmatch(r"\$\{([^}]+)\.arn\}(.*)", resource)
            assert match, f"{resource} is not a resource of this stack"
            target, suffix = match.groups()
            assert load_stack().resolves(f"{target}.arn"), f"{target} does not exist"
            if suffix == ":*":  # the log streams of one log group
                assert target == f"aws_cloudwatch_log_group.{function}", "logs only to the function's own group"
            else:
                assert re.fullmatch(r"(/\$\{var\.\w+_prefix\}\*)?", suffix), f"{resource}: scope it to a key prefix"


def test_iam_policies_grant_what_the_functions_do(stack: Stack):
    def grants(function: str) -> dict[str, set[str]]:
        granted: dict[str, set[str]] = {}
        for statement in role_policy_statements(stack, function):
            for action in statement["actions"]:
                granted.setdefault(action, set()).update(statement["resources"])
        return granted

    image_processor, db_writer = grants("image_processor"), grants("db_writer")
    uploads, thumbnails = 'aws_s3_bucket.this["uploads"].arn', 'aws_s3_bucket.this["thumbnails"].arn'
    assert image_processor["s3:GetObject"] == {f"${{{uploads}}}/${{var.upload_prefix}}*"}
    assert (
        image_processor["s3:PutObject"]
        == image_processor["s3:DeleteObject"]
        == {f"${{{thumbnails}}}/${{var.thumbnail_prefix}}*"}
    )
    assert image_processor["sqs:SendMessage"] == {
        "${aws_sqs_queue.metadata.arn}",
        "${aws_sqs_queue.processor_failures.arn}",
    }
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
        assert db_writer[action] == {"${aws_sqs_queue.metadata.arn}"}
    assert db_writer["dynamodb:PutItem"] == {"${aws_dynamodb_table.images.arn}"}
    assert not any(action.startswith(("s3:", "dynamodb:")) for action in set(db_writer) - {"dynamodb:PutItem"})


def test_wildcard_actions_appear_only_in_deny_statements(stack: Stack):
    for name, document in stack.data["aws_iam_policy_document"].items():
        for statement in document["statement"]:
            if any("*" in action for action in statement["actions"]):
                assert statement.get("effect") == "Deny", f"{name}: wildcard action in an Allow statement"


# --- monitoring -----------------------------------------------------------------------------------


# Metrics an alarm or widget may read without a dimension: the account's, not one resource's.
ACCOUNT_WIDE_METRICS = {("AWS/Lambda", "ConcurrentExecutions")}


def alarm_on(metric: str, dimension_value: str, expression: str | None = None) -> MetricAlarm:
    """The one alarm (evaluated, as the local stack reads it) on `metric` of `dimension_value`."""
    matches = [
        alarm
        for alarm in ALARMS
        if alarm.expression == expression
        and any(m.name == metric and m.dimension and m.dimension[1] == dimension_value for m in alarm.metrics)
    ]
    assert len(matches) == 1, f"expected one {metric} alarm on {dimension_value}"
    return matches[0]


def test_alarms_are_one_resource_over_local_alarms_and_notify_the_topic(stack: Stack):
    [(name, alarm)] = stack.of_type("aws_cloudwatch_metric_alarm").items()
    assert (name, alarm["for_each"]) == ("this", "${local.alarms}")
    assert [reference(action) for action in alarm["alarm_actions"]] == ["aws_sns_topic.alarms.arn"]
    assert alarm["actions_enabled"] is True
    assert len({a.name for a in ALARMS}) == len(ALARMS) == len(stack.locals["alarms"]), "every entry, its own name"


def test_alarm_dimensions_name_the_stacks_queues_and_functions():
    stack_names = {
        "FunctionName": {f.name for f in LOCAL_STACK.functions},
        "QueueName": {q.name for q in LOCAL_STACK.queues},
    }
    for alarm in ALARMS:
        for metric in alarm.metrics:
            assert metric.dimension or (metric.namespace, metric.name) in ACCOUNT_WIDE_METRICS, alarm.name
            if metric.dimension:
                assert metric.dimension[1] in stack_names[metric.dimension[0]], alarm.name


def test_moved_blocks_keep_every_deployed_alarm(stack: Stack):
    moved = [block for path in TERRAFORM_DIR.glob("*.tf") for block in load_hcl(path).get("moved", [])]
    renamed = {(entry["from"], entry["to"]) for entry in moved}
    assert renamed == {
        (f"${{aws_cloudwatch_metric_alarm.{key}}}", f'${{aws_cloudwatch_metric_alarm.this["{key}"]}}')
        for key in ALARM_KEYS
    }
    assert set(ALARM_KEYS) <= set(stack.locals["alarms"])


@pytest.mark.parametrize("queue", DEAD_LETTER_QUEUES)
def test_dead_letter_queue_alarms_on_its_first_message_even_while_it_is_inspected(queue: str):
    # Visible + in flight: the runbook's receive-message hides a message without removing it.
    name = getattr(LOCAL_STACK, "metadata_dlq" if queue == "metadata_dlq" else "processor_failures_queue").name
    alarm = alarm_on("ApproximateNumberOfMessagesVisible", name, "visible + in_flight")
    metrics = {m.name: m for m in alarm.metrics}
    assert set(metrics) == {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"}
    assert all((m.namespace, m.statistic, m.period_s) == ("AWS/SQS", "Maximum", 60) for m in metrics.values())
    assert (alarm.threshold, alarm.comparison_operator) == (0, "GreaterThanThreshold")
    assert alarm.treat_missing_data == "notBreaching"
    assert alarm.notifies_ok


@pytest.mark.parametrize("queue", DEAD_LETTER_QUEUES)
def test_dead_letter_queue_alarms_again_on_new_messages(queue: str):
    # NumberOfMessagesSent leaves out what a redrive policy moves to a DLQ: the rise of the depth does not.
    name = getattr(LOCAL_STACK, "metadata_dlq" if queue == "metadata_dlq" else "processor_failures_queue").name
    alarm = alarm_on("ApproximateNumberOfMessagesVisible", name, "DIFF(visible + in_flight)")
    assert (alarm.threshold, alarm.comparison_operator) == (0, "GreaterThanThreshold")
    assert {m.period_s for m in alarm.metrics} == {60}
    assert not alarm.notifies_ok, "going back to OK is no news: only arrivals notify"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_errors_alarm(function: str):
    alarm = alarm_on("Errors", getattr(LOCAL_STACK, function).name)
    assert alarm.metric.namespace == "AWS/Lambda" and alarm.threshold == 0


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_error_rate_alarm_divides_errors_by_invocations(stack: Stack, function: str):
    alarm = alarm_on("Errors", getattr(LOCAL_STACK, function).name, "100 * errors / invocations")
    queries = dict(alarm.inputs)
    assert {(q.name, q.statistic, q.period_s) for q in queries.values()} == {
        ("Errors", "Sum", 300),
        ("Invocations", "Sum", 300),
    }
    assert queries["errors"].name == "Errors" and queries["invocations"].name == "Invocations"
    assert stack.locals["alarms"][f"{function}_error_rate"]["threshold"] == "${var.error_rate_alarm_threshold_percent}"
    assert alarm.threshold == default(stack, "error_rate_alarm_threshold_percent") == 1


@pytest.mark.parametrize(
    ("function", "metric"),
    [
        ("image_processor", "Throttles"),
        ("db_writer", "Throttles"),
        ("image_processor", "AsyncEventsDropped"),
        ("image_processor", "DestinationDeliveryFailures"),
    ],
)
def test_function_alarms_on_the_first_throttle_and_every_silently_lost_event(function: str, metric: str):
    alarm = alarm_on(metric, getattr(LOCAL_STACK, function).name)
    assert (alarm.metric.namespace, alarm.metric.statistic, alarm.metric.period_s) == ("AWS/Lambda", "Sum", 300)
    assert (alarm.threshold, alarm.comparison_operator) == (0, "GreaterThanThreshold")


def test_end_to_end_latency_alarm_watches_db_writers_p99(stack: Stack):
    alarm = alarm_on("EndToEndLatency", LOCAL_STACK.db_writer.name)
    assert (alarm.metric.namespace, alarm.metric.statistic) == ("ImagePipeline", "p99")
    spec = stack.locals["alarms"]["end_to_end_latency"]
    assert spec["threshold"] == "${var.end_to_end_latency_alarm_threshold_seconds * 1000}"
    assert spec["metric"]["extended_statistic"] == "p99"
    assert "EndToEndLatency" in string_literals("db_writer"), "db_writer emits no EndToEndLatency metric"


def test_account_concurrency_alarm_is_a_share_of_the_account_limit(stack: Stack):
    [alarm] = [a for a in ALARMS if a.metric and a.metric.name == "ConcurrentExecutions"]
    assert (alarm.metric.namespace, alarm.metric.statistic) == ("AWS/Lambda", "Maximum")
    assert alarm.metric.dimension is None, "without a dimension the metric is the whole account's"
    spec = stack.locals["alarms"]["account_concurrency"]
    assert spec["threshold"] == "${floor(var.account_concurrency_limit * var.concurrency_alarm_percent / 100)}"


def test_metadata_queue_age_alarm(stack: Stack):
    alarm = alarm_on("ApproximateAgeOfOldestMessage", LOCAL_STACK.metadata_queue.name)
    assert alarm.threshold == default(stack, "queue_age_alarm_threshold_seconds")
    spec = stack.locals["alarms"]["metadata_queue_oldest_message"]
    assert spec["threshold"] == "${var.queue_age_alarm_threshold_seconds}"


def test_queue_age_alarm_can_fire_before_sqs_deletes_the_message(stack: Stack):
    alarm = alarm_on("ApproximateAgeOfOldestMessage", LOCAL_STACK.metadata_queue.name)
    queue = stack.of_type("aws_sqs_queue")["metadata"]
    (precondition,) = block(queue, "lifecycle")["precondition"]
    assert precondition["condition"] == (
        "${var.queue_age_alarm_threshold_seconds + local.queue_age_alarm_period <= local.metadata_retention_seconds}"
    )
    assert stack.locals["queue_age_alarm_period"] == alarm.metric.period_s
    retention = evaluate_with_defaults(stack, "${local.metadata_retention_seconds}")
    assert default(stack, "queue_age_alarm_threshold_seconds") + alarm.metric.period_s <= retention
    assert f"({retention} s)" in stack.variables["queue_age_alarm_threshold_seconds"]["description"]


def test_alarm_topic_has_optional_email_subscription(stack: Stack):
    subscription = stack.of_type("aws_sns_topic_subscription")["alarm_email"]
    assert subscription["count"] == "${var.alarm_email == null ? 0 : 1}"
    assert subscription["protocol"] == "email" and default(stack, "alarm_email") is None


def dashboard_widgets(stack: Stack) -> list[dict[str, Any]]:
    dashboard = stack.of_type("aws_cloudwatch_dashboard")["pipeline"]
    assert "local.dashboard_widgets" in dashboard["dashboard_body"]
    return stack.locals["dashboard_widgets"]


def test_dashboard_metrics_reference_resources_of_the_stack(stack: Stack):
    for widget in dashboard_widgets(stack):
        if widget["type"] != "metric":
            continue
        assert widget["properties"]["region"] == "${local.region}", widget["properties"]["title"]
        for namespace, metric, dimensions, _ in metric_rows(widget):
            assert dimensions or (namespace, metric) in ACCOUNT_WIDE_METRICS, f"{metric} has no dimensions"
            for dimension, value in dimensions.items():
                resource_type, attribute = DIMENSION_TARGETS[dimension]
                target = reference(value)
                assert target and re.fullmatch(rf"{resource_type}\.\w+\.{attribute}", target), (metric, value)
                assert stack.resolves(target), f"{metric}: {target} is not in the stack"
            if namespace == "ImagePipeline":
                # EMF metrics: the single dimension set is FunctionName, and the function emits that name.
                assert list(dimensions) == ["FunctionName"]
                function = reference(dimensions["FunctionName"]).split(".")[1]
                assert metric in string_literals(function), f"{function} emits no metric {metric}"


def test_dashboard_shows_what_operators_need(stack: Stack):
    shown = {
        (metric, reference(value), options.get("stat"))
        for widget in dashboard_widgets(stack)
        if widget["type"] == "metric"
        for _, metric, dimensions, options in metric_rows(widget)
        for value in dimensions.values()
    }
    for function in FUNCTIONS:
        name = f"aws_lambda_function.{function}.function_name"
        for metric, stat in [("Invocations", "Sum"), ("Errors", "Sum"), ("Throttles", "Sum")]:
            assert (metric, name, stat) in shown
        assert {("Duration", name, "p50"), ("Duration", name, "p99")} <= shown
        assert ("ConcurrentExecutions", name, "Maximum") in shown
    metadata = "aws_sqs_queue.metadata.name"
    assert {("ApproximateNumberOfMessagesVisible", metadata, "Maximum")} <= shown
    assert ("ApproximateAgeOfOldestMessage", metadata, "Maximum") in shown
    for queue in DEAD_LETTER_QUEUES:
        assert ("ApproximateNumberOfMessagesVisible", f"aws_sqs_queue.{queue}.name", "Maximum") in shown
    table = "aws_dynamodb_table.images.name"
    assert ("ConsumedWriteCapacityUnits", table, "Sum") in shown and ("WriteThrottleEvents", table, "Sum") in shown
    processor = "aws_lambda_function.image_processor.function_name"
    assert {("ImagesProcessed", processor, "Sum"), ("ImagesRejected", processor, "Sum")} <= shown
    assert ("ProcessingTime", processor, "p99") in shown


def test_dashboard_alarm_widget_lists_every_alarm_and_log_widget_queries_both_functions(stack: Stack):
    widgets = dashboard_widgets(stack)
    (alarm_widget,) = [widget for widget in widgets if widget["type"] == "alarm"]
    assert alarm_widget["properties"]["alarms"] == "${[for alarm in aws_cloudwatch_metric_alarm.this : alarm.arn]}"
    [local_widget] = [widget for widget in LOCAL_STACK.dashboard_body["widgets"] if widget["type"] == "alarm"]
    assert sorted(arn.rpartition(":")[2] for arn in local_widget["properties"]["alarms"]) == sorted(
        a.name for a in ALARMS
    )
    (log_widget,) = [widget for widget in widgets if widget["type"] == "log"]
    assert log_widget["properties"]["region"] == "${local.region}"
    query = stack.locals[reference(log_widget["properties"]["query"]).removeprefix("local.")]
    for function in FUNCTIONS:
        assert f"SOURCE '${{aws_cloudwatch_log_group.{function}.name}}'" in query
    assert "level = 'ERROR'" in query


def test_dashboard_widgets_fit_the_grid_without_overlapping(stack: Stack):
    taken: set[tuple[int, int]] = set()
    for widget in dashboard_widgets(stack):
        assert widget["x"] + widget["width"] <= 24
        cells = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & taken, f"{widget['properties']['title']} overlaps another widget"
        taken |= cells


# --- outputs and example --------------------------------------------------------------------------


def test_outputs_users_rely_on(stack: Stack):
    required = {
        "upload_bucket_name",
        "thumbnail_bucket_name",
        "image_processor_function_name",
        "db_writer_function_name",
        "dynamodb_table_name",
        "metadata_queue_url",
        "metadata_dlq_url",
        "processor_failures_queue_url",
        "alarm_topic_arn",
        "dashboard_url",
    }
    assert required <= set(stack.outputs)
    for name, output in stack.outputs.items():
        assert output.get("description"), f"output {name} needs a description"
        assert re.search(r"_(name|arn|url)$", name), f"output {name}: name it *_name, *_arn or *_url"
    assert "#dashboards/dashboard/" in stack.outputs["dashboard_url"]["value"]
    assert "region=${local.region}" in stack.outputs["dashboard_url"]["value"]


def test_tfvars_example_sets_declared_variables_for_a_dev_stack(stack: Stack):
    example = load_hcl(TERRAFORM_DIR / "terraform.tfvars.example")
    assert set(example) <= set(stack.variables)
    assert example["force_destroy"] is True


# --- queue policies and listing -------------------------------------------------------------------


def queue_policy_statements(stack: Stack, queue: str) -> list[dict[str, Any]]:
    """The statements of the policy attached to a queue, with those of its source documents."""
    policy = stack.of_type("aws_sqs_queue_policy")[queue]
    assert reference(policy["queue_url"]) == f"aws_sqs_queue.{queue}.id"
    documents = stack.data["aws_iam_policy_document"]
    name = reference(policy["policy"]).removeprefix("data.aws_iam_policy_document.").removesuffix(".json")
    name = re.sub(r'\["(\w+)"\]$', "", name)
    document = documents[name]
    statements = list(document.get("statement", []))
    for source in document.get("source_policy_documents", []):
        assert reference(source) == f'data.aws_iam_policy_document.queue_tls_only["{queue}"].json', source
        statements += documents["queue_tls_only"]["statement"]
    return statements


@pytest.mark.parametrize("queue", ["metadata", "metadata_dlq", "processor_failures"])
def test_every_queue_refuses_requests_without_tls(stack: Stack, queue: str):
    assert set(stack.of_type("aws_sqs_queue_policy")) == set(stack.of_type("aws_sqs_queue"))
    tls_only = stack.data["aws_iam_policy_document"]["queue_tls_only"]
    assert reference(tls_only["for_each"][queue]) == f"aws_sqs_queue.{queue}.arn"
    [deny] = [s for s in queue_policy_statements(stack, queue) if s.get("sid") == "DenyWithoutTLS"]
    assert (deny["effect"], deny["actions"], deny["resources"]) == ("Deny", ["sqs:*"], ["${each.value}"])
    assert deny["principals"] == [{"type": "*", "identifiers": ["*"]}]
    assert deny["condition"] == [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]


def test_only_image_processor_and_named_redrive_roles_send_to_the_metadata_queue(stack: Stack):
    [deny] = [s for s in queue_policy_statements(stack, "metadata") if s.get("sid") == "OnlyImageProcessorSends"]
    assert (deny["effect"], deny["actions"]) == ("Deny", ["sqs:SendMessage"])
    assert deny["resources"] == ["${aws_sqs_queue.metadata.arn}"]
    assert deny["principals"] == [{"type": "*", "identifiers": ["*"]}]
    [condition] = deny["condition"]
    assert (condition["test"], condition["variable"]) == ("ArnNotEquals", "aws:PrincipalArn")
    assert condition["values"] == "${concat([aws_iam_role.image_processor.arn], var.metadata_queue_redrive_role_arns)}"
    assert default(stack, "metadata_queue_redrive_role_arns") == []


def test_processor_failures_refuses_to_be_a_dead_letter_queue(stack: Stack):
    policy = stack.of_type("aws_sqs_queue_redrive_allow_policy")["processor_failures"]
    assert reference(policy["queue_url"]) == "aws_sqs_queue.processor_failures.id"
    assert policy["redrive_allow_policy"] == '${jsonencode({redrivePermission = "denyAll"})}'


def test_image_processor_lists_only_under_the_upload_prefix(stack: Stack):
    statements = role_policy_statements(stack, "image_processor")
    [listing] = [s for s in statements if "s3:ListBucket" in s["actions"]]
    assert listing["condition"] == [
        {"test": "StringLike", "variable": "s3:prefix", "values": ["${var.upload_prefix}*"]}
    ]


def test_image_processor_reserved_concurrency_is_optional(stack: Stack):
    function = stack.of_type("aws_lambda_function")["image_processor"]
    assert function["reserved_concurrent_executions"] == "${var.image_processor_reserved_concurrency}"
    assert default(stack, "image_processor_reserved_concurrency") is None
