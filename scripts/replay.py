"""Replays the S3 events image_processor gave up on, from its on-failure destination (the processor-failures queue).

Each message there is Lambda's on-failure record: `requestContext` (why: RetriesExhausted or
EventAgeExceeded), `requestPayload` (the original S3 event) and the last error. For each record this
invokes image_processor again, asynchronously (InvocationType=Event), with the request payload, and
deletes the record only once Lambda has accepted the invocation (status 202). From then on Lambda
owns the event: it retries it, and if it fails again it sends a new record to the same queue, which
this run leaves for the next one, so a replay never loops on its own failures.

    .venv/bin/python -m scripts.replay --dry-run       # list what would be replayed
    .venv/bin/python -m scripts.replay --rate 5        # replay, 5 invocations a second

The queue URL and function name come from the running local stack, else `terraform output -json`,
unless given with --processor-failures-queue-url and --image-processor-function-name
(scripts/stack_outputs.py). AWS credentials are boto3's usual ones (the region defaults to the queue URL's).

Before receiving anything it checks that the queue is the function's on-failure destination, so it
never takes messages from another queue (the metadata queue, a DLQ) by mistake. --dry-run reads the
queue with receives, as SQS offers no other way, and makes what it read visible again when it ends; it
refuses a queue with a redrive policy, where every receive counts towards moving a message to a DLQ.

Exit status: 0 every record replayed (or listed, with --dry-run); 1 a record was left in the queue
(its invocation was refused, or it is not an on-failure record); 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from scripts.stack_outputs import ConfigurationError, Pacer, add_stack_options, locate, positive

ACCEPTED = 202
# Long enough to read the whole queue in one run; what this run does not delete is released at its end.
VISIBILITY_TIMEOUT_S = 300
RECEIVE_WAIT_S = 1
DEFAULT_RATE = 5.0
STACK_OPTIONS = ("--processor-failures-queue-url", "--image-processor-function-name")

Invoke = Callable[[dict[str, Any]], int]


class InvocationRefusedError(Exception):
    """Lambda did not accept an asynchronous invocation."""


@dataclass
class Summary:
    replayed: int = 0
    listed: int = 0
    left: list[str] = field(default_factory=list)  # why each record left behind was left


@dataclass(frozen=True)
class Settings:
    queue_url: str
    function_name: str
    rate: float
    limit: int | None
    dry_run: bool


def replay(sqs: Any, settings: Settings, invoke: Invoke, out: TextIO | None = None) -> Summary:
    """Replays (or lists) the queue's records; stops at the first invocation Lambda refuses."""
    if settings.dry_run:
        _refuse_counted_receives(sqs, settings.queue_url)
    run = _Run(sqs, settings, invoke, out or sys.stdout)
    try:
        while not run.reached_limit() and (batch := run.receive_unseen()):
            for position, message in enumerate(batch):
                if not run.handle(message):
                    run.keep(*batch[position:])
                    return run.summary
    finally:
        run.release_kept()
    return run.summary


class _Run:
    """One pass over the queue. Messages it does not delete stay hidden until the end, then are released,
    so each is seen once per run however many receives it takes."""

    def __init__(self, sqs: Any, settings: Settings, invoke: Invoke, out: TextIO) -> None:
        self.sqs, self.settings, self.invoke, self.out = sqs, settings, invoke, out
        self.summary = Summary()
        self.pace = Pacer(settings.rate)
        self.seen: set[str] = set()
        self.replayed_payloads: set[str] = set()
        self.kept: list[str] = []

    def reached_limit(self) -> bool:
        done = self.summary.replayed + self.summary.listed
        return self.settings.limit is not None and done >= self.settings.limit

    def receive_unseen(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.settings.queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=VISIBILITY_TIMEOUT_S,
            WaitTimeSeconds=RECEIVE_WAIT_S,
        )
        unseen = [m for m in response.get("Messages", []) if m["MessageId"] not in self.seen]
        self.seen |= {m["MessageId"] for m in unseen}
        return unseen

    def handle(self, message: dict[str, Any]) -> bool:
        """Replays, lists or keeps one message; False when Lambda refused its invocation."""
        payload, problem = _request_payload(message["Body"])
        fingerprint = json.dumps(payload, sort_keys=True)
        # Past the limit, or a record that came back from this run's own replay: left for the next run.
        if self.reached_limit() or fingerprint in self.replayed_payloads:
            self.keep(message)
            return True
        if problem:
            self.summary.left.append(f"message {message['MessageId']}: {problem}")
            self.say(f"left      message {message['MessageId']}: {problem}")
            self.keep(message)
            return True
        label = _describe(json.loads(message["Body"]))
        if self.settings.dry_run:
            self.summary.listed += 1
            self.say(f"would replay  {label}")
            self.keep(message)
            return True
        self.pace.wait()
        try:
            _invoke_accepted(self.invoke, payload)
        except InvocationRefusedError as error:
            self.summary.left.append(f"{label}: {error}")
            self.say(f"REFUSED   {label}: {error}; stopping, the record stays in the queue")
            return False
        self.sqs.delete_message(QueueUrl=self.settings.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.replayed_payloads.add(fingerprint)
        self.summary.replayed += 1
        self.say(f"replayed  {label}")
        return True

    def keep(self, *messages: dict[str, Any]) -> None:
        self.kept += [message["ReceiptHandle"] for message in messages]

    def release_kept(self) -> None:
        """Makes what this run received but did not delete visible again at once."""
        for start in range(0, len(self.kept), 10):
            entries = [
                {"Id": str(number), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for number, handle in enumerate(self.kept[start : start + 10])
            ]
            self.sqs.change_message_visibility_batch(QueueUrl=self.settings.queue_url, Entries=entries)

    def say(self, line: str) -> None:
        print(line, file=self.out)


def check_on_failure_destination(sqs: Any, lambda_client: Any, queue_url: str, function_name: str) -> None:
    """Raises ConfigurationError unless the queue is where Lambda sends the function's failed events."""
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    try:
        config = lambda_client.get_function_event_invoke_config(FunctionName=function_name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        config = {}
    destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    if destination != queue_arn:
        raise ConfigurationError(
            f"{queue_arn} is not {function_name}'s on-failure destination ({destination or 'it has none'}): "
            "nothing was received from it. Pass the processor-failures queue (terraform output "
            "processor_failures_queue_url)."
        )


def _refuse_counted_receives(sqs: Any, queue_url: str) -> None:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
    if "RedrivePolicy" in attributes:
        limit = json.loads(attributes["RedrivePolicy"]).get("maxReceiveCount")
        raise ConfigurationError(
            f"{queue_url} has a redrive policy: each receive of a dry run would count towards its "
            f"maxReceiveCount ({limit}) and could move a message to its dead-letter queue. Nothing was received."
        )


def lambda_invoker(lambda_client: Any, function_name: str) -> Invoke:
    """Invokes the function asynchronously, as S3 does; returns Lambda's status code (202 when accepted)."""

    def invoke(payload: dict[str, Any]) -> int:
        response = lambda_client.invoke(
            FunctionName=function_name, InvocationType="Event", Payload=json.dumps(payload).encode()
        )
        return response["StatusCode"]

    return invoke


def _request_payload(body: str) -> tuple[dict[str, Any], str | None]:
    """The record's original event, or why this message is not a record that can be replayed."""
    try:
        record = json.loads(body)
    except json.JSONDecodeError:
        return {}, "not JSON, so not an on-failure record"
    payload = record.get("requestPayload") if isinstance(record, dict) else None
    if not isinstance(payload, dict) or not isinstance(payload.get("Records"), list):
        return {}, "no requestPayload with S3 event Records: not an image_processor on-failure record"
    return payload, None


def _invoke_accepted(invoke: Invoke, payload: dict[str, Any]) -> None:
    try:
        status = invoke(payload)
    except (ClientError, BotoCoreError) as error:
        raise InvocationRefusedError(str(error)) from error
    if status != ACCEPTED:
        raise InvocationRefusedError(f"Lambda answered status {status}, not {ACCEPTED} (accepted)")


def _describe(record: dict[str, Any]) -> str:
    events = []
    for entry in record["requestPayload"]["Records"]:
        s3 = entry.get("s3", {})
        key = unquote_plus(s3.get("object", {}).get("key", "?"))
        events.append(f"{entry.get('eventName', '?')} s3://{s3.get('bucket', {}).get('name', '?')}/{key}")
    context = record.get("requestContext", {})
    why = f"{context.get('condition', '?')} after {context.get('approximateInvokeCount', '?')} invocation(s)"
    error = record.get("responsePayload")
    if isinstance(error, dict) and error.get("errorType"):
        why += f", last error {error['errorType']}: {str(error.get('errorMessage', ''))[:200]}"
    return f"{', '.join(events)} ({why})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Re-invoke image_processor with the S3 events in its processor-failures queue; "
        "a record is deleted only after Lambda accepted its invocation.",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the records; invoke and delete nothing")
    parser.add_argument(
        "--rate",
        type=positive(float),
        default=DEFAULT_RATE,
        help=f"most invocations a second (default {DEFAULT_RATE:g})",
    )
    parser.add_argument("--max", type=positive(int), dest="limit", help="replay at most this many records")
    add_stack_options(parser, *STACK_OPTIONS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        located = locate(args, *STACK_OPTIONS)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    queue_url = located.values["processor_failures_queue_url"]
    function = located.values["image_processor_function_name"]
    aws = located.clients(("sqs", "lambda"))
    settings = Settings(queue_url, function, args.rate, args.limit, args.dry_run)
    mode = "listing (dry run)" if args.dry_run else f"replaying to {function} at most {args.rate:g}/s"
    print(f"{mode}: {queue_url}")
    try:
        check_on_failure_destination(aws["sqs"], aws["lambda"], queue_url, function)
        summary = replay(aws["sqs"], settings, lambda_invoker(aws["lambda"], function))
    except (ClientError, BotoCoreError, ConfigurationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    done = f"{summary.listed} would be replayed" if args.dry_run else f"{summary.replayed} replayed"
    print(f"{done}, {len(summary.left)} left in the queue")
    return 1 if summary.left else 0


if __name__ == "__main__":
    sys.exit(main())
