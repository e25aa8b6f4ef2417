"""A tiny HTTP server on a free loopback port, for the port-forward tests: it answers every GET with
`hello from <path>`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = f"hello from {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def hello_server() -> Iterator[int]:
    """Serve on 127.0.0.1 for the block; yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def closing_server() -> Iterator[int]:
    """A TCP server that writes "bye" and closes each connection at once (an end only a close marks)."""
    import socketserver

    class Bye(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(b"bye")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Bye)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
