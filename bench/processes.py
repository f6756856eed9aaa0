"""Which local processes a load ran on, and what they used (Linux /proc; elsewhere, nothing).

The HTTP figure shares two cores between the server, PostgreSQL, NATS and the load
client, so its rate alone cannot say whose CPU ran out. Counting each part's CPU time
over the load window, per submission, can; it is also what a reader needs to estimate
the rate on a machine where the client runs elsewhere.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

_PROC = Path("/proc")


def available() -> bool:
    """Whether this machine shows its processes in /proc (Linux)."""
    return _PROC.is_dir()


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    if not _PROC.is_dir():
        return children
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    return children


def tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    children = _children()
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def parent_of(pid: int) -> int | None:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int((_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def nats_server(nats_url: str) -> int | None:
    """The local nats-server process serving `nats_url`, if it runs on this machine."""
    port = urlsplit(nats_url).port
    if port is None or not _PROC.is_dir():
        return None
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            args = (entry / "cmdline").read_bytes().split(b"\0")
            if b"nats-server" in args[0] and str(port).encode() in args:
                return int(entry.name)
    return None


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds of each process that still exists."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    used: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_used(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """CPU seconds spent between two `cpu_seconds` readings; a process born in between
    counts whole, one that died in between is lost (a pool's backends live throughout)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def peak_rss_mb(pids: Iterable[int]) -> dict[int, float]:
    """VmHWM (peak resident memory) of each process, in MB."""
    peaks: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in (_PROC / str(pid) / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = int(line.split()[1]) / 1024
    return peaks
