"""Serving the emulator on a loopback port from a background thread."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from offline.bedrock_emulator.clock import Clock
from offline.bedrock_emulator.config import EmulatorSettings
from offline.bedrock_emulator.emulator import BedrockEmulator


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class EmulatorServer:
    """``with EmulatorServer() as server:`` serves a new emulator (or the one given) on ``server.endpoint_url``."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        emulator: BedrockEmulator | None = None,
        settings: EmulatorSettings | None = None,
        clock: Clock | None = None,
        poll_interval: float = 0.1,
    ) -> None:
        self.host = host
        # How often the serving thread checks for stop(): stop() waits up to this long.
        self.poll_interval = poll_interval
        self.emulator = emulator or BedrockEmulator(settings, clock=clock)
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator server is not started")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client_environment(self) -> dict[str, str]:
        """The standard SDK settings that send ``bedrock`` and ``bedrock-runtime`` calls here."""
        return {"AWS_ENDPOINT_URL_BEDROCK": self.endpoint_url, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.endpoint_url}

    def bind(self) -> EmulatorServer:
        """Open the port (``port`` and ``endpoint_url`` are known from here on) without serving yet."""
        if self._server is None:
            self._server = make_server(
                self.host, self._requested_port, self.emulator, threaded=True, request_handler=_QuietHandler
            )
        return self

    def state(self) -> dict[str, Any]:
        """The emulator's state (``BedrockEmulator.state``)."""
        return self.emulator.state()

    def configure(
        self,
        job_seconds: float | None = None,
        throughput_seconds: float | None = None,
        deployment_seconds: float | None = None,
        stop_seconds: float | None = None,
        evaluation_seconds: float | None = None,
    ) -> dict[str, float]:
        """Durations of resources created from now on (``BedrockEmulator.set_durations``)."""
        return self.emulator.set_durations(
            job_seconds, throughput_seconds, deployment_seconds, stop_seconds, evaluation_seconds
        )

    def start(self) -> EmulatorServer:
        """Serve from a daemon thread."""
        if self._thread is not None:
            return self
        self.bind()
        assert self._server is not None
        server, interval = self._server, self.poll_interval
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=interval),
            name=f"bedrock-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI)."""
        self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self._server = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
