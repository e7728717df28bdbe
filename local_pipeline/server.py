"""Starts moto's server, the embedded AWS every local client talks to, with the runner's own answers in front:
the dashboard page, SQS message move tasks, the Lambda API, and one clear error for what moto does not emulate."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from local_pipeline.console import Console
from local_pipeline.lambda_api import LambdaApi
from local_pipeline.stack import ACCOUNT_ID, REGION
from moto_extensions.dashboard_page import DashboardPages, Sources
from moto_extensions.message_moves import MessageMoveTasks
from moto_extensions.not_emulated import NotEmulated
from moto_extensions.s3_notifications import moto_sending_s3_notifications

HOST = "127.0.0.1"
LISTEN_BACKLOG = 128  # werkzeug's own
PROCESS_START_TIMEOUT_S = 30


class PortError(Exception):
    """The endpoint cannot listen on the chosen port; the message says why and what to try instead."""


# Ports tried, counting up from the chosen one, before a port the system picks is suggested instead.
SUGGESTION_TRIES = 20


def ensure_port_free(port: int) -> None:
    """Fails early with a clear message, before a child process that would bind the port is started."""
    try:
        _bind_probe(port)
    except OSError as error:
        raise _port_error(port, error) from error


def free_port_near(port: int) -> int | None:
    """A port to suggest instead of `port`, bind-tested so that it is free now; None if none can be bound."""
    for candidate in [*range(port + 1, min(port + SUGGESTION_TRIES, 65535) + 1), 0]:
        try:
            return _bind_probe(candidate)
        except OSError:
            continue
    return None


def _bind_probe(port: int) -> int:
    """Binds and releases `port` as the server binds it; returns the port bound (the system's pick for 0)."""
    with _bound_socket(port) as probe:
        return probe.getsockname()[1]


def _bound_socket(port: int) -> socket.socket:
    bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # The same option werkzeug sets, so a port left in TIME_WAIT by a previous run counts as free.
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound.bind((HOST, port))
    except OSError:
        bound.close()
        raise
    return bound


def _port_error(port: int, error: OSError) -> PortError:
    # Worded for both ways to start the runner: scripts/local.sh and python -m local_pipeline.
    free = free_port_near(port)
    retry = f"run the command again with --port {free}, a port that is free now" if free else None
    if error.errno == errno.EADDRINUSE:
        return PortError(
            f"port {port} on {HOST} is already in use (another local stack, LocalStack or moto?). "
            f"Stop it, or {retry or 'pick another port with --port'}"
        )
    reason = f"cannot listen on {HOST}:{port}: {error.strerror or error}"
    return PortError(f"{reason}; {retry}" if retry else reason)


class LocalEndpoint:
    """moto's server app behind the dashboard page, the message move tasks and the runner's Lambda API
    (`lambda_api`, where the pipeline registers its function), on a thread of its own. The runner binds
    the port itself, in the calling thread, so a port taken after any earlier check is a PortError here:
    werkzeug, binding it, would exit."""

    def __init__(self, port: int) -> None:
        self.lambda_api = LambdaApi(NotEmulated(DomainDispatcherApplication(create_backend_app), Console().say))
        self._moves = MessageMoveTasks(self.lambda_api)
        app = DashboardPages(self._moves, Sources(ACCOUNT_ID, REGION))
        self.url = f"http://{HOST}:{port}"
        with _listening_socket(port) as listening:
            # werkzeug serves on a duplicate of the descriptor, so this one can be closed.
            self._server = make_server(
                HOST,
                port,
                app,
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listening.fileno(),
            )
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-endpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()
        self._moves.close()


def _listening_socket(port: int) -> socket.socket:
    try:
        listening = _bound_socket(port)
    except OSError as error:
        raise _port_error(port, error) from error
    listening.listen(LISTEN_BACKLOG)
    return listening


def start_server(port: int) -> tuple[LocalEndpoint, str]:
    """Returns the running server and its endpoint URL."""
    # werkzeug logs every request at INFO; the console is for the pipeline's own lines.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = LocalEndpoint(port)
    return server, server.url


class ServerProcess:
    """moto's server in a child process (`python -m local_pipeline.server`), so that the memory of
    what it stores is not counted in the runner's. Same stop() as LocalEndpoint's; no Lambda API, as
    the runner's functions live in another process than the server."""

    lambda_api = None

    def __init__(self, port: int) -> None:
        self._process = subprocess.Popen([sys.executable, "-m", "local_pipeline.server", str(port)])
        deadline = time.monotonic() + PROCESS_START_TIMEOUT_S
        while not _answers(port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto's server process did not start on port {port}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
        self._process.wait(PROCESS_START_TIMEOUT_S)


def start_server_process(port: int) -> tuple[ServerProcess, str]:
    ensure_port_free(port)
    return ServerProcess(port), f"http://{HOST}:{port}"


def _answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex((HOST, port)) == 0


def _serve(port: int) -> None:
    """The child process: moto's server, sending S3's notifications, until terminated."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the runner too, which stops this process
    runner = os.getppid()
    with moto_sending_s3_notifications():
        server, _ = start_server(port)
        # With a timeout, so that the signal handler gets to run; and a runner that was killed
        # outright must not leave this process holding the port.
        while not stopping.wait(1) and os.getppid() == runner:
            pass
        server.stop()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
