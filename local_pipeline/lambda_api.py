"""Lambda's API for the function the local stack plays, answered in front of moto's server.

moto's server knows no function of ours (running one would take Docker), so the runner answers
image_processor's Invoke itself, as docs/local.md describes ("Lambda's API answers Invoke for
image_processor only"). It also answers GetFunctionConfiguration and UpdateFunctionConfiguration
(its Environment), so that settings change as on AWS and scripts/reprocess.py reads them, and
GetFunctionEventInvokeConfig, where scripts/replay.py finds the on-failure destination. Every other
request, for any other function too, goes on to moto.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from werkzeug.wrappers import Request, Response

from local_pipeline.runtime import Invocation
from moto_extensions import WsgiApp

_FUNCTION_PATH = re.compile(
    r"/(?:2015-03-31|2019-09-25)/functions/(?P<function>[^/]+)/(?P<action>invocations|configuration|event-invoke-config)"
)
_ACTIONS = {("POST", "invocations"), ("GET", "configuration"), ("PUT", "configuration"), ("GET", "event-invoke-config")}


class ConfigurationRefusedError(Exception):
    """An environment the function could not start with; the message says why."""


@dataclass(frozen=True)
class ServedFunction:
    name: str
    invoke: Callable[[Any], Invocation]  # runs the handler now
    submit: Callable[[Any], str]  # queues an asynchronous invocation; returns its request id
    configuration: Callable[[], dict[str, Any]]  # GetFunctionConfiguration's answer
    configure: Callable[[dict[str, str]], None]  # replaces the environment; raises ConfigurationRefusedError
    event_invoke_config: Callable[[], dict[str, Any]]  # GetFunctionEventInvokeConfig's answer


class LambdaApi:
    """WSGI middleware: Invoke of a served function is answered here, everything else by `app`."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._functions: dict[str, ServedFunction] = {}

    def serve(self, function: ServedFunction) -> None:
        self._functions[function.name] = function

    def unserve(self, name: str) -> None:
        """From now on moto answers Invoke of `name` (as not found): its pipeline has stopped."""
        self._functions.pop(name, None)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = _FUNCTION_PATH.fullmatch(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD")
        function = (
            self._addressed(environ, match["function"]) if match and (method, match["action"]) in _ACTIONS else None
        )
        if function is None:
            return self._app(environ, start_response)
        request = Request(environ)
        if method == "GET" and match["action"] == "configuration":
            return _json(function.configuration())(environ, start_response)
        if method == "GET":
            return _json(function.event_invoke_config())(environ, start_response)
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError as error:
            response = _error(400, "InvalidRequestContentException", f"Could not parse request body into json: {error}")
        else:
            response = _invoke(function, request, body) if method == "POST" else _configure(function, body)
        return response(environ, start_response)

    def _addressed(self, environ: dict[str, Any], identifier: str) -> ServedFunction | None:
        name, qualifier = function_name(unquote(identifier))
        qualifier = qualifier or parse_qs(environ.get("QUERY_STRING", "")).get("Qualifier", [None])[0]
        # The runner plays $LATEST only; moto answers any other version or alias as not found.
        return self._functions.get(name) if qualifier in (None, "$LATEST") else None


def function_name(identifier: str) -> tuple[str, str | None]:
    """(name, qualifier) of a function as Invoke accepts it: a name, `account:function:name` or a full
    ARN, each with an optional `:qualifier`."""
    parts = identifier.split(":")
    if "function" in parts:
        parts = parts[parts.index("function") + 1 :]
    return parts[0], parts[1] if len(parts) > 1 else None


def _invoke(function: ServedFunction, request: Request, payload: Any) -> Response:
    kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if kind == "DryRun":
        return Response(status=204)
    if kind == "Event":
        return Response(status=202, headers={"x-amzn-RequestId": function.submit(payload)})
    if kind != "RequestResponse":
        return _error(400, "InvalidParameterValueException", f"Unsupported invocation type {kind!r}")
    invocation = function.invoke(payload)
    headers = {"x-amzn-RequestId": invocation.request_id, "X-Amz-Executed-Version": "$LATEST"}
    if invocation.failed:
        headers["X-Amz-Function-Error"] = "Unhandled"
    body = invocation.error if invocation.failed else invocation.response
    return Response(json.dumps(body), status=200, headers=headers, content_type="application/json")


def _configure(function: ServedFunction, body: Any) -> Response:
    if set(body) - {"Environment"}:
        return _error(
            400, "InvalidParameterValueException", f"the local stack changes only Environment, not {sorted(body)}"
        )
    if "Environment" in body:
        try:
            function.configure(dict(body["Environment"].get("Variables") or {}))
        except ConfigurationRefusedError as error:
            return _error(400, "InvalidParameterValueException", str(error))
    return _json(function.configuration())


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=200, content_type="application/json")


def _error(status: int, error_type: str, message: str) -> Response:
    # How Lambda's REST JSON protocol reports an error: botocore reads the type from this header.
    return Response(
        json.dumps({"Type": "User", "message": message}),
        status=status,
        headers={"x-amzn-ErrorType": error_type},
        content_type="application/json",
    )
