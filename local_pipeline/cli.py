"""`python -m local_pipeline [--port N] [--demo]`: start the local stack and play the Lambda service."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from local_pipeline.console import Console
from local_pipeline.demo import run_demo
from local_pipeline.event_source import LOCAL_RETRY_VISIBILITY_S
from local_pipeline.faults import FaultConfig
from local_pipeline.load import plan_load, run_load
from local_pipeline.outputs_file import outputs_path, remove_outputs, write_outputs
from local_pipeline.pipeline import Pipeline, start_pipeline
from local_pipeline.resources import Resources
from local_pipeline.runtime import HandlerImportError, output_routing
from local_pipeline.server import PortError, ensure_port_free, free_port_near, start_server, start_server_process
from local_pipeline.stack import ACCOUNT_ID, FAKE_CREDENTIALS, REGION, Stack, default_stack
from local_pipeline.terraform import TERRAFORM_DIR, Evaluator, UnsupportedTerraform, load_terraform
from moto_extensions.dashboard_page import REFRESH_S, dashboard_url
from moto_extensions.s3_notifications import moto_sending_s3_notifications

DEFAULT_PORT = 4566


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_pipeline",
        description="Run the image pipeline on this machine: moto's server plays AWS, this runner plays Lambda.",
    )
    parser.add_argument(
        "--port",
        type=_port,
        help=f"port of the local AWS endpoint on 127.0.0.1 (default {DEFAULT_PORT}; with --demo, a free port "
        f"if {DEFAULT_PORT} is taken)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--demo",
        action="store_true",
        help="upload a generated set of images, print a summary when all are recorded, then stop; "
        "exits non-zero if any upload has no record or an unexpected status",
    )
    mode.add_argument(
        "--load",
        type=_uploads,
        metavar="N",
        help="upload N generated files of mixed sizes and formats (some deleted or uploaded again), wait until "
        "the pipeline drains, check that every upload is accounted for, print throughput and memory, then stop; "
        "exits non-zero if the check fails",
    )
    parser.add_argument(
        "--faults",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="inject every kind of fault at this rate, from 0 to 1: throttling, 5xx and lost replies on the "
        "handlers' AWS calls, handler crashes, duplicate and delayed S3 events, duplicate SQS messages "
        "(default 0: none)",
    )
    parser.add_argument(
        "--terraform-dir",
        type=Path,
        default=TERRAFORM_DIR,
        metavar="DIR",
        help="the Terraform the local stack is built from, with its variables' defaults "
        "(default: the project's terraform/)",
    )
    parser.add_argument("--seed", type=int, help="seed for the faults and --load's mix, to repeat a run's choices")
    parser.add_argument("--json", type=Path, metavar="FILE", help="with --load: also write its report to FILE as JSON")
    args = parser.parse_args(argv)
    if args.json is not None and not args.load:
        parser.error("--json needs --load")
    return args


def _bounded(kind: type, low: float, high: float, what: str) -> Callable[[str], Any]:
    """An argparse type: a `kind` from `low` to `high`, or an error that says what is expected."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


_port = _bounded(int, 1, 65535, "a whole number from 1 to 65535")
_uploads = _bounded(int, 1, 1_000_000, "a whole number from 1 to 1000000")
_rate = _bounded(float, 0, 1, "a number from 0 to 1, such as 0.05")


@dataclass
class Runner:
    """Everything started, so that shutdown can stop it in the right order."""

    console: Console
    server: Any = None
    pipeline: Pipeline | None = None

    def shutdown(self) -> None:
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.server is not None:
            self.server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(sys.stdout)
    signal.signal(signal.SIGTERM, _interrupt)
    runner = Runner(console)
    # Routing stays on until the shutdown, so the invocations it waits for still write to their logs.
    with output_routing(), moto_sending_s3_notifications():
        try:
            return _run(runner, args)
        except (PortError, HandlerImportError, UnsupportedTerraform) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            _quit_on_next_signal()
            console.say("stopping (Ctrl-C or SIGTERM again to quit at once)")
            return 130
        finally:
            _quit_on_next_signal()  # after a demo or a load run too: a signal during the shutdown quits at once
            runner.shutdown()
            remove_outputs(outputs_path())
            if runner.server is not None:
                console.say("local pipeline stopped")


def _run(runner: Runner, args: argparse.Namespace) -> int:
    started = time.monotonic()
    stack = default_stack(args.terraform_dir)
    port = _chosen_port(args, runner.console)
    runner.server, endpoint = _start_aws(port, separate_process=bool(args.load))
    plan = plan_load(args.load, args.seed, poison=bool(args.faults)) if args.load else None
    faults = FaultConfig.uniform(args.faults, seed=args.seed) if args.faults else None
    if faults and plan:
        faults = replace(
            faults, poison_image_processor=plan.poison_image_processor, poison_db_writer=plan.poison_db_writer
        )
    console = runner.console
    if plan:
        # One line per invocation is too many to read; they go to a file the report names.
        log = tempfile.NamedTemporaryFile("w", prefix="local-pipeline-load-", suffix=".log", delete=False)  # noqa: SIM115
        console = Console(log)
        runner.console.say(f"runner's lines (one per invocation) go to {log.name}")
    runner.pipeline = start_pipeline(stack, endpoint, console, faults, lambda_api=runner.server.lambda_api)
    outputs = local_outputs(args.terraform_dir, endpoint, dashboard_url(endpoint, stack.dashboard))
    write_outputs(outputs_path(), endpoint, REGION, outputs)
    _print_ready(runner.console, stack, runner.pipeline.resources, endpoint, time.monotonic() - started)
    if faults:
        runner.console.say(f"faults on: {faults.describe()} (docs/reliability.md says what each does)")
    if args.demo:
        client = runner.pipeline.client
        ok = run_demo(client("s3"), client("dynamodb"), stack.upload_bucket, stack.table_name, runner.console)
        return 0 if ok else 1
    if plan:
        report = run_load(runner.pipeline, plan, runner.console, moto_pid=runner.server.pid)
        if args.json:
            args.json.write_text(json.dumps(report.as_json(), indent=2) + "\n")
        return 0 if report.ok else 1
    while True:
        # In short naps: the kernel may hand SIGTERM or SIGINT to any thread, and Python runs the
        # handler only once the main thread wakes, so one long sleep could ignore Ctrl-C for an hour.
        time.sleep(0.5)


def _chosen_port(args: argparse.Namespace, console: Console) -> int:
    """--port, else the default; the demo needs no fixed port, so it takes a free one if the default is taken."""
    if args.port is not None or not args.demo:
        return args.port or DEFAULT_PORT
    try:
        ensure_port_free(DEFAULT_PORT)
    except PortError:
        free = free_port_near(DEFAULT_PORT)
        if free is None:
            raise
        console.say(f"port {DEFAULT_PORT} is in use (LocalStack?); the demo uses port {free} instead")
        return free
    return DEFAULT_PORT


def _start_aws(port: int, separate_process: bool = False) -> tuple[Any, str]:
    """Starts moto and points every AWS client this process creates, the handlers' included, at it."""
    server, endpoint = start_server_process(port) if separate_process else start_server(port)
    for name in [n for n in os.environ if n == "AWS_PROFILE" or n.startswith(("AWS_ENDPOINT_URL_", "AWS_SESSION"))]:
        del os.environ[name]  # a profile, session or per-service endpoint would win over the values below
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.update({"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint})
    return server, endpoint


def _print_ready(console: Console, stack: Stack, resources: Resources, endpoint: str, seconds: float) -> None:
    aws = f"aws --endpoint-url {endpoint}"
    image_processor_logs = stack.image_processor.log_group
    dlq_url = resources.queue_urls[stack.metadata_dlq.name]
    failures_url = resources.queue_urls[stack.processor_failures_queue.name]
    credentials = " ".join(f"{name}={value}" for name, value in FAKE_CREDENTIALS.items())
    thumbnails = f"s3://{stack.thumbnail_bucket}/{stack.image_processor.environment['THUMBNAIL_PREFIX']}"
    console.raw(
        f"""
Local pipeline ready at {endpoint} (account {ACCOUNT_ID}, region {REGION}) after {seconds:.1f} s. Ctrl-C stops it.
dashboard_url = {dashboard_url(endpoint, stack.dashboard)}   (open it in a browser; it reloads every {REFRESH_S} s)
Functions run in this process; a failed metadata message is retried after {LOCAL_RETRY_VISIBILITY_S} s \
(on AWS: {stack.metadata_queue.visibility_timeout_s} s).

In another shell ({_aws_cli_hint()}):
  export {credentials} AWS_DEFAULT_REGION={REGION}
  {aws} s3 cp photo.jpg s3://{stack.upload_bucket}/
  {aws} s3 ls {thumbnails} --recursive
  {aws} dynamodb scan --table-name {stack.table_name}
  {aws} logs filter-log-events --log-group-name {image_processor_logs}
  {aws} logs filter-log-events --log-group-name {stack.db_writer.log_group}
  {aws} logs tail {image_processor_logs} --follow      # AWS CLI v2 only
  {aws} sqs receive-message --visibility-timeout 0 --queue-url {dlq_url}
  {aws} sqs receive-message --visibility-timeout 0 --queue-url {failures_url}
  {aws} cloudwatch describe-alarms --state-value ALARM
"""
    )


def _aws_cli_hint() -> str:
    """Where the AWS CLI comes from: this interpreter's virtualenv, wherever PIPELINE_VENV put it."""
    scripts = Path(sys.prefix) / "bin"
    if sys.prefix != sys.base_prefix and (scripts / "aws").exists():
        return f"this virtualenv has AWS CLI v1: source {shlex.quote(str(scripts / 'activate'))}"
    return "with the AWS CLI, v1 or v2, installed"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _quit_on_next_signal() -> None:
    """From here on Ctrl-C or SIGTERM ends the process at once, instead of interrupting the shutdown."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def local_outputs(terraform_dir: Path, endpoint: str, dashboard_url: str) -> dict[str, dict[str, Any]]:
    """Every output of terraform_dir, valued for the local stack at `endpoint`."""
    values = Evaluator(load_terraform(terraform_dir), endpoint=endpoint)
    outputs = {}
    for name in values.terraform.outputs:
        # The console URL Terraform gives names AWS's console; locally the dashboard is a page of the endpoint.
        value = dashboard_url if name == "dashboard_url" else values.output(name)
        outputs[name] = {"sensitive": False, "type": _type(value), "value": value}
    return outputs


def _type(value: Any) -> str:
    # terraform output -json names a type; a null output here is a conditional whose other branch is a string.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string"
