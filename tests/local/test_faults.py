"""Fault injection: each fault looks to the handlers as AWS would make it look, at the rate asked."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from local_pipeline.event_source import SqsEventSource
from local_pipeline.faults import MAX_DELAY_S, FaultConfig, Faults
from local_pipeline.loop import BackgroundLoop
from local_pipeline.runtime import LambdaFunction
from local_pipeline.stack import REGION, EventSourceSettings, QueueSettings
from tests.local.conftest import make_queue, receive_all, wait_until

BUCKET = "faults-test-bucket"
# The handlers' own retry configuration (image_processor/handler.py, db_writer/handler.py):
# botocore's max_attempts counts retries, so a call is tried up to 4 times.
HANDLER_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})
ATTEMPTS = 4


@pytest.fixture
def handler_clients(aws, endpoint):
    """Clients configured as the handlers configure theirs, the bucket, queue and table they use."""

    def client(service: str) -> Any:
        credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION, config=HANDLER_CONFIG, **credentials)

    s3, sqs, dynamodb = client("s3"), client("sqs"), client("dynamodb")
    s3.create_bucket(Bucket=BUCKET)
    dynamodb.create_table(
        TableName="faults-test",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "image_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "image_key", "AttributeType": "S"}],
    )
    queue_url = sqs.create_queue(QueueName="faults-test")["QueueUrl"]
    return s3, sqs, dynamodb, queue_url


@pytest.fixture
def faults():
    made: list[Faults] = []

    def make(clients: list[Any], **config: Any) -> Faults:
        made.append(Faults(FaultConfig(**config)))
        made[-1].install(clients)
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_a_server_error_is_retried_by_botocore_and_never_reaches_s3(handler_clients, faults):
    s3, *_ = handler_clients
    injected = faults([s3], server_error=1.0)

    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=BUCKET, Key="a.webp", Body=b"thumbnail")

    assert raised.value.response["Error"]["Code"] == "InternalError"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == ATTEMPTS - 1, "botocore's retries ran"
    assert injected.injected["server_error"] == ATTEMPTS
    injected.close()
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_throttling_is_the_services_own_throttling_error(handler_clients, faults):
    _, _, dynamodb, _ = handler_clients
    injected = faults([dynamodb], throttle=1.0)

    with pytest.raises(ClientError) as raised:
        dynamodb.put_item(TableName="faults-test", Item={"image_key": {"S": "a.jpg"}})

    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == ATTEMPTS - 1
    assert injected.injected["throttle"] == ATTEMPTS
    injected.close()
    assert dynamodb.scan(TableName="faults-test")["Items"] == []


def test_a_call_succeeds_when_a_retry_gets_through(handler_clients, faults):
    """At 50 % per attempt, some calls fail once and then succeed: what the handlers normally see."""
    _, sqs, _, queue_url = handler_clients
    injected = faults([sqs], server_error=0.5, seed=3)
    outcomes = []
    for number in range(12):
        try:
            retries = sqs.send_message(QueueUrl=queue_url, MessageBody=str(number))["ResponseMetadata"]["RetryAttempts"]
            outcomes.append(retries)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "InternalFailure"
            outcomes.append("failed")

    assert any(isinstance(o, int) and o > 0 for o in outcomes), outcomes
    injected.close()
    assert len(receive_all_bodies(sqs, queue_url)) == sum(1 for o in outcomes if o != "failed")


def test_a_lost_reply_is_applied_then_sent_again(handler_clients, faults):
    _, sqs, _, queue_url = handler_clients
    faults([sqs], lost_reply=1.0)

    with pytest.raises(ConnectionClosedError):
        sqs.send_message(QueueUrl=queue_url, MessageBody="metadata")

    # Every attempt reached the queue: at-least-once sending, duplicates with their own message ids.
    assert receive_all_bodies(sqs, queue_url) == ["metadata"] * ATTEMPTS


def receive_all_bodies(sqs: Any, queue_url: str) -> list[str]:
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in messages]
    return bodies


def test_poisoned_keys_fail_every_time_with_a_permanent_error(handler_clients, faults):
    s3, _, dynamodb, _ = handler_clients
    s3.put_object(Bucket=BUCKET, Key="poisoned.jpg", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="fine.jpg", Body=b"x")
    injected = faults([s3, dynamodb], poison_image_processor={"poisoned.jpg"}, poison_db_writer={"poisoned.jpg"})

    with pytest.raises(ClientError) as denied:
        s3.get_object(Bucket=BUCKET, Key="poisoned.jpg")
    with pytest.raises(ClientError) as invalid:
        dynamodb.put_item(TableName="faults-test", Item={"image_key": {"S": "poisoned.jpg"}})

    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert invalid.value.response["Error"]["Code"] == "ValidationException"
    assert denied.value.response["ResponseMetadata"]["RetryAttempts"] == 0, "a permanent error is not retried"
    assert s3.get_object(Bucket=BUCKET, Key="fine.jpg")["Body"].read() == b"x"
    dynamodb.put_item(TableName="faults-test", Item={"image_key": {"S": "fine.jpg"}})
    assert injected.injected["poison"] == 2


def test_faults_hit_only_the_clients_they_are_installed_on(handler_clients, faults, aws):
    s3, *_ = handler_clients
    faults([s3], server_error=1.0)

    aws("s3").put_object(Bucket=BUCKET, Key="runner.txt", Body=b"the runner's own client")


def test_crashes_happen_part_way_and_the_runtime_reports_them_as_lambda_does(handler_clients, faults, make_function):
    """GIVEN a handler that writes two objects, crashing on every invocation at a random point
    THEN every invocation fails with Runtime.ExitError, some before writing, some after one write,
    some after both (the crash comes after the handler returned, and its response is lost)."""
    s3, *_ = handler_clients
    injected = faults([s3], crash=1.0, seed=11)

    def handler(event: dict[str, Any], context: Any) -> str:
        for part in ("first", "second"):
            s3.put_object(Bucket=BUCKET, Key=f"{event['n']}/{part}", Body=b"x")
        return "done"

    function: LambdaFunction = make_function(injected.crashing(handler))
    results = [function.invoke({"n": n}) for n in range(30)]

    assert all(result.error and result.error["errorType"] == "Runtime.ExitError" for result in results)
    assert all("Runtime exited with error: signal: killed" in result.error["errorMessage"] for result in results)
    writes = _writes_per_invocation(s3, 30)
    assert set(writes) == {0, 1, 2}, writes
    assert injected.injected["crash"] == 30


def _writes_per_invocation(s3: Any, invocations: int) -> dict[int, int]:
    """How many invocations wrote 0, 1 and 2 objects."""
    keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    per_invocation = [sum(1 for key in keys if key.startswith(f"{n}/")) for n in range(invocations)]
    return {count: per_invocation.count(count) for count in set(per_invocation)}


def test_no_crash_without_the_rate(handler_clients, faults, make_function):
    s3, *_ = handler_clients
    injected = faults([s3], seed=1)
    function = make_function(injected.crashing(lambda event, context: "done"))

    assert function.invoke({}).response == "done"


def test_s3_events_are_duplicated_and_delayed(faults):
    delivered: list[tuple[float, str]] = []
    started = time.monotonic()
    injected = faults([], duplicate_s3_event=1.0, delay_s3_event=1.0, seed=5)
    deliver = injected.delivering(lambda event: delivered.append((time.monotonic() - started, event["n"])))

    for n in ("a", "b", "c"):
        deliver({"n": n})
    assert injected.delayed == 6

    wait_until(lambda: len(delivered) == 6, MAX_DELAY_S + 2, "the delayed events")
    assert sorted(n for _, n in delivered) == ["a", "a", "b", "b", "c", "c"]
    assert all(0 <= at <= MAX_DELAY_S + 1 for at, _ in delivered)
    assert [n for _, n in delivered] != ["a", "a", "b", "b", "c", "c"], "held back events arrive shuffled"
    assert injected.delayed == 0
    assert injected.injected["duplicate_s3_event"] == 3


def test_a_written_metadata_message_is_delivered_again(aws, make_function, console):
    """Duplicate SQS delivery: a message db_writer wrote is left in the queue, reaches it again with
    the same message id, then is deleted."""
    queue = QueueSettings("faults-source", 3600, visibility_timeout_s=60)
    url = make_queue(aws, queue)
    aws("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1}))
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lock:
            seen.extend((r["messageId"], r["attributes"]["ApproximateReceiveCount"]) for r in event["Records"])
        return {"batchItemFailures": []}

    source = SqsEventSource(
        make_function(handler),
        aws("sqs"),
        queue,
        url,
        EventSourceSettings(batch_size=10, maximum_batching_window_s=0, maximum_concurrency=1),
        console,
        retry_visibility_s=0,
        redeliver=lambda message: message["Attributes"]["ApproximateReceiveCount"] == "1",
    )
    loop = BackgroundLoop("source", source.step, console)
    loop.start()
    try:
        wait_until(lambda: len(seen) == 2 and not receive_all(aws, url) and not source.busy, 20, "two deliveries")
    finally:
        loop.stop()
        source.close()

    assert [count for _, count in seen] == ["1", "2"]
    assert seen[0][0] == seen[1][0]


def test_duplicate_sqs_message_rate_decides_redelivery():
    assert Faults(FaultConfig(duplicate_sqs_message=1.0)).redeliver({"MessageId": "m"})
    assert not Faults(FaultConfig()).redeliver({"MessageId": "m"})


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_a_rate_outside_0_to_1_is_refused(rate):
    with pytest.raises(ValueError, match=f"fault rate crash must be from 0 to 1, got {rate}"):
        FaultConfig(crash=rate)


def test_uniform_sets_every_rate():
    config = FaultConfig.uniform(0.05, seed=2)

    assert config.describe() == (
        "throttle=0.05, server_error=0.05, lost_reply=0.05, crash=0.05, duplicate_s3_event=0.05, "
        "delay_s3_event=0.05, duplicate_sqs_message=0.05"
    )
    assert config.seed == 2
