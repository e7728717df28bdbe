"""Fault injection for the local stack: what AWS does to a pipeline on a bad day, at chosen rates.

docs/reliability.md#faults says what each fault does and where. Every rate is a probability from 0
to 1 and is 0 unless set; `--faults R` (FaultConfig.uniform) sets each of them to R. An injected
error is an HTTP response that botocore parses, so the handlers' retry configuration and error
handling run unmodified. Poisoned keys stand for uploads that can never succeed, so that both
dead-letter paths carry traffic.
"""

from __future__ import annotations

import io
import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session
from urllib3 import HTTPResponse

from local_pipeline.runtime import EnvironmentCrash, Handler

# Longest hold of a delayed S3 event: longer than it takes the next event for the same key to be
# delivered and processed, so delays reorder events rather than only slowing them down.
MAX_DELAY_S = 3.0
# The AWS calls (service id, operation) that transient faults are injected into, as the issue lists them.
FAULTY_CALLS = frozenset({("s3", "GetObject"), ("s3", "PutObject"), ("sqs", "SendMessage"), ("dynamodb", "PutItem")})
WRITE_CALLS = frozenset({("s3", "PutObject"), ("sqs", "SendMessage"), ("dynamodb", "PutItem")})
# The calls a poisoned key fails: image_processor's read of the upload, db_writer's write of the item.
POISONED_CALLS = frozenset({("s3", "GetObject"), ("dynamodb", "PutItem")})
# Where a crash happens: before the handler starts, right after its n-th AWS call returns, or after
# it returns (also when it makes fewer calls than the point chosen).
BEFORE_START = 0
AFTER_RETURN = -1
CRASH_POINTS = (BEFORE_START, 1, 2, 3, AFTER_RETURN)

# What each service answers, in its own protocol: status, error code, message.
_ERRORS = {
    ("s3", "throttle"): (503, "SlowDown", "Please reduce your request rate."),
    ("s3", "server_error"): (500, "InternalError", "We encountered an internal error. Please try again."),
    ("s3", "poison"): (403, "AccessDenied", "Access Denied"),
    ("sqs", "throttle"): (400, "ThrottlingException", "Rate exceeded"),
    ("sqs", "server_error"): (500, "InternalFailure", "The request processing has failed because of an unknown error."),
    ("dynamodb", "throttle"): (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    ("dynamodb", "server_error"): (500, "InternalServerError", "Internal server error"),
    ("dynamodb", "poison"): (400, "ValidationException", "Item size has exceeded the maximum allowed size"),
}
_JSON_ERROR_PREFIX = {"sqs": "com.amazonaws.sqs#", "dynamodb": "com.amazonaws.dynamodb.v20120810#"}


@dataclass(frozen=True)
class FaultConfig:
    throttle: float = 0.0
    server_error: float = 0.0
    lost_reply: float = 0.0
    crash: float = 0.0
    duplicate_s3_event: float = 0.0
    delay_s3_event: float = 0.0
    duplicate_sqs_message: float = 0.0
    poison_image_processor: frozenset[str] = frozenset()
    poison_db_writer: frozenset[str] = frozenset()
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in RATES:
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"fault rate {name} must be from 0 to 1, got {value}")

    @classmethod
    def uniform(cls, rate: float, seed: int | None = None) -> FaultConfig:
        """Every kind of fault at the same rate: what `--faults RATE` sets."""
        return cls(**dict.fromkeys(RATES, rate), seed=seed)

    def describe(self) -> str:
        rates = [f"{name}={getattr(self, name):g}" for name in RATES if getattr(self, name)]
        poisoned = len(self.poison_image_processor) + len(self.poison_db_writer)
        return ", ".join(rates + ([f"{poisoned} poisoned keys"] if poisoned else [])) or "none"


# Every fault rate: FaultConfig's float fields.
RATES = tuple(field.name for field in fields(FaultConfig) if isinstance(field.default, float))


class Faults:
    """Injects the faults a FaultConfig asks for and counts each one injected (`injected`)."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.injected: Counter[str] = Counter()
        self._random = random.Random(config.seed)  # thread-safe: its generator's core is one C call
        self._lock = threading.Lock()
        self._invocation = threading.local()  # the crash point of the invocation this thread runs
        self._call = threading.local()  # whether the GetObject or PutItem this thread is making has a poisoned key
        self._http = URLLib3Session()
        self._timers: set[threading.Timer] = set()
        self._installed: list[tuple[Any, str, Callable[..., Any]]] = []

    # --- AWS calls ---------------------------------------------------------------------------------

    def install(self, clients: Iterable[Any]) -> None:
        """Registers the fault hooks on the handlers' own boto3 clients (never on the runner's)."""
        for client in clients:
            events = client.meta.events
            hooks = [
                ("before-parameter-build.s3.GetObject", self._note_poisoned_object),
                ("before-parameter-build.dynamodb.PutItem", self._note_poisoned_item),
                ("after-call", self._after_call),
            ]
            for event_name, hook in hooks:
                events.register(event_name, hook)
            # First, so that nothing else registered can send the request before the fault decides.
            events.register_first("before-send", self._before_send)
            self._installed += [(events, name, hook) for name, hook in [*hooks, ("before-send", self._before_send)]]

    def _note_poisoned_object(self, params: dict[str, Any], **_: Any) -> None:
        self._call.poisoned = params.get("Key") in self.config.poison_image_processor

    def _note_poisoned_item(self, params: dict[str, Any], **_: Any) -> None:
        self._call.poisoned = params.get("Item", {}).get("image_key", {}).get("S") in self.config.poison_db_writer

    def _before_send(self, event_name: str, request: Any, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".")
        if (service, operation) not in FAULTY_CALLS:
            return None
        if (service, operation) in POISONED_CALLS and self._call.poisoned:
            self._count("poison")
            return self._error(service, "poison", request)
        if self._chance("throttle"):
            return self._error(service, "throttle", request)
        if self._chance("server_error"):
            return self._error(service, "server_error", request)
        if (service, operation) in WRITE_CALLS and self._chance("lost_reply"):
            self._http.send(request)
            raise ConnectionClosedError(endpoint_url=request.url)
        return None

    def _error(self, service: str, kind: str, request: Any) -> AWSResponse:
        status, code, message = _ERRORS[(service, kind)]
        request_id = uuid.uuid4().hex.upper()
        headers = {"x-amzn-RequestId": request_id}
        if service == "s3":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
            )
            headers["Content-Type"] = "application/xml"
        else:
            body = json.dumps({"__type": _JSON_ERROR_PREFIX[service] + code, "message": message})
            headers["Content-Type"] = "application/x-amz-json-1.0"
            if service == "sqs":
                # SQS speaks JSON but keeps its query-protocol error codes in this header.
                headers["x-amzn-query-error"] = f"{code};{'Sender' if status < 500 else 'Receiver'}"
        return AWSResponse(request.url, status, headers, HTTPResponse(io.BytesIO(body.encode()), preload_content=False))

    def _after_call(self, **_: Any) -> None:
        crash_after = getattr(self._invocation, "crash_after", None)
        if crash_after is None or crash_after == AFTER_RETURN:
            return
        self._invocation.calls += 1
        if self._invocation.calls == crash_after:
            self._crash()

    # --- handler crashes ---------------------------------------------------------------------------

    def crashing(self, handler: Handler) -> Handler:
        """Wraps a handler so that a `crash` share of its invocations die part-way."""

        def invoke(event: Any, context: Any) -> Any:
            point = self._random.choice(CRASH_POINTS) if self._chance("crash", count=False) else None
            if point == BEFORE_START:
                self._crash()
            self._invocation.crash_after, self._invocation.calls = point, 0
            try:
                result = handler(event, context)
            finally:
                crash_after, self._invocation.crash_after = self._invocation.crash_after, None
            if crash_after is not None:  # the crash point was not reached while the handler ran
                self._crash()
            return result

        return invoke

    def _crash(self) -> None:
        self._invocation.crash_after = None
        self._count("crash")
        raise EnvironmentCrash("injected crash")

    # --- deliveries --------------------------------------------------------------------------------

    def delivering(self, deliver: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        """Wraps the S3 notification delivery with duplicates and delays."""

        def deliver_with_faults(event: dict[str, Any]) -> None:
            copies = 2 if self._chance("duplicate_s3_event") else 1
            for _ in range(copies):
                if self._chance("delay_s3_event"):
                    self._later(self._random.uniform(0, MAX_DELAY_S), deliver, event)
                else:
                    deliver(event)

        return deliver_with_faults

    def redeliver(self, message: dict[str, Any]) -> bool:
        """Whether a metadata message db_writer has written is left in the queue to be delivered again."""
        return self._chance("duplicate_sqs_message")

    @property
    def delayed(self) -> int:
        """S3 events held back and not delivered yet."""
        with self._lock:
            return len(self._timers)

    def close(self) -> None:
        """Drops the events still held back (the runner is stopping) and takes the hooks off the clients."""
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        for events, event_name, hook in self._installed:
            events.unregister(event_name, hook)
        self._installed = []

    def _later(self, delay: float, deliver: Callable[[dict[str, Any]], None], event: dict[str, Any]) -> None:
        def fire() -> None:
            try:
                deliver(event)
            finally:
                with self._lock:
                    self._timers.discard(timer)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    # --- randomness --------------------------------------------------------------------------------

    def _chance(self, rate: str, count: bool = True) -> bool:
        probability = getattr(self.config, rate)
        if not probability:
            return False
        hit = self._random.random() < probability
        if hit and count:
            self._count(rate)
        return hit

    def _count(self, fault: str) -> None:
        with self._lock:
            self.injected[fault] += 1
