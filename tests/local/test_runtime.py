"""The Lambda runtime stand-in: context, results, errors, timeouts and logs in CloudWatch Logs."""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import Any

from local_pipeline.runtime import HandlerImportError, load_handler
from tests.local.conftest import log_messages


def test_invoke_returns_the_response_as_json_sees_it(make_function):
    function = make_function(lambda event, context: {"echo": event, "when": (1, 2)})

    result = function.invoke({"a": 1})

    assert not result.failed
    assert result.response == {"echo": {"a": 1}, "when": [1, 2]}


def test_context_has_the_python_runtime_attributes(make_function):
    seen: dict[str, Any] = {}

    def handler(event, context):
        seen["first"] = context.get_remaining_time_in_millis()
        time.sleep(0.2)
        seen["second"] = context.get_remaining_time_in_millis()
        seen["context"] = context

    function = make_function(handler, name="ctx", timeout_s=3, memory_mb=512)
    result = function.invoke({})

    context = seen["context"]
    assert context.aws_request_id == result.request_id
    assert context.function_name == "ctx"
    assert context.function_version == "$LATEST"
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:ctx"
    # The runtime reads it from an environment variable: a string, as in Lambda.
    assert context.memory_limit_in_mb == "512"
    assert context.log_group_name == "/aws/lambda/ctx"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", context.log_stream_name)
    assert 2500 < seen["first"] <= 3000
    assert seen["first"] - seen["second"] >= 200


def test_output_goes_to_the_log_group_between_start_end_and_report(aws, make_function):
    def handler(event, context):
        print('{"level":"INFO","message":"hello"}')
        sys.stdout.write("no newline at the end")
        return None

    function = make_function(handler, memory_mb=256)
    result = function.invoke({})

    messages = log_messages(aws, function)
    request_id = result.request_id
    assert messages[:4] == [
        f"START RequestId: {request_id} Version: $LATEST",
        '{"level":"INFO","message":"hello"}',
        "no newline at the end",
        f"END RequestId: {request_id}",
    ]
    assert re.fullmatch(
        rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 256 MB\tMax Memory Used: \d+ MB "
        r"\(local stack: the whole runner process's peak, both functions together\)",
        messages[4],
    )
    assert len(messages) == 5


def test_an_exception_is_an_error_document_and_a_logged_traceback(aws, make_function):
    def handler(event, context):
        raise ValueError("bad event")

    function = make_function(handler)
    result = function.invoke({})

    assert result.failed
    assert result.response is None
    assert result.error["errorType"] == "ValueError"
    assert result.error["errorMessage"] == "bad event"
    assert result.error["requestId"] == result.request_id
    # Lambda's stack trace starts in the handler, not in the runtime that called it.
    assert "in handler" in result.error["stackTrace"][0]
    assert len(result.error["stackTrace"]) == 1
    logged = [m for m in log_messages(aws, function) if m.startswith("[ERROR]")]
    assert len(logged) == 1
    assert logged[0].startswith("[ERROR] ValueError: bad event\nTraceback (most recent call last):\n")


def test_an_unserialisable_result_is_a_marshal_error(make_function):
    result = make_function(lambda event, context: {"when": object()}).invoke({})

    assert result.error["errorType"] == "Runtime.MarshalError"
    assert "not JSON serializable" in result.error["errorMessage"]


def test_an_invocation_over_its_timeout_counts_as_timed_out(aws, make_function):
    function = make_function(lambda event, context: time.sleep(1.1) or {"late": True}, timeout_s=1)

    result = function.invoke({})

    assert result.response is None
    assert result.error["errorType"] == "Sandbox.Timedout"
    assert result.error["errorMessage"] == f"RequestId: {result.request_id} Error: Task timed out after 1.00 seconds"
    logged = log_messages(aws, function)
    assert any(m.endswith(f"{result.request_id} Task timed out after 1.00 seconds") for m in logged)


def test_concurrent_invocations_keep_their_own_output(aws, make_function):
    def handler(event, context):
        for i in range(20):
            print(f"{event['name']} line {i}")
            time.sleep(0.001)

    function = make_function(handler)
    results = {}

    def invoke(name: str) -> None:
        results[name] = function.invoke({"name": name})

    threads = [threading.Thread(target=invoke, args=(name,)) for name in ("alpha", "beta", "gamma")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    events = aws("logs").filter_log_events(logGroupName=function.settings.log_group)["events"]
    streams = {event["logStreamName"] for event in events}
    # One execution environment (log stream) per thread, as Lambda runs concurrent invocations.
    assert len(streams) == 3
    for stream in streams:
        lines = [e["message"] for e in events if e["logStreamName"] == stream]
        names = {line.split()[0] for line in lines if " line " in line}
        assert len(names) == 1
        assert len([line for line in lines if " line " in line]) == 20


def test_output_beyond_one_put_log_events_call_arrives_whole(aws, make_function):
    line = "x" * 1000
    function = make_function(lambda event, context: print("\n".join([line] * 1500)))

    function.invoke({})

    logs = aws("logs")
    events, token = [], None
    while True:
        page = logs.filter_log_events(
            logGroupName=function.settings.log_group, **({"nextToken": token} if token else {})
        )
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    assert sum(1 for e in events if e["message"] == line) == 1500


def test_load_handler_names_the_handler_that_failed_to_import():
    try:
        load_handler("local_pipeline.no_such_module.lambda_handler")
    except HandlerImportError as error:
        assert "local_pipeline.no_such_module.lambda_handler" in str(error)
        assert "ModuleNotFoundError" in str(error)
    else:
        raise AssertionError("expected HandlerImportError")
