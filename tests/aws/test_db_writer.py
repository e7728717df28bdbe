"""db_writer against moto: per-message failures, idempotent and ordered writes, the message contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from botocore.awsrequest import AWSResponse

from tests.conftest import load_event

RENDERED_WITH = "256;thumbnails/;52428800;100000000;0"


def message(key: str = "photos/a.jpg", status: str = "PROCESSED", sequencer: str | None = "0A", **fields) -> dict:
    """A complete schema_version 2 message, as image_processor sends it."""
    base = {
        "schema_version": 2,
        "status": status,
        "reason": None,
        "reason_detail": None,
        "bucket": "uploads",
        "key": key,
        "version_id": None,
        "size": 24446,
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
        "sequencer": sequencer,
        "event_time": "2026-11-22T10:00:00.000Z",
        "event_name": "ObjectRemoved:Delete" if status == "DELETED" else "ObjectCreated:Put",
        "processing_ms": 12.5,
        "processed_at": "2026-11-22T10:00:00.400Z",
    }
    if status == "REJECTED":
        base |= {"reason": "not_an_image", "reason_detail": "no image format", "rendered_with": RENDERED_WITH}
    if status == "PROCESSED":
        base |= {
            "format": "JPEG",
            "mime_type": "image/jpeg",
            "width": 1200,
            "height": 800,
            "display_width": 1200,
            "display_height": 800,
            "mode": "RGB",
            "frame_count": 1,
            "exif": {},
            "thumbnail_bucket": "thumbnails",
            "thumbnails": [thumbnail(key, 256, 256, 171)],
            "rendered_with": RENDERED_WITH,
        }
    return base | fields


def thumbnail(key: str, size: int, width: int, height: int) -> dict:
    folder = "thumbnails/" if size == 256 else f"thumbnails/_sizes/{size}/"
    return {"size": size, "key": f"{folder}{key}.webp", "bytes": 1120, "width": width, "height": height}


def schema_1(message: dict) -> dict:
    """`message` as image_processor wrote it before schema_version 2: the first thumbnail in flat fields,
    and the `thumbnails` list only when there were several."""
    old = {name: value for name, value in message.items() if name != "thumbnails"} | {"schema_version": 1}
    if message["status"] != "PROCESSED":
        return old
    first = message["thumbnails"][0]
    flat = {f"thumbnail_{name}": first[name] for name in ("key", "bytes", "width", "height")}
    return old | flat | {"thumbnails": message["thumbnails"] if len(message["thumbnails"]) > 1 else None}


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
        message("v3.jpg") | {"schema_version": 3},
        message("good-2.jpg"),
        {"schema_version": 2, "status": "PROCESSED"},
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
    assert "field 'schema_version' is 3, not a version db_writer reads (1, 2)" in errors[1]["error"]
    assert "field 'bucket' is missing" in errors[2]["error"]


def test_all_failing_batch_reports_every_message(stack, db_writer, context):
    response = db_writer.lambda_handler(sqs_event("[]", "null", '{"schema_version": 2}'), context)

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
    first = message("r.jpg", sequencer=sequencer, processed_at="2026-11-22T10:00:01.000Z")
    again = first | {"processed_at": "2026-12-01T09:00:00.000Z", "thumbnails": [thumbnail("r.jpg", 128, 128, 85)]}
    db_writer.lambda_handler(sqs_event(first), context)

    # WHEN the new rendering and then, late, a redelivery of the first one arrive
    db_writer.lambda_handler(sqs_event(again, first), context)

    # THEN the later rendering is the record
    assert stack.item("r.jpg")["thumbnails"][0]["width"] == 128

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


def test_item_keeps_the_placeholder_dominant_color_and_phash(stack, db_writer, context):
    fingerprints = {
        "placeholder": "XrcJJZDIR2d3iHh/hoiHiAiIdXBY",
        "dominant_color": "#9d9d9d",
        "phash": "8e8e8e8e8e8e8e8e",
    }

    db_writer.lambda_handler(sqs_event(message("e.jpg", **fingerprints)), context)

    assert stack.item("e.jpg").items() >= fingerprints.items()


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


@pytest.mark.parametrize(
    ("status", "sizes"),
    [("PROCESSED", 1), ("PROCESSED", 2), ("REJECTED", 0), ("DELETED", 0)],
    ids=["one-size", "extra-sizes", "rejected", "deleted"],
)
def test_a_schema_1_message_still_queued_writes_the_record_its_schema_2_twin_writes(
    stack, db_writer, context, status, sizes
):
    # GIVEN one event as schema_version 2 sends it, and as version 1 did (queued before the deploy)
    renditions = [thumbnail("new.jpg", 256, 256, 171), thumbnail("new.jpg", 512, 512, 341)][:sizes]
    new = message("new.jpg", status, **({"thumbnails": renditions} if sizes else {}))
    old = schema_1(new) | {"key": "old.jpg"}

    response = db_writer.lambda_handler(sqs_event(new, old), context)

    # THEN both are written, to the same record: schema 2's shape, every thumbnail in the list
    assert response == {"batchItemFailures": []}

    def stored(key: str) -> dict:
        return {name: value for name, value in stack.item(key).items() if name not in ("image_key", "message_id")}

    assert stored("old.jpg") | {"written_at": ""} == stored("new.jpg") | {"written_at": ""}
    assert stored("old.jpg").get("thumbnails") == (renditions or None)
    assert stored("old.jpg")["schema_version"] == 2


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        # db_writer's own fields, and any other the contract does not name, are never taken from a message
        ({"sequencer_order": "F" * 64}, "field 'sequencer_order' is not part of the message contract"),
        ({"written_at": "2099-01-01T00:00:00.000Z"}, "field 'written_at' is not part of the message contract"),
        ({"message_id": "forged"}, "field 'message_id' is not part of the message contract"),
        ({"image_key": "other.jpg"}, "field 'image_key' is not part of the message contract"),
        ({"width": "1200"}, "field 'width' must be an integer, got string '1200'"),
        ({"width": True}, "field 'width' must be an integer, got boolean True"),
        ({"size": 1.5}, "field 'size' must be an integer or null, got number Decimal('1.5')"),
        ({"status": "DONE"}, "field 'status' must be one of PROCESSED, REJECTED, DELETED, got string 'DONE'"),
        ({"exif": {"iso": [200]}}, "field 'exif.iso' must be a string or an integer or a number, got list [200]"),
        (
            {"thumbnails": [{"size": 256, "key": "t.webp", "bytes": "9", "width": 1, "height": 1}]},
            "field 'thumbnails[0].bytes' must be an integer, got string '9'",
        ),
        ({"thumbnails": [{"size": 256, "key": "t.webp"}]}, "field 'thumbnails[0].bytes' is missing"),
        ({"thumbnails": []}, "field 'thumbnails' is empty: a PROCESSED message has at least one"),
        ({"format": None}, "field 'format' must be a string, got null None"),
        ({"sequencer": "0A'; drop"}, "field 'sequencer' \"0A'; drop\" is not an S3 sequencer (hex digits)"),
        ({"processed_at": "now"}, "field 'processed_at' 'now' is not an ISO-8601 time"),
    ],
)
def test_a_message_outside_the_contract_fails_naming_the_field_and_writes_nothing(
    stack, db_writer, context, capsys, fields, error
):
    response = db_writer.lambda_handler(sqs_event(message("forged.jpg", **fields)), context)

    assert failed_ids(response) == ["msg-0"]
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"ERROR"' in line]
    assert (line["key"], line["error"]) == ("forged.jpg", f"MalformedMessageError: {error}")
    assert stack.item("forged.jpg") is None


def test_a_rejected_message_without_its_reason_fails(stack, db_writer, context, capsys):
    response = db_writer.lambda_handler(sqs_event(message("why.jpg", "REJECTED", reason=None)), context)

    assert failed_ids(response) == ["msg-0"]
    assert "field 'reason' is missing: a REJECTED message says why" in capsys.readouterr().out


@pytest.mark.parametrize(
    "number",
    [
        "1e300",
        "-1e300",
        "1e-200",
        "1234567890123456789012345678901234567890",
        "0.1234567890123456789012345678901234567890",
        "NaN",
        "-Infinity",
    ],
)
def test_a_number_dynamodb_cannot_store_fails_its_message_naming_the_field(stack, db_writer, context, capsys, number):
    # GIVEN an EXIF number no DynamoDB attribute holds (boto3's serializer would raise on every delivery)
    body = json.dumps(message("big.jpg", exif={"iso": 200, "f_number": "NUMBER"})).replace('"NUMBER"', number)

    response = db_writer.lambda_handler(sqs_event(body), context)

    # THEN the message fails as malformed (it goes to the DLQ after its retries), the field named
    assert failed_ids(response) == ["msg-0"]
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"ERROR"' in line]
    assert line["error"].startswith("MalformedMessageError: field 'exif.f_number' is ")
    assert line["error"].endswith(
        "a number DynamoDB cannot store (finite, at most 38 significant digits, magnitude 1E-130 to 1E+126)"
    )
    assert stack.item("big.jpg") is None


def test_numbers_at_dynamodbs_limits_are_stored(stack, db_writer, context):
    limits = {"big": Decimal("9.9999999999999999999999999999999999999E+125"), "small": Decimal("1E-130"), "zero": 0}
    body = (
        json.dumps(message("edge.jpg", exif={"big": "B", "small": "S", "zero": 0}))
        .replace('"B"', "9.9999999999999999999999999999999999999E+125")
        .replace('"S"', "1E-130")
    )

    assert db_writer.lambda_handler(sqs_event(body), context) == {"batchItemFailures": []}

    assert stack.item("edge.jpg")["exif"] == limits


def test_text_that_is_no_utf_8_fails_its_message_naming_the_field(stack, db_writer, context, capsys):
    response = db_writer.lambda_handler(sqs_event(message("s.jpg", exif={"model": "\ud800"})), context)

    assert failed_ids(response) == ["msg-0"]
    assert "field 'exif.model' holds a lone surrogate, which is no UTF-8 text" in capsys.readouterr().out


def test_processed_at_is_stored_in_one_spelling(stack, db_writer, context):
    db_writer.lambda_handler(sqs_event(message("p.jpg", processed_at="2026-11-22T11:00:00.4+01:00")), context)

    assert stack.item("p.jpg")["processed_at"] == "2026-11-22T10:00:00.400Z"


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
