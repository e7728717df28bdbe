"""Starts moto's server, the embedded AWS every local client talks to."""

from __future__ import annotations

import errno
import logging
import socket

from moto.server import ThreadedMotoServer

HOST = "127.0.0.1"


class PortInUseError(Exception):
    """The chosen port is taken; the message tells the user how to pick another."""


def ensure_port_free(port: int) -> None:
    """Fails early with a clear message: moto's server thread would otherwise die silently and hang start()."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The same option werkzeug sets, so a port left in TIME_WAIT by a previous run counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise PortInUseError(
                f"port {port} on {HOST} is already in use (another local stack, LocalStack or moto?). "
                f"Stop it, or pick a free port: scripts/local.sh --port {port + 1}"
            ) from error


def start_server(port: int) -> tuple[ThreadedMotoServer, str]:
    """Returns the running server and its endpoint URL."""
    ensure_port_free(port)
    # werkzeug logs every request at INFO; the console is for the pipeline's own lines.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    return server, f"http://{HOST}:{port}"
