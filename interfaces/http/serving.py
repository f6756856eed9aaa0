"""Run the HTTP app under uvicorn, in one process or several sharing one socket.

For several workers uvicorn binds the shared socket with protocol 0, and asyncio only
sets TCP_NODELAY on connections accepted from sockets whose protocol is IPPROTO_TCP.
Without it, a response written in two parts (headers, then body) waits for the
client's delayed ACK: about 40 ms on every keep-alive request (measured: 44 ms for
`GET /health` with 2 workers against 1.3 ms with 1). So the multi-worker path binds the
socket itself, as a TCP socket, and hands it to uvicorn's own process supervisor.

Nor does a shared socket spread keep-alive clients over the workers: every worker
waits on the one accept queue and whichever wakes first takes the connection, for
good. Under the benchmark's load one worker held all 32 factories and the other
idled. So each worker listens on a socket of its own, bound with SO_REUSEPORT to the
same port, and the kernel spreads new connections over them; the supervisor keeps a
bound (never listening) socket that reserves the port and fails early if it is taken.

Workers die with their supervisor (PR_SET_PDEATHSIG on Linux): a supervisor killed
outright must not leave workers serving writes with no followers behind them.

With several workers the log's followers (projections, relay, audit) do not run in
the HTTP workers but on their own event loop in the supervisor, which otherwise only
watches its children. A worker's loop saturated by requests delayed every await of a
follower sharing it, and under load the projections fell seconds behind; on a loop of
their own they keep up (docs/benchmarks.md). With one worker they share its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final
from unittest import mock

import uvicorn
import uvicorn.config
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors import multiprocess as uvicorn_multiprocess

from infrastructure.logs import TEXT_FORMAT, JsonFormatter, LogFormat
from infrastructure.metrics import MULTIPROCESS_DIR
from infrastructure.secrets.redaction import RedactSecrets
from infrastructure.settings import Settings, mask_query_token
from interfaces.composition import open_runtime
from interfaces.gc_pauses import freeze_startup_objects
from interfaces.http.one_write import CoalescingHttpToolsProtocol

log = logging.getLogger(__name__)

APP = "interfaces.http.app:create_app_from_env"


#: Linux and the BSDs; elsewhere the workers share the supervisor's socket.
REUSE_PORT = hasattr(socket, "SO_REUSEPORT")


def tcp_listener(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound, inheritable TCP socket (IPPROTO_TCP, so connections get TCP_NODELAY)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def listening_sockets(port: int) -> int:
    """How many IPv4 TCP sockets listen on `port`: with SO_REUSEPORT, one per ready worker.

    Linux only (/proc/net/tcp); 0 elsewhere.
    """
    table = Path("/proc/net/tcp")
    if not table.exists():
        return 0
    count = 0
    for row in table.read_text().splitlines()[1:]:
        fields = row.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            count += 1
    return count


#: Linux's prctl option "send me this signal when my parent dies".
_PR_SET_PDEATHSIG: Final = 1


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGTERM this process when `parent` dies (Linux), so that killing
    a supervisor, even with SIGKILL, never leaves workers serving without followers."""
    if sys.platform != "linux":  # pragma: no cover - elsewhere the supervisor's stop must do
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:  # pragma: no cover
        log.warning("could not ask to die with the supervisor: errno %d", ctypes.get_errno())
    if os.getppid() != parent:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


class SupervisedWorker(uvicorn_multiprocess.Process):
    """A uvicorn worker that dies with its supervisor."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.supervisor = os.getpid()
        super().__init__(*args, **kwargs)

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        die_with_parent(self.supervisor)
        super().target(sockets)


class OwnSocketWorker(SupervisedWorker):
    """A supervised worker that listens on a SO_REUSEPORT socket of its own."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        own = tcp_listener(self.config.host, self.config.port, reuse_port=True)
        super().target([own])


class FollowersThread:
    """The log's followers on an event loop (uvloop if installed) of their own thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vibehq-followers", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait(timeout=60)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)

    def _run(self) -> None:
        try:
            import uvloop

            factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
            factory = asyncio.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        retry = 1.0
        while not self._stop.is_set():
            try:
                runtime = await open_runtime(self._settings, apply_migrations=False)
            except Exception:  # the engines may come back; the workers still serve
                log.exception("the log's followers could not start; retrying in %.0f s", retry)
                self._started.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), retry)
                retry = min(retry * 2, 30.0)
                continue
            try:
                runtime.start_background()
                freeze_startup_objects()
                self._started.set()
                await self._stop.wait()
            finally:
                await runtime.close()


class RedactTokens(logging.Filter):
    """Masks `?token=` values in access-log lines: feeds take the token in the query
    (browsers cannot set headers there), and a log is no place for a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_query_token(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def log_config(log_format: LogFormat = "text", log_level: str = "info") -> dict[str, Any]:
    """uvicorn's logging, with `RedactTokens` on the access log, and the application's
    loggers in `log_format` too (in every worker: it is applied in each process)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    config["filters"]["redact_secrets"] = {"()": RedactSecrets}
    config["handlers"]["access"]["filters"] = ["redact_tokens", "redact_secrets"]
    config["handlers"]["default"]["filters"] = ["redact_secrets"]
    if log_format == "json":
        config["formatters"]["default"] = {"()": JsonFormatter}
        config["formatters"]["access"] = {"()": JsonFormatter}
    config["formatters"]["application"] = (
        {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    config["handlers"]["application"] = {
        "class": "logging.StreamHandler",
        "formatter": "application",
        "stream": "ext://sys.stderr",
        "filters": ["redact_secrets"],
    }
    config["root"] = {"handlers": ["application"], "level": log_level.upper()}
    return config


def serve_http(
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    log_format: LogFormat = "text",
    settings: Settings | None = None,
) -> None:
    """Serve until Ctrl-C. With `settings` whose `background` is on and several workers,
    the followers run in this (supervisor) process and the workers only serve HTTP."""
    config = uvicorn.Config(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # Above `info` no access line is printed, but uvicorn would still build each
        # one's fields (client address, path) for every request: ~1% of a worker's CPU.
        access_log=log_level in ("trace", "debug", "info"),
        log_config=log_config(log_format, log_level),
        http=CoalescingHttpToolsProtocol,  # one write per response (see one_write.py)
        ws="websockets-sansio",  # honours backpressure, so slow feeds are detected
    )
    # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal; as in
    # `uvicorn.run`, that KeyboardInterrupt means a clean stop.
    with contextlib.suppress(KeyboardInterrupt):
        if workers == 1:
            uvicorn.Server(config).run()
            return
        with shared_metrics():
            _serve_workers(config, settings)


@contextlib.contextmanager
def shared_metrics() -> Iterator[None]:
    """Every process of this serve counts into one folder, so any worker's `/metrics`
    answers for all of them (unless the operator chose a folder already)."""
    if os.environ.get(MULTIPROCESS_DIR):
        yield
        return
    folder = tempfile.mkdtemp(prefix="vibehq-metrics-")
    os.environ[MULTIPROCESS_DIR] = folder  # the workers inherit it
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIR]
        shutil.rmtree(folder, ignore_errors=True)


def _serve_workers(config: uvicorn.Config, settings: Settings | None) -> None:
    followers = None
    if settings is not None and settings.background == "on":
        os.environ["VIBEHQ_BACKGROUND"] = "off"  # for the workers, which inherit it
        followers = FollowersThread(settings)
        followers.start()
    try:
        reserved = tcp_listener(config.host, config.port, reuse_port=REUSE_PORT)
        config.port = reserved.getsockname()[1]  # port 0: the workers share the one picked
        # uvicorn's supervisor makes (and remakes) its workers from this name.
        worker = OwnSocketWorker if REUSE_PORT else SupervisedWorker
        with mock.patch.object(uvicorn_multiprocess, "Process", worker):
            Multiprocess(config, sockets=[reserved]).run()
    finally:
        if followers is not None:
            followers.stop()
