"""One clear answer to an AWS call the local stack does not emulate, instead of moto's traceback and HTTP 500.

moto raises NotImplementedError for an operation it lacks; its server then answers 500, which clients retry
(five times for the AWS CLI, each retry printing a traceback). Here the call is answered 501 `NotImplemented`
with the service and operation named, in the error shape of the request's protocol (JSON or XML), which no
client retries; `say` is told once per operation.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from moto_extensions import WsgiApp

ERROR_CODE = "NotImplemented"
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/(?P<service>[^/]+)/")
# Services whose signing name is not the one the AWS CLI uses.
_CLI_NAMES = {"monitoring": "cloudwatch"}
_MOTO_MESSAGE = re.compile(r"The (?P<action>\w+) action has not been implemented")


class NotEmulated:
    """WSGI middleware around moto's server app."""

    def __init__(self, app: WsgiApp, say: Callable[[str], None]) -> None:
        self._app = app
        self._say = say
        self._said: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return self._app(environ, start_response)
        except NotImplementedError as error:
            request = Request(environ)
            operation = f"{_service(environ)} {_operation(request, error)}"
            with self._lock:
                first = operation not in self._said
                self._said.add(operation)
            if first:
                self._say(f"not emulated: {operation} (the local stack answers it 501 {ERROR_CODE})")
            return _error_response(request, operation)(environ, start_response)


def _service(environ: dict[str, Any]) -> str:
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return _CLI_NAMES.get(match["service"], match["service"]) if match else "AWS"


def _operation(request: Request, error: NotImplementedError) -> str:
    target = request.headers.get("X-Amz-Target", "")
    if target:
        return target.rpartition(".")[2]
    if request.args.get("Action"):
        return request.args["Action"]
    # A query-protocol call names its action in a body moto has read by now; moto's message names it too.
    moto_action = _MOTO_MESSAGE.search(str(error))
    if moto_action:
        return "".join(word.capitalize() for word in moto_action["action"].split("_"))
    return f"{request.method} {request.path} ({error})"


def _error_response(request: Request, operation: str) -> Response:
    message = f"The local stack does not emulate {operation}."
    headers = {"x-amzn-ErrorType": ERROR_CODE, "x-amzn-query-error": f"{ERROR_CODE};Sender"}
    if "json" in request.headers.get("Content-Type", "") or request.headers.get("X-Amz-Target"):
        body = json.dumps({"__type": ERROR_CODE, "message": message})
        return Response(body, status=501, headers=headers, content_type="application/x-amz-json-1.0")
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{ERROR_CODE}</Code><Message>{escape(message)}</Message>"
        "</Error><RequestId>local</RequestId></ErrorResponse>"
    )
    return Response(body, status=501, headers=headers, content_type="text/xml")
