"""What terraform/'s policies allow, evaluated rather than read: each function's role grants exactly the
listed actions on the listed resources and nothing else, and both buckets refuse plain-HTTP requests and
anything that could make them public. (tests/terraform/test_stack.py checks the same files' shape:
no wildcard actions, the public access block's four flags, the TLS statement's condition.)"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from tests.terraform.stack import Stack, load_stack, reference

FUNCTIONS = ("image_processor", "db_writer")
UPLOADS, THUMBNAILS = "<uploads>", "<thumbnails>"
METADATA_QUEUE, FAILURES_QUEUE = "<queue metadata>", "<queue processor_failures>"
TABLE = "<table images>"


def log_streams(function: str) -> str:
    return f"<log group {function}>:*"


# Every grant each function needs, and no other: (action, resource), with symbolic ARNs.
EXPECTED_GRANTS = {
    "image_processor": {
        ("s3:GetObject", f"{UPLOADS}/*"),  # HeadObject needs GetObject too
        ("s3:ListBucket", UPLOADS),  # a deleted upload answers 404, not 403
        ("s3:PutObject", f"{THUMBNAILS}/thumbnails/*"),
        ("s3:DeleteObject", f"{THUMBNAILS}/thumbnails/*"),
        ("sqs:SendMessage", METADATA_QUEUE),
        ("sqs:SendMessage", FAILURES_QUEUE),  # Lambda's on-failure destination sends with this role
        ("logs:CreateLogStream", log_streams("image_processor")),
        ("logs:PutLogEvents", log_streams("image_processor")),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    },
    "db_writer": {
        ("sqs:ReceiveMessage", METADATA_QUEUE),
        ("sqs:DeleteMessage", METADATA_QUEUE),
        ("sqs:GetQueueAttributes", METADATA_QUEUE),
        ("dynamodb:PutItem", TABLE),
        ("logs:CreateLogStream", log_streams("db_writer")),
        ("logs:PutLogEvents", log_streams("db_writer")),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    },
}

# Requests each function must be refused: what a bug or a compromised dependency could try.
MUST_BE_DENIED = {
    "image_processor": [
        ("s3:PutObject", f"{UPLOADS}/photo.jpg"),  # writing uploads would invoke itself, forever
        ("s3:DeleteObject", f"{UPLOADS}/photo.jpg"),
        ("s3:GetObject", f"{THUMBNAILS}/thumbnails/a.jpg.webp"),
        ("s3:PutObject", f"{THUMBNAILS}/elsewhere/a.webp"),
        ("s3:PutBucketPolicy", UPLOADS),
        ("s3:GetObject", "arn:aws:s3:::someone-elses-bucket/key"),
        ("sqs:ReceiveMessage", METADATA_QUEUE),
        ("sqs:DeleteMessage", FAILURES_QUEUE),
        ("sqs:SendMessage", "<queue metadata_dlq>"),
        ("dynamodb:PutItem", TABLE),
        ("logs:PutLogEvents", log_streams("db_writer")),
        ("lambda:InvokeFunction", "*"),
        ("iam:PassRole", "*"),
    ],
    "db_writer": [
        ("dynamodb:DeleteItem", TABLE),
        ("dynamodb:Scan", TABLE),
        ("dynamodb:UpdateItem", TABLE),
        ("dynamodb:DeleteTable", TABLE),
        ("sqs:SendMessage", METADATA_QUEUE),
        ("sqs:PurgeQueue", METADATA_QUEUE),
        ("sqs:ReceiveMessage", "<queue metadata_dlq>"),
        ("s3:GetObject", f"{UPLOADS}/photo.jpg"),
        ("logs:PutLogEvents", log_streams("image_processor")),
    ],
}

RESOURCES_THAT_OPEN_BUCKETS = (
    "aws_s3_bucket_acl",
    "aws_s3_bucket_website_configuration",
    "aws_s3_access_point",
    "aws_s3control_access_point_policy",
    "aws_s3control_multi_region_access_point",
)


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack()


def render(stack: Stack, expression: str, each_key: str | None = None) -> str:
    """A resource expression with symbolic ARNs for the stack's resources and variables' defaults."""
    bucket_names = {"uploads": UPLOADS, "thumbnails": THUMBNAILS}

    def substitute(match: re.Match[str]) -> str:
        target = match[1]
        if target.startswith("var."):
            return str(stack.variables[target.removeprefix("var.")]["default"])
        bucket = re.fullmatch(r'aws_s3_bucket\.this\[(?:"(\w+)"|each\.key)\]\.arn', target)
        if bucket:
            return bucket_names[bucket[1] or each_key]
        resource = re.fullmatch(r"aws_(sqs_queue|dynamodb_table|cloudwatch_log_group)\.(\w+)\.arn", target)
        assert resource and stack.resolves(target), f"no symbolic ARN for {target}"
        kind = {"sqs_queue": "queue", "dynamodb_table": "table", "cloudwatch_log_group": "log group"}[resource[1]]
        return f"<{kind} {resource[2]}>"

    return re.sub(r"\$\{([^}]+)\}", substitute, expression)


def policy_statements(stack: Stack, function: str) -> list[dict[str, Any]]:
    """The statements of every policy the function's role has, checking there is no other way in."""
    role = stack.of_type("aws_iam_role")[function]
    assert not {"inline_policy", "managed_policy_arns"} & set(role), f"{function}'s role has policies of its own"
    for kind in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment", "aws_iam_policy"):
        assert not stack.of_type(kind), f"{kind} adds grants the review below would not see"
    attached = [
        policy
        for policy in stack.of_type("aws_iam_role_policy").values()
        if reference(policy["role"]) == f"aws_iam_role.{function}.id"
    ]
    assert len(attached) == 1, f"{function}: expected one inline policy, found {len(attached)}"
    assert reference(attached[0]["policy"]) == f"data.aws_iam_policy_document.{function}.json"
    return stack.data["aws_iam_policy_document"][function]["statement"]


def grants(stack: Stack, function: str) -> set[tuple[str, str]]:
    granted = set()
    for statement in policy_statements(stack, function):
        assert statement.get("effect", "Allow") == "Allow"
        assert not {"not_actions", "not_resources", "principals"} & set(statement), statement
        for condition in statement.get("condition", []):  # a condition may only narrow a grant further
            narrowing = {(action, condition["test"], condition["variable"]) for action in statement["actions"]}
            assert narrowing <= NARROWING_CONDITIONS, statement
        granted |= {(a, render(stack, r)) for a in statement["actions"] for r in statement["resources"]}
    return granted


# Conditions that only narrow an Allow: listing the uploads bucket, only under the upload prefix.
NARROWING_CONDITIONS = {("s3:ListBucket", "StringLike", "s3:prefix")}


def test_listing_the_uploads_bucket_is_limited_to_the_upload_prefix(stack: Stack):
    [statement] = [st for st in policy_statements(stack, "image_processor") if "s3:ListBucket" in st["actions"]]
    assert statement["condition"] == [
        {"test": "StringLike", "variable": "s3:prefix", "values": ["${var.upload_prefix}*"]}
    ]


def allows(granted: set[tuple[str, str]], action: str, resource: str) -> bool:
    """IAM's matching of one request against Allow grants: case-insensitive actions, `*` wildcards."""
    return any(
        fnmatch.fnmatchcase(action.lower(), pattern.lower()) and fnmatch.fnmatchcase(resource, arn)
        for pattern, arn in granted
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_role_grants_exactly_the_listed_actions_on_the_listed_resources(stack: Stack, function: str):
    assert grants(stack, function) == EXPECTED_GRANTS[function]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_role_refuses_what_the_function_never_does(stack: Stack, function: str):
    granted = grants(stack, function)

    allowed = [request for request in MUST_BE_DENIED[function] if allows(granted, *request)]

    assert not allowed, f"{function} may do what it never needs: {allowed}"
    assert all(allows(granted, *grant) for grant in EXPECTED_GRANTS[function])  # the matcher does match


@pytest.mark.parametrize("function", FUNCTIONS)
def test_only_lambda_can_assume_the_role(stack: Stack, function: str):
    role = stack.of_type("aws_iam_role")[function]
    document = reference(role["assume_role_policy"]).removeprefix("data.aws_iam_policy_document.").removesuffix(".json")

    (statement,) = stack.data["aws_iam_policy_document"][document]["statement"]

    assert statement.get("effect", "Allow") == "Allow" and statement["actions"] == ["sts:AssumeRole"]
    assert statement["principals"] == [{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}]


def bucket_policy_denies(stack: Stack, bucket: str, action: str, resource: str, *, secure: bool) -> bool:
    """Whether the bucket's policy denies an anonymous or authenticated request made with or without TLS."""
    policy = stack.of_type("aws_s3_bucket_policy")["this"]
    document = re.fullmatch(r"data\.aws_iam_policy_document\.(\w+)\[each\.key\]\.json", reference(policy["policy"]))
    assert document, policy["policy"]
    for statement in stack.data["aws_iam_policy_document"][document[1]]["statement"]:
        if statement.get("effect") != "Deny":
            continue
        principals = statement["principals"]
        everyone = principals == [{"type": "*", "identifiers": ["*"]}] or principals == [
            {"type": "AWS", "identifiers": ["*"]}
        ]
        actions = any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in statement["actions"])
        resources = any(fnmatch.fnmatchcase(resource, render(stack, r, bucket)) for r in statement["resources"])
        conditions = all(condition_holds(condition, secure) for condition in statement.get("condition", []))
        if everyone and actions and resources and conditions:
            return True
    return False


def condition_holds(condition: dict[str, Any], secure: bool) -> bool:
    assert (condition["test"], condition["variable"]) == ("Bool", "aws:SecureTransport"), condition
    return str(secure).lower() in condition["values"]


@pytest.mark.parametrize("bucket", ["uploads", "thumbnails"])
@pytest.mark.parametrize(
    ("action", "path"),
    [("s3:GetObject", "/photo.jpg"), ("s3:PutObject", "/photo.jpg"), ("s3:DeleteObject", "/a"), ("s3:ListBucket", "")],
)
def test_bucket_denies_every_request_without_tls(stack: Stack, bucket: str, action: str, path: str):
    name = {"uploads": UPLOADS, "thumbnails": THUMBNAILS}[bucket]
    assert set(stack.locals["buckets"]) == {"uploads", "thumbnails"}
    assert stack.of_type("aws_s3_bucket_policy")["this"]["for_each"] == "${local.buckets}"
    assert stack.of_type("aws_s3_bucket_policy")["this"]["bucket"] == "${aws_s3_bucket.this[each.key].id}"

    assert bucket_policy_denies(stack, bucket, action, name + path, secure=False)
    assert not bucket_policy_denies(stack, bucket, action, name + path, secure=True)


def test_nothing_can_make_a_bucket_public(stack: Stack):
    present = [kind for kind in RESOURCES_THAT_OPEN_BUCKETS if stack.of_type(kind)]
    assert not present, f"resources that can open a bucket to the public: {present}"
    block = stack.of_type("aws_s3_bucket_public_access_block")["this"]
    assert block["for_each"] == "${local.buckets}" and block["bucket"] == "${aws_s3_bucket.this[each.key].id}"
    # No policy document anywhere lets everyone in: '*' principals only ever appear to deny.
    for name, document in stack.data["aws_iam_policy_document"].items():
        for statement in document["statement"]:
            for principal in statement.get("principals", []):
                if "*" in principal["identifiers"]:
                    assert statement.get("effect") == "Deny", f"{name} allows everyone: {statement}"
