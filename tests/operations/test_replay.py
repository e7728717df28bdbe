"""scripts.replay: re-invokes image_processor with each on-failure record's S3 event,
deletes a record only once Lambda accepted its invocation, and never loops on records its own replay causes.

The queue is moto's (in process) or the local stack's. Lambda is moto's where moto can answer Invoke
(its Docker-free backend accepts any asynchronous invocation of a function it knows), or the local
stack's, which answers Invoke for image_processor and runs it; elsewhere a stand-in the test passes as
the tool's invoker decides what Lambda answers.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sample_images import images
from scripts import replay as replay_tool
from tests.conftest import s3_event
from tests.local.conftest import wait_until
from tests.local.subprocess_stack import LocalStack
from tests.operations.conftest import run_tool

FUNCTION = "image-pipeline-dev-image-processor"
QUEUE = "image-pipeline-dev-processor-failures"
UPLOADS = "image-pipeline-dev-uploads-123456789012-us-east-1"
ACCEPTED = 202


def failure_record(key: str, condition: str = "RetriesExhausted") -> dict[str, Any]:
    """Lambda's on-failure record for an S3 event image_processor kept failing on."""
    return {
        "version": "1.0",
        "timestamp": "2026-11-22T10:00:03.000Z",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": 3,
        },
        "requestPayload": s3_event("s3_put", bucket=UPLOADS, key=key),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "ClientError", "errorMessage": "SlowDown"},
    }


@pytest.fixture
def queue_url(aws, monkeypatch) -> str:
    monkeypatch.setattr(replay_tool, "RECEIVE_WAIT_S", 0)  # moto answers every receive in full at once
    return boto3.client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]


def enqueue(queue_url: str, *bodies: dict[str, Any] | str) -> None:
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=text)


def visible_bodies(queue_url: str) -> list[dict[str, Any] | str]:
    """What an operator sees in the queue right now (without hiding anything)."""
    sqs, bodies, seen = boto3.client("sqs"), [], set()
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=2).get(
        "Messages"
    ):
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                bodies.append(json.loads(message["Body"]))
            except json.JSONDecodeError:
                bodies.append(message["Body"])
    return bodies


def settings(queue_url: str, *, dry_run: bool = False, rate: float = 1000, limit: int | None = None):
    return replay_tool.Settings(queue_url, FUNCTION, rate, limit, dry_run)


class FakeLambda:
    """Lambda's Invoke API as the tool sees it: the status it answers for each payload, in order."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.payloads: list[dict[str, Any]] = []
        self.times: list[float] = []

    def __call__(self, payload: dict[str, Any]) -> int:
        self.payloads.append(payload)
        self.times.append(time.monotonic())
        answer = self.answers.pop(0) if self.answers else ACCEPTED
        if isinstance(answer, Exception):
            raise answer
        return answer


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")


def test_record_is_deleted_only_after_its_invocation_was_accepted(queue_url):
    records = [failure_record(f"photos/{n}.jpg") for n in range(4)]
    enqueue(queue_url, *records)
    lambda_service = FakeLambda(ACCEPTED, ACCEPTED, throttled())

    summary = replay_tool.replay(boto3.client("sqs"), settings(queue_url), lambda_service, io.StringIO())

    # THEN the two accepted records are gone; the refused one and the one never tried are still there
    assert summary.replayed == 2 and len(summary.left) == 1 and "TooManyRequestsException" in summary.left[0]
    remaining = visible_bodies(queue_url)
    assert len(remaining) == 2
    assert lambda_service.payloads[2] in [record["requestPayload"] for record in remaining]
    assert not [p for p in lambda_service.payloads[:2] if p in [r["requestPayload"] for r in remaining]]


def test_a_status_other_than_202_is_a_refusal(queue_url):
    enqueue(queue_url, failure_record("a.jpg"))

    summary = replay_tool.replay(boto3.client("sqs"), settings(queue_url), FakeLambda(500), io.StringIO())

    assert summary.replayed == 0 and "status 500" in summary.left[0]
    assert len(visible_bodies(queue_url)) == 1


def test_dry_run_lists_every_record_and_hides_none(queue_url):
    enqueue(queue_url, *[failure_record(f"dry/{n} é+.jpg") for n in range(12)])
    out = io.StringIO()
    lambda_service = FakeLambda()

    summary = replay_tool.replay(boto3.client("sqs"), settings(queue_url, dry_run=True), lambda_service, out)

    assert summary.listed == 12 and summary.replayed == 0 and lambda_service.payloads == []
    listed = [line for line in out.getvalue().splitlines() if line.startswith("would replay")]
    assert len(listed) == 12
    assert f"ObjectCreated:Put s3://{UPLOADS}/dry/0 é+.jpg (RetriesExhausted after 3 invocation(s)" in out.getvalue()
    assert len(visible_bodies(queue_url)) == 12  # released at once, not after the visibility timeout


def test_dry_run_refuses_a_queue_whose_receives_count_towards_a_dead_letter_queue(queue_url):
    # GIVEN a queue with a redrive policy (each receive counts towards moving a message to its DLQ)
    sqs = boto3.client("sqs")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    source = sqs.create_queue(QueueName="with-dlq", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    enqueue(source, failure_record("counted.jpg"))

    # WHEN a dry run is asked for on it
    with pytest.raises(replay_tool.ConfigurationError, match=r"redrive policy.*maxReceiveCount \(2\)"):
        replay_tool.replay(sqs, settings(source, dry_run=True), FakeLambda())

    # THEN nothing was received: the message's receive count is untouched
    [message] = sqs.receive_message(QueueUrl=source, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"


def test_messages_that_are_not_failure_records_are_left_and_reported(queue_url):
    enqueue(queue_url, "{not json", {"requestPayload": "nothing"}, failure_record("good.jpg"))
    lambda_service = FakeLambda()

    summary = replay_tool.replay(boto3.client("sqs"), settings(queue_url), lambda_service, io.StringIO())

    assert summary.replayed == 1 and len(summary.left) == 2
    assert sorted(map(str, visible_bodies(queue_url))) == sorted(["{not json", str({"requestPayload": "nothing"})])


def test_invocations_keep_to_the_rate(queue_url):
    enqueue(queue_url, *[failure_record(f"rate/{n}.jpg") for n in range(5)])
    lambda_service = FakeLambda()

    replay_tool.replay(boto3.client("sqs"), settings(queue_url, rate=10), lambda_service, io.StringIO())

    gaps = [later - earlier for earlier, later in zip(lambda_service.times, lambda_service.times[1:], strict=False)]
    assert len(gaps) == 4 and min(gaps) >= 0.095


def test_max_replays_that_many_and_leaves_the_rest(queue_url):
    enqueue(queue_url, *[failure_record(f"max/{n}.jpg") for n in range(5)])

    summary = replay_tool.replay(boto3.client("sqs"), settings(queue_url, limit=2), FakeLambda(), io.StringIO())

    assert summary.replayed == 2 and summary.left == []
    assert len(visible_bodies(queue_url)) == 3


def test_an_event_that_fails_again_is_left_for_the_next_run(queue_url):
    # GIVEN Lambda accepts each replay, but the event fails again and a new record comes back at once
    enqueue(queue_url, failure_record("again/a.jpg"), failure_record("again/b.jpg"))

    def lambda_that_fails_again(payload: dict[str, Any]) -> int:
        enqueue(queue_url, failure_record("x") | {"requestPayload": payload})
        return ACCEPTED

    summary = replay_tool.replay(boto3.client("sqs"), settings(queue_url), lambda_that_fails_again, io.StringIO())

    # THEN each record is replayed once, and the new records wait, visible, for the operator
    assert summary.replayed == 2 and summary.left == []
    assert sorted(r["requestPayload"]["Records"][0]["s3"]["object"]["key"] for r in visible_bodies(queue_url)) == [
        "again/a.jpg",
        "again/b.jpg",
    ]


# --- the real Invoke call, against moto's Lambda -------------------------------------------------------


def create_function(name: str, on_failure_queue_url: str | None = None) -> None:
    """A function in moto's Lambda; with a queue, that queue is its on-failure destination, as Terraform sets."""
    role = boto3.client("iam").create_role(RoleName="replay-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="handler.lambda_handler",
        Code={"ZipFile": package.getvalue()},
    )
    if on_failure_queue_url:
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=on_failure_queue_url, AttributeNames=["QueueArn"]
        )
        destination = {"OnFailure": {"Destination": attributes["Attributes"]["QueueArn"]}}
        boto3.client("lambda").put_function_event_invoke_config(FunctionName=name, DestinationConfig=destination)


@pytest.fixture
def moto_lambda(monkeypatch):
    """moto's Lambda without Docker: it accepts invocations of functions it knows, and runs nothing."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


def test_lambda_invoker_sends_the_payload_as_an_asynchronous_invocation(moto_lambda):
    create_function(FUNCTION)
    client = boto3.client("lambda")
    sent = []
    client.meta.events.register("before-send.lambda.Invoke", lambda request, **_: sent.append(request))
    payload = failure_record("sent.jpg")["requestPayload"]

    status = replay_tool.lambda_invoker(client, FUNCTION)(payload)

    assert status == ACCEPTED
    (request,) = sent
    assert request.headers["X-Amz-Invocation-Type"] == b"Event"
    assert request.url.endswith(f"/functions/{FUNCTION}/invocations")
    assert json.loads(request.body) == payload


def run_main(*arguments: str, capsys) -> tuple[int, str]:
    status = replay_tool.main([*arguments, "--region", "us-east-1"])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_main_replays_through_lambda_and_empties_the_queue(moto_lambda, capsys):
    url = boto3.client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]
    create_function(FUNCTION, on_failure_queue_url=url)
    enqueue(url, failure_record("main/a.jpg"), failure_record("main/b.jpg"))

    status, output = run_main(
        "--processor-failures-queue-url", url, "--image-processor-function-name", FUNCTION, capsys=capsys
    )

    assert status == 0, output
    assert "2 replayed, 0 left in the queue" in output
    assert visible_bodies(url) == []


@pytest.mark.parametrize("destination", ["another queue", "none"])
def test_main_receives_nothing_from_a_queue_that_is_not_the_functions_on_failure_destination(
    moto_lambda, capsys, destination: str
):
    # GIVEN a queue holding a message, and a function whose failures go elsewhere (or nowhere)
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="image-pipeline-dev-metadata")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"key": "not-a-failure.jpg"}))
    elsewhere = sqs.create_queue(QueueName=QUEUE)["QueueUrl"] if destination == "another queue" else None
    create_function(FUNCTION, on_failure_queue_url=elsewhere)

    status, output = run_main(
        "--processor-failures-queue-url", url, "--image-processor-function-name", FUNCTION, capsys=capsys
    )

    # THEN it stops as a configuration error, and the message was never received
    assert status == 2
    assert f"is not {FUNCTION}'s on-failure destination" in output and "nothing was received" in output
    [message] = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"  # this receive, the test's own


def fake_terraform(folder, monkeypatch, outputs: dict[str, str]) -> None:
    """A `terraform` first on PATH that prints these outputs as `terraform output -json` does."""
    document = {name: {"sensitive": False, "type": "string", "value": value} for name, value in outputs.items()}
    (folder / "outputs.json").write_text(json.dumps(document))
    script = folder / "terraform"
    script.write_text(f'#!/bin/sh\necho "$@" > {folder}/terraform-arguments\ncat {folder}/outputs.json\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_main_takes_its_settings_from_terraform_output(moto_lambda, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(replay_tool, "RECEIVE_WAIT_S", 0)
    queue_url = boto3.client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]
    create_function(FUNCTION, on_failure_queue_url=queue_url)
    enqueue(queue_url, failure_record("tf.jpg"))
    outputs = {"processor_failures_queue_url": queue_url, "image_processor_function_name": FUNCTION}
    fake_terraform(tmp_path, monkeypatch, outputs)

    status, output = run_main("--dry-run", "--terraform-dir", "deployed", capsys=capsys)

    assert status == 0, output
    assert f"listing (dry run): {queue_url}" in output and "1 would be replayed" in output
    assert (tmp_path / "terraform-arguments").read_text().split() == ["-chdir=deployed", "output", "-json"]


def test_main_says_what_is_missing_without_a_deployed_stack(aws, tmp_path, monkeypatch, capsys):
    fake_terraform(tmp_path, monkeypatch, {})

    status, output = run_main(capsys=capsys)

    assert status == 2
    assert "no processor_failures_queue_url: pass --processor-failures-queue-url, start the local stack" in output


# --- against the local stack -----------------------------------------------------------------------------


@pytest.mark.slow
def test_replay_against_the_local_stack(local_stack: LocalStack, local_environment):
    stack, s3 = local_stack.stack, local_stack.client("s3")
    failures = stack.processor_failures_queue.name
    keys = [f"replay/photo {n}.jpg" for n in range(3)]

    # GIVEN image_processor failed every attempt on three uploads (its thumbnails bucket was missing),
    # and the bucket is back
    s3.delete_bucket(Bucket=stack.thumbnail_bucket)
    for key in keys:
        s3.put_object(Bucket=stack.upload_bucket, Key=key, Body=images.jpeg(400, 300))
    wait_until(lambda: local_stack.depth(failures) == 3, 60, "three on-failure records")
    s3.create_bucket(Bucket=stack.thumbnail_bucket)

    # WHEN the operator points it at the wrong queue by mistake: the metadata DLQ, holding a message
    sqs = local_stack.client("sqs")
    dlq_url = local_stack.queue_url(stack.metadata_dlq.name)
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"key": "waiting.jpg"}))
    mistaken = run_tool("replay", "--processor-failures-queue-url", dlq_url, env=local_environment, timeout=60)
    # THEN it refuses before receiving anything: the message was never received
    assert mistaken.returncode == 2, mistaken.stdout + mistaken.stderr
    assert f"is not {stack.image_processor.name}'s on-failure destination" in mistaken.stderr
    [message] = sqs.receive_message(QueueUrl=dlq_url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"  # this receive, the test's own
    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])

    # WHEN the operator looks first: the dry run lists the three and leaves them
    dry = run_tool("replay", "--dry-run", env=local_environment, timeout=60)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert sorted(line.split(" (")[0] for line in dry.stdout.splitlines() if line.startswith("would")) == [
        f"would replay  ObjectCreated:Put s3://{stack.upload_bucket}/{key}" for key in keys
    ]
    assert "NoSuchBucket" in dry.stdout and local_stack.depth(failures) == 3

    # WHEN the replay runs: one asynchronous Invoke per record, which the local stack queues and runs
    replay = run_tool("replay", env=local_environment, timeout=60)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert len([line for line in replay.stdout.splitlines() if line.startswith("replayed ")]) == 3, replay.stdout

    # THEN the records are gone, and each upload has its thumbnail and its PROCESSED record
    assert local_stack.depth(failures) == 0
    table = local_stack.client("dynamodb")
    for key in keys:
        item = wait_until(
            lambda key=key: table.get_item(TableName=stack.table_name, Key={"image_key": {"S": key}}).get("Item"),
            60,
            f"the record of {key}",
        )
        assert item["status"] == {"S": "PROCESSED"}
        s3.head_object(Bucket=stack.thumbnail_bucket, Key=f"thumbnails/{key}.webp")
