"""The JSON logger and EMF writer both functions share."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest

from pipeline_common.observability import ColdStart, Logger, emit_metrics


def lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_log_line_is_one_json_object_with_invocation_context(capsys):
    logger = Logger("svc")
    logger.bind_invocation(SimpleNamespace(function_name="fn", aws_request_id="req-1"))

    logger.warning("image rejected", key="a b.jpg", reason="not_an_image")

    [line] = lines(capsys)
    assert line | {"timestamp": ""} == {
        "level": "WARNING",
        "message": "image rejected",
        "timestamp": "",
        "service": "svc",
        "function_name": "fn",
        "request_id": "req-1",
        "key": "a b.jpg",
        "reason": "not_an_image",
    }


def test_lines_below_the_level_are_dropped(capsys):
    logger = Logger("svc", level="WARNING")

    logger.info("chatty")
    logger.error("broken")

    assert [line["message"] for line in lines(capsys)] == ["broken"]


def test_unknown_level_is_a_clear_error():
    with pytest.raises(ValueError, match="LOG_LEVEL must be one of"):
        Logger("svc", level="LOUD")


def test_concurrent_invocations_keep_their_own_request_id(capsys):
    logger = Logger("svc")
    start = threading.Barrier(4)

    def invocation(number: int) -> None:
        logger.bind_invocation(SimpleNamespace(function_name="fn", aws_request_id=f"req-{number}"))
        start.wait()
        logger.info("done", number=number)

    threads = [threading.Thread(target=invocation, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    logged = lines(capsys)
    assert sorted(line["number"] for line in logged) == [0, 1, 2, 3]
    assert all(line["request_id"] == f"req-{line['number']}" for line in logged)


def test_emf_document_declares_namespace_dimension_and_units(capsys):
    emit_metrics("fn", {"ImagesProcessed": (1, "Count"), "ProcessingTime": (12.5, "Milliseconds")}, {"key": "k"})

    [document] = lines(capsys)
    assert document["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "ImagePipeline",
            "Dimensions": [["FunctionName"]],
            "Metrics": [
                {"Name": "ImagesProcessed", "Unit": "Count"},
                {"Name": "ProcessingTime", "Unit": "Milliseconds"},
            ],
        }
    ]
    assert (document["FunctionName"], document["ImagesProcessed"], document["ProcessingTime"], document["key"]) == (
        "fn",
        1,
        12.5,
        "k",
    )


def test_cold_start_is_reported_once_per_container(capsys):
    cold_start = ColdStart()

    cold_start.report("fn")
    cold_start.report("fn")

    [document] = lines(capsys)
    assert (document["FunctionName"], document["ColdStart"]) == ("fn", 1)
    assert document["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "ColdStart", "Unit": "Count"}]


def test_emf_metric_with_a_list_records_each_value_and_an_empty_list_nothing(capsys):
    emit_metrics("fn", {"EndToEndLatency": ([1200.0, 80.5], "Milliseconds")})
    emit_metrics("fn", {"EndToEndLatency": ([], "Milliseconds")})

    [document] = lines(capsys)
    assert document["EndToEndLatency"] == [1200.0, 80.5]
