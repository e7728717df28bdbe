"""The local stack answers Lambda's Invoke API for image_processor, as S3 and the replay tool call it,
and its Get/UpdateFunctionConfiguration, as an operator changes settings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from local_pipeline.pipeline import Pipeline
from local_pipeline.server import LocalEndpoint
from local_pipeline.stack import ACCOUNT_ID, REGION
from sample_images import images
from tests.conftest import s3_event
from tests.local.conftest import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def pipeline(start, local_endpoint: LocalEndpoint) -> Pipeline:
    return start(lambda_api=local_endpoint.lambda_api)


def uploaded(pipeline: Pipeline, key: str) -> dict[str, Any]:
    """An S3 event for `key`, uploaded but not yet processed: the S3 notification pump is stopped."""
    pipeline.notifications.stop()
    bucket = pipeline.stack.upload_bucket
    pipeline.client("s3").put_object(Bucket=bucket, Key=key, Body=images.jpeg(400, 300))
    return s3_event("s3_put", bucket=bucket, key=key)


def thumbnail_exists(pipeline: Pipeline, key: str) -> bool:
    listing = pipeline.client("s3").list_objects_v2(Bucket=pipeline.stack.thumbnail_bucket, Prefix=f"thumbnails/{key}")
    return listing.get("KeyCount", 0) == 1


def test_an_event_invocation_is_accepted_then_processed_with_retries_behind_it(pipeline):
    event = uploaded(pipeline, "invoke/async.jpg")

    response = pipeline.client("lambda").invoke(
        FunctionName=pipeline.stack.image_processor.name, InvocationType="Event", Payload=json.dumps(event)
    )

    assert response["StatusCode"] == 202
    assert response["ResponseMetadata"]["RequestId"]
    wait_until(lambda: thumbnail_exists(pipeline, "invoke/async.jpg"), 30, "the thumbnail")


@pytest.mark.parametrize(
    "function",
    [
        "image-pipeline-dev-image-processor",
        "image-pipeline-dev-image-processor:$LATEST",
        f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:image-pipeline-dev-image-processor",
    ],
    ids=["name", "name:$LATEST", "ARN"],
)
def test_a_request_response_invocation_returns_the_handlers_result(pipeline, function):
    event = uploaded(pipeline, "invoke/sync.jpg")

    response = pipeline.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))

    assert (response["StatusCode"], response["ExecutedVersion"]) == (200, "$LATEST")
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {
        "PROCESSED": 1,
        "REJECTED": 0,
        "DELETED": 0,
        "IGNORED": 0,
        "results": [{"key": "invoke/sync.jpg", "status": "PROCESSED", "reason": None}],
    }
    assert thumbnail_exists(pipeline, "invoke/sync.jpg")


def test_a_failed_invocation_returns_the_runtimes_error_document(pipeline):
    response = pipeline.client("lambda").invoke(
        FunctionName=pipeline.stack.image_processor.name, Payload=json.dumps({"not": "an S3 event"})
    )

    assert (response["StatusCode"], response["FunctionError"]) == (200, "Unhandled")
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "MalformedEventError"
    assert "expected an S3 notification with 'Records'" in error["errorMessage"]


def test_a_dry_run_runs_nothing(pipeline):
    event = uploaded(pipeline, "invoke/dry.jpg")

    response = pipeline.client("lambda").invoke(
        FunctionName=pipeline.stack.image_processor.name, InvocationType="DryRun", Payload=json.dumps(event)
    )

    assert response["StatusCode"] == 204
    assert pipeline.invoker.pending == 0 and not thumbnail_exists(pipeline, "invoke/dry.jpg")


def test_a_payload_that_is_not_json_is_refused_as_lambda_refuses_it(pipeline):
    with pytest.raises(ClientError) as refused:
        pipeline.client("lambda").invoke(FunctionName=pipeline.stack.image_processor.name, Payload=b"{not json")

    assert refused.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_other_functions_are_moto_s_and_unknown_to_it(pipeline):
    with pytest.raises(ClientError) as refused:
        pipeline.client("lambda").invoke(FunctionName=pipeline.stack.db_writer.name, Payload=b"{}")

    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_stopped_pipeline_no_longer_answers_invoke(pipeline):
    pipeline.stop()

    with pytest.raises(ClientError) as refused:
        pipeline.client("lambda").invoke(FunctionName=pipeline.stack.image_processor.name, InvocationType="Event")

    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_changed_environment_applies_to_the_next_invocation_and_a_bad_one_is_refused(pipeline):
    lambda_client = pipeline.client("lambda")
    name = pipeline.stack.image_processor.name
    variables = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    assert variables["THUMBNAIL_SIZE"] == "256" and variables["METADATA_QUEUE_URL"].startswith("http")

    # WHEN an operator changes the size as on AWS (the whole environment is replaced)
    lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": variables | {"THUMBNAIL_SIZE": "128"}}
    )
    event = uploaded(pipeline, "invoke/resized.jpg")
    lambda_client.invoke(FunctionName=name, Payload=json.dumps(event))

    # THEN the next invocation uses it
    thumbnail = pipeline.client("s3").get_object(
        Bucket=pipeline.stack.thumbnail_bucket, Key="thumbnails/invoke/resized.jpg.webp"
    )
    assert Image.open(thumbnail["Body"]).size == (128, 96)
    current = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    assert current["THUMBNAIL_SIZE"] == "128"

    # AND an environment the function could not start with is refused, naming the variable
    with pytest.raises(ClientError, match="THUMBNAIL_SIZE must be between 16 and 4096"):
        lambda_client.update_function_configuration(
            FunctionName=name, Environment={"Variables": variables | {"THUMBNAIL_SIZE": "2"}}
        )
    assert lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == current
