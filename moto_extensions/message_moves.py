"""SQS message move tasks (the DLQ redrive of docs/operations.md), answered in front of moto, which lacks them.

StartMessageMoveTask, ListMessageMoveTasks and CancelMessageMoveTask as AWS documents them, in SQS's JSON
protocol (what botocore and both AWS CLIs send today): a task moves the messages that were in a dead-letter
queue when it started, one at a time, to the named destination or else back to the queue whose redrive policy
names the DLQ, at most MaxNumberOfMessagesPerSecond a second; its status goes RUNNING, then COMPLETED (or
CANCELLING and CANCELLED, or FAILED with a reason). One task at a time per source queue; a list shows the
newest first. Without a destination each message goes back to the queue it was dead-lettered from, which
DeadLetterOrigins records as moto moves it (moto itself keeps no trace); a message sent to the DLQ directly
goes to the DLQ's only source queue, and fails the task where there are several, as there is no telling.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from moto.sqs.exceptions import QueueDoesNotExist
from moto.sqs.models import SQSBackend, sqs_backends
from werkzeug.wrappers import Request, Response

from moto_extensions import WsgiApp

TARGET_PREFIX = "AmazonSQS."
OPERATIONS = ("StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask")
# AWS's limit on MaxNumberOfMessagesPerSecond, and the rate without one ("system optimized" on AWS).
MAX_RATE = 500
LIST_MAX_RESULTS = 10
MOTO_RESET_PATH = "/moto-api/reset"
# How long a received message stays hidden while it is copied: a crash mid-move leaves it in the DLQ.
MOVE_VISIBILITY_TIMEOUT_S = 30


class MoveTaskError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class QueueRef:
    account_id: str
    region: str
    name: str

    @classmethod
    def from_arn(cls, arn: str, parameter: str) -> QueueRef:
        parts = arn.split(":")
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"]:
            raise MoveTaskError("InvalidParameterValue", f"{parameter} is not an SQS queue ARN: {arn}")
        return cls(parts[4], parts[3], parts[5])

    @property
    def backend(self) -> Any:
        return sqs_backends[self.account_id][self.region]

    def queue(self, parameter: str) -> Any:
        try:
            return self.backend.get_queue(self.name)
        except QueueDoesNotExist:
            raise MoveTaskError(
                "ResourceNotFoundException", f"The resource that you specified for the {parameter} doesn't exist."
            ) from None


@dataclass
class MoveTask:
    source_arn: str
    destination_arn: str | None  # as given; None: the source queue
    rate: int | None  # as given
    to_move: int
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)
    moved: int = 0
    status: str = "RUNNING"
    failure_reason: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    # Held while one message moves, so that a cancel answers with a count that stays true.
    moving: threading.Lock = field(default_factory=threading.Lock)

    @property
    def handle(self) -> str:
        # AWS's handle is opaque; it carries the task id and source, as this one does.
        return base64.b64encode(json.dumps({"taskId": self.task_id, "sourceArn": self.source_arn}).encode()).decode()

    def entry(self) -> dict[str, Any]:
        """The task as ListMessageMoveTasks shows it."""
        entry: dict[str, Any] = {"Status": self.status, "SourceArn": self.source_arn}
        if self.status == "RUNNING":
            entry["TaskHandle"] = self.handle
        if self.destination_arn:
            entry["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        entry |= {
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.failure_reason:
            entry["FailureReason"] = self.failure_reason
        return entry


class DeadLetterOrigins:
    """The source queue of each message moto moved to a dead-letter queue, by message id.

    moto moves a message to its queue's DLQ inside ReceiveMessage, as SQS does, without noting where it came
    from; while installed, this wraps moto's ReceiveMessage and notes the messages that arrived in the DLQ
    during the call with the receive count that sent them there.
    """

    def __init__(self) -> None:
        self._origins: dict[str, str] = {}
        self._lock = threading.Lock()
        self._users = 0  # endpoints of this process using it: the wrapper stays while any does
        self._original: Callable[..., Any] | None = None

    def acquire(self) -> DeadLetterOrigins:
        with self._lock:
            self._users += 1
            if self._users == 1:
                self._install()
        return self

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._original is not None:
                SQSBackend.receive_message = self._original  # type: ignore[method-assign]
                self._original = None

    def _install(self) -> None:
        original = self._original = SQSBackend.receive_message
        origins = self

        def receive_message(backend: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            queue = backend.queues.get(queue_name)
            dlq = queue.dead_letter_queue if queue is not None else None
            before = {message.id for message in list(dlq._messages)} if dlq is not None else set()
            received = original(backend, queue_name, *args, **kwargs)
            if dlq is not None:
                limit = queue.redrive_policy["maxReceiveCount"]
                arrived = [
                    m.id for m in list(dlq._messages) if m.id not in before and m.approximate_receive_count >= limit
                ]
                origins.note(arrived, queue.queue_arn)
            return received

        SQSBackend.receive_message = receive_message  # type: ignore[method-assign]

    def note(self, message_ids: Iterable[str], source_arn: str) -> None:
        with self._lock:
            self._origins.update(dict.fromkeys(message_ids, source_arn))

    def pop(self, message_id: str) -> str | None:
        with self._lock:
            return self._origins.pop(message_id, None)


DEAD_LETTER_ORIGINS = DeadLetterOrigins()


class MessageMoveTasks:
    """WSGI middleware: the three operations are answered here, every other request by `app`.
    close() stops noting where dead-lettered messages come from."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._tasks: list[MoveTask] = []
        self._lock = threading.Lock()
        self._origins = DEAD_LETTER_ORIGINS.acquire()

    def close(self) -> None:
        self._forget_tasks()
        self._origins.release()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        operation = environ.get("HTTP_X_AMZ_TARGET", "").removeprefix(TARGET_PREFIX)
        if environ.get("PATH_INFO") == MOTO_RESET_PATH:
            self._forget_tasks()  # their queues go with moto's reset
        if operation not in OPERATIONS:
            return self._app(environ, start_response)
        try:
            parameters = json.loads(Request(environ).get_data() or b"{}")
            handler = {
                "StartMessageMoveTask": self.start,
                "ListMessageMoveTasks": self.list,
                "CancelMessageMoveTask": self.cancel,
            }[operation]
            response = _json(200, handler(parameters))
        except MoveTaskError as error:
            response = _json(400, {"__type": f"com.amazonaws.sqs#{error.code}", "message": str(error)})
            response.headers["x-amzn-query-error"] = f"{error.code};Sender"
        except ValueError as error:
            response = _json(400, {"__type": "com.amazonaws.sqs#InvalidParameterValue", "message": str(error)})
        return response(environ, start_response)

    def _forget_tasks(self) -> None:
        with self._lock:
            for task in self._tasks:
                task.cancel.set()
            self._tasks.clear()

    def start(self, parameters: dict[str, Any]) -> dict[str, Any]:
        source_arn = str(parameters.get("SourceArn", ""))
        source = QueueRef.from_arn(source_arn, "SourceArn")
        source_queue = source.queue("SourceArn")
        destination_arn = parameters.get("DestinationArn")
        if destination_arn:
            destination = QueueRef.from_arn(destination_arn, "DestinationArn")
            destination.queue("DestinationArn")
            if destination == source:
                raise MoveTaskError("InvalidParameterValue", "The source and destination queues must differ.")
        else:
            destination = None
            if not _redrive_sources(source, source_arn):
                raise MoveTaskError("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.")
        rate = parameters.get("MaxNumberOfMessagesPerSecond")
        if rate is not None and not 1 <= int(rate) <= MAX_RATE:
            raise MoveTaskError(
                "InvalidParameterValue", f"MaxNumberOfMessagesPerSecond must be from 1 to {MAX_RATE}, got {rate}."
            )
        with self._lock:
            if any(t.source_arn == source_arn and t.status in ("RUNNING", "CANCELLING") for t in self._tasks):
                raise MoveTaskError(
                    "UnsupportedOperation",
                    "There is already a task running. Only one active task is allowed for a source queue arn "
                    "at a given time.",
                )
            task = MoveTask(source_arn, destination_arn, rate, source_queue.approximate_number_of_messages)
            self._tasks.append(task)
        threading.Thread(
            target=_run,
            args=(task, source, destination, self._origins),
            name=f"message-move-{task.task_id[:8]}",
            daemon=True,
        ).start()
        return {"TaskHandle": task.handle}

    def list(self, parameters: dict[str, Any]) -> dict[str, Any]:
        source_arn = str(parameters.get("SourceArn", ""))
        QueueRef.from_arn(source_arn, "SourceArn").queue("SourceArn")
        limit = int(parameters.get("MaxResults") or 1)
        if not 1 <= limit <= LIST_MAX_RESULTS:
            raise MoveTaskError("InvalidParameterValue", f"MaxResults must be from 1 to {LIST_MAX_RESULTS}.")
        with self._lock:
            tasks = [task for task in reversed(self._tasks) if task.source_arn == source_arn][:limit]
            return {"Results": [task.entry() for task in tasks]}

    def cancel(self, parameters: dict[str, Any]) -> dict[str, Any]:
        handle = str(parameters.get("TaskHandle", ""))
        with self._lock:
            task = next((t for t in self._tasks if t.handle == handle), None)
            if task is None:
                raise MoveTaskError("ResourceNotFoundException", "Task does not exist.")
            if task.status != "RUNNING":
                raise MoveTaskError(
                    "UnsupportedOperation", f"Only a RUNNING task can be cancelled; it is {task.status}."
                )
            with task.moving:
                task.status = "CANCELLING"
                task.cancel.set()
                return {"ApproximateNumberOfMessagesMoved": task.moved}


def _redrive_sources(dlq: QueueRef, dlq_arn: str) -> list[QueueRef]:
    """The queues whose redrive policy names this DLQ."""
    return [
        QueueRef(dlq.account_id, dlq.region, name)
        for name, queue in list(dlq.backend.queues.items())
        if queue.redrive_policy and queue.redrive_policy.get("deadLetterTargetArn") == dlq_arn
    ]


def _run(task: MoveTask, source: QueueRef, destination: QueueRef | None, origins: DeadLetterOrigins) -> None:
    interval_s = 1 / (task.rate or MAX_RATE)
    try:
        while task.moved < task.to_move:
            with task.moving:
                if task.cancel.is_set() or not _move_one(task, source, destination, origins):
                    break
                task.moved += 1
            task.cancel.wait(interval_s)
    except Exception as error:  # noqa: BLE001 - a task that cannot go on fails, as on AWS, with its reason
        task.failure_reason = str(error) or type(error).__name__
        task.status = "FAILED"
        return
    task.status = "CANCELLED" if task.cancel.is_set() else "COMPLETED"


def _move_one(task: MoveTask, source: QueueRef, destination: QueueRef | None, origins: DeadLetterOrigins) -> bool:
    """Moves one visible message; False when the source has none left."""
    received = source.backend.receive_message(
        source.name, 1, 0, MOVE_VISIBILITY_TIMEOUT_S, message_attribute_names=["All"]
    )
    if not received:
        return False
    message = received[0]
    target = destination or _origin(message.id, source, task.source_arn, origins)
    target.backend.send_message(
        target.name,
        message.body,
        message_attributes=message.message_attributes,
        deduplication_id=message.deduplication_id,
        group_id=message.group_id,
    )
    source.backend.delete_message(source.name, message.receipt_handle)
    return True


def _origin(message_id: str, dlq: QueueRef, dlq_arn: str, origins: DeadLetterOrigins) -> QueueRef:
    noted = origins.pop(message_id)
    if noted:
        return QueueRef.from_arn(noted, "the message's source queue")
    sources = _redrive_sources(dlq, dlq_arn)
    if len(sources) != 1:
        raise MoveTaskError(
            "InvalidParameterValue",
            f"message {message_id} was not dead-lettered by one of the {len(sources)} source queues, so it has "
            "no queue to go back to: give a DestinationArn",
        )
    return sources[0]


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/x-amz-json-1.0")
