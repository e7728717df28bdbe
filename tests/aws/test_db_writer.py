"""db_writer against moto: per-message failures, idempotent and ordered writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from botocore.awsrequest import AWSResponse

from tests.conftest import load_event


def message(key: str = "photos/a.jpg", status: str = "PROCESSED", sequencer: str | None = "0A", **fields) -> dict:
    base = {
        "schema_version": 1,
        "status": status,
        "reason": "not_an_image" if status == "REJECTED" else None,
        "bucket": "uploads",
        "key": key,
        "sequencer": sequencer,
        "event_time": "2026-11-22T10:00:00.000Z",
        "processing_ms": 12.5,
    }
    return base | fields


def sqs_event(*bodies: dict | str) -> dict:
    template = load_event("sqs_batch")["Records"][0]
    records = []
    for number, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(template | {"messageId": f"msg-{number}", "body": text})
    return {"Records": records}


def failed_ids(response: dict) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_all_good_batch_writes_every_item_and_reports_no_failures(stack, db_writer, context):
    response = db_writer.lambda_handler(sqs_event(message("a.jpg"), message("b.jpg")), context)

    assert response == {"batchItemFailures": []}
    assert stack.item("a.jpg")["status"] == "PROCESSED"
    assert stack.item("b.jpg")["message_id"] == "msg-1"


def test_mixed_batch_reports_exactly_the_poison_messages(stack, db_writer, context, capsys):
    event = sqs_event(
        message("good-1.jpg"),
        "{not json",
        message("v2.jpg") | {"schema_version": 2},
        message("good-2.jpg"),
        {"schema_version": 1, "status": "PROCESSED"},
    )

    response = db_writer.lambda_handler(event, context)

    assert failed_ids(response) == ["msg-1", "msg-2", "msg-4"]
    assert stack.item("good-1.jpg") and stack.item("good-2.jpg")
    errors = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"ERROR"' in line]
    assert [(error["message_id"], error["message"]) for error in errors] == [
        ("msg-1", "message not written"),
        ("msg-2", "message not written"),
        ("msg-4", "message not written"),
    ]
    assert "not valid JSON" in errors[0]["error"]
    assert "unknown schema_version 2" in errors[1]["error"]
    assert "'bucket'" in errors[2]["error"]


def test_all_failing_batch_reports_every_message(stack, db_writer, context):
    response = db_writer.lambda_handler(sqs_event("[]", "null", '{"schema_version": 1}'), context)

    assert failed_ids(response) == ["msg-0", "msg-1", "msg-2"]


def test_redelivered_message_is_a_success_not_a_second_write(stack, db_writer, context, capsys):
    body = message("dup.jpg")

    first = db_writer.lambda_handler(sqs_event(body), context)
    second = db_writer.lambda_handler(sqs_event(body), context)

    assert first == second == {"batchItemFailures": []}
    summary = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "batch written" in line]
    assert [(line["written"], line["duplicate"]) for line in summary] == [(1, 0), (0, 1)]


@pytest.mark.parametrize(
    ("first", "second", "final_status"),
    [
        (("DELETED", "0B"), ("PROCESSED", "0A"), "DELETED"),
        (("PROCESSED", "0B"), ("DELETED", "0A"), "PROCESSED"),
        (("PROCESSED", "0A"), ("DELETED", "0B"), "DELETED"),
        (("DELETED", "0A"), ("PROCESSED", "0B"), "PROCESSED"),
        # Sequencers of different lengths compare after right-padding with zeros.
        (("PROCESSED", "0062E99A88DC407470"), ("DELETED", "0062E99A88DC4074"), "PROCESSED"),
    ],
)
def test_out_of_order_events_never_overwrite_a_newer_record(stack, db_writer, context, first, second, final_status):
    db_writer.lambda_handler(sqs_event(message("k.jpg", first[0], first[1])), context)

    response = db_writer.lambda_handler(sqs_event(message("k.jpg", second[0], second[1])), context)

    assert response == {"batchItemFailures": []}
    assert stack.item("k.jpg")["status"] == final_status


@pytest.mark.parametrize("sequencer", ["0A", None], ids=["sequencer", "event-time"])
def test_the_same_event_rendered_later_replaces_its_record_and_never_a_newer_events(
    stack, db_writer, context, sequencer
):
    # GIVEN an upload's record, then the same event rendered again with new settings (scripts/reprocess.py)
    first = message("r.jpg", sequencer=sequencer, processed_at="2026-11-22T10:00:01.000Z", thumbnail_width=256)
    again = first | {"processed_at": "2026-12-01T09:00:00.000Z", "thumbnail_width": 128}
    db_writer.lambda_handler(sqs_event(first), context)

    # WHEN the new rendering and then, late, a redelivery of the first one arrive
    db_writer.lambda_handler(sqs_event(again, first), context)

    # THEN the later rendering is the record
    assert stack.item("r.jpg")["thumbnail_width"] == 128

    # AND a rendering of that event made later still never replaces a newer event's record
    newer = message("r.jpg", "DELETED", "0B" if sequencer else None, event_time="2026-11-23T10:00:00.000Z")
    db_writer.lambda_handler(sqs_event(newer, again | {"processed_at": "2026-12-02T09:00:00.000Z"}), context)
    assert stack.item("r.jpg")["status"] == "DELETED"


def test_event_time_orders_messages_without_a_sequencer(stack, db_writer, context):
    newer = message("t.jpg", "DELETED", None, event_time="2026-11-22T10:00:05.000Z")
    older = message("t.jpg", "PROCESSED", None, event_time="2026-11-22T10:00:01.000Z")

    db_writer.lambda_handler(sqs_event(newer, older), context)

    assert stack.item("t.jpg")["status"] == "DELETED"


def test_event_times_compare_as_times_whatever_their_spelling(stack, db_writer, context):
    # GIVEN an older event spelt in another zone: as a string, "11:00:00+01:00" sorts after "10:00:00.500Z"
    newer = message("z.jpg", "DELETED", None, event_time="2026-11-22T10:00:00.500Z")
    older = message("z.jpg", "PROCESSED", None, event_time="2026-11-22T11:00:00+01:00")

    db_writer.lambda_handler(sqs_event(newer, older), context)

    item = stack.item("z.jpg")
    assert (item["status"], item["event_time"]) == ("DELETED", "2026-11-22T10:00:00.500Z")


@pytest.mark.parametrize(
    ("event_time", "problem"), [("yesterday", "is not an ISO-8601 time"), ("2026-11-22T10:00:00", "has no time zone")]
)
def test_an_event_time_that_is_no_time_fails_its_message(stack, db_writer, context, capsys, event_time, problem):
    response = db_writer.lambda_handler(sqs_event(message("bad-time.jpg", event_time=event_time)), context)

    assert failed_ids(response) == ["msg-0"]
    assert problem in capsys.readouterr().out
    assert stack.item("bad-time.jpg") is None


def test_floats_are_stored_as_decimal(stack, db_writer, context):
    body = message("d.jpg", exif={"f_number": 2.8, "exposure_time": 0.004, "iso": 400})

    db_writer.lambda_handler(sqs_event(body), context)

    item = stack.item("d.jpg")
    assert item["processing_ms"] == Decimal("12.5")
    assert item["exif"] == {"f_number": Decimal("2.8"), "exposure_time": Decimal("0.004"), "iso": Decimal(400)}


def test_item_is_keyed_by_the_decoded_object_key_and_drops_nulls(stack, db_writer, context):
    db_writer.lambda_handler(sqs_event(message("dir/with space/ü.jpg")), context)

    item = stack.item("dir/with space/ü.jpg")
    assert item["image_key"] == "dir/with space/ü.jpg"
    assert "key" not in item and "reason" not in item
    assert item["sequencer_order"] == "0A".ljust(64, "0")


def test_a_throttled_write_fails_only_its_own_message_and_logs_its_key(stack, db_writer, context, capsys):
    # before-call short-circuits the request, as DynamoDB does when it throttles after botocore's retries
    def throttle_one_key(params, **_):
        if json.loads(params["body"])["Item"]["image_key"] == {"S": "slow.jpg"}:
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            return AWSResponse("https://dynamodb", 400, {}, None), error | {"ResponseMetadata": {"HTTPStatusCode": 400}}
        return None

    db_writer.dynamodb.meta.events.register("before-call.dynamodb.PutItem", throttle_one_key)

    response = db_writer.lambda_handler(sqs_event(message("fast.jpg"), message("slow.jpg")), context)

    assert failed_ids(response) == ["msg-1"]
    [error] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"ERROR"' in line]
    assert (error["message_id"], error["key"]) == ("msg-1", "slow.jpg")
    assert "ThrottlingException" in error["error"]
    assert stack.item("fast.jpg") is not None
    assert stack.item("slow.jpg") is None


def test_end_to_end_latency_is_emitted_for_each_message_written_from_its_event_time(stack, db_writer, context, capsys):
    # GIVEN two messages uploaded a known time ago, and one that cannot be written
    uploaded = datetime.now(UTC) - timedelta(seconds=90)
    event_time = uploaded.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event = sqs_event(message("a.jpg", event_time=event_time), message("b.jpg", event_time=event_time), "{not json")

    # WHEN db_writer writes the batch
    db_writer.lambda_handler(event, context)

    # THEN one EndToEndLatency figure per written message, in milliseconds since the upload
    [document] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "EndToEndLatency" in line]
    assert document["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "EndToEndLatency", "Unit": "Milliseconds"}]
    assert len(document["EndToEndLatency"]) == 2
    assert all(90_000 <= latency < 90_000 + 60_000 for latency in document["EndToEndLatency"])
