"""A real three-node NATS JetStream cluster on loopback, from the wheel's nats-server:
free ports, a store folder per node, routes between them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import nats

from infrastructure.embedded.common import free_port
from infrastructure.embedded.nats import nats_server_binary


class NatsCluster:
    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        self.names = [f"n{i + 1}" for i in range(size)]
        self.ports = [free_port() for _ in range(size)]
        self.routes = [free_port() for _ in range(size)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """The comma-separated list `VIBEHQ_NATS_URL` takes."""
        return ",".join(f"nats://127.0.0.1:{port}" for port in self.ports)

    def start(self, name: str) -> None:
        i = self.names.index(name)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        routes = ",".join(f"nats://127.0.0.1:{port}" for port in self.routes)
        self.processes[name] = subprocess.Popen(
            [
                str(nats_server_binary()),
                "--addr", "127.0.0.1",
                "--port", str(self.ports[i]),
                "--server_name", name,
                "--jetstream",
                "--store_dir", str(folder / "store"),
                "--cluster_name", "vibe",
                "--cluster", f"nats://127.0.0.1:{self.routes[i]}",
                "--routes", routes,
            ],
            stdout=(folder / "log").open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def start_all(self) -> None:
        for name in self.names:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL: no goodbye to the cluster, as a crashed host."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name)

    async def until_ready(self, timeout: float = 30) -> None:
        """Until JetStream answers through the cluster (a meta leader is elected)."""

        async def quiet(error: Exception) -> None:
            pass  # nodes still starting refuse connections: expected

        client = await nats.connect(self.url.split(","), error_cb=quiet)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        await client.jetstream(timeout=1).account_info()
                        return
                    except Exception:  # noqa: BLE001 - not yet: no meta leader
                        await asyncio.sleep(0.2)
        finally:
            await client.close()
