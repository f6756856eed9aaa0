"""Following changes over NATS subscribes before the first load: a change recorded
between the two would otherwise never be seen by this process."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from infrastructure.fanout.subjects import Subjects
from infrastructure.limits import follow_limit_policies
from infrastructure.secrets.watch import SecretWatch


class Recording:
    """A NATS client and the things it reloads, noting what happened in which order."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    async def subscribe(self, subject: str, cb: Any) -> Any:
        self.steps.append(f"subscribe {subject}")
        return self

    async def unsubscribe(self) -> None:
        pass

    async def reload(self) -> int:
        self.steps.append("load")
        return 0


async def test_limit_policies_are_subscribed_to_before_they_are_loaded() -> None:
    seen = Recording()
    reloads = await follow_limit_policies(seen, Subjects("t"), seen)  # type: ignore[arg-type]
    await reloads.stop()
    assert seen.steps == ["subscribe t.events.limitpolicybook.*.*", "load"]


async def test_secret_versions_are_subscribed_to_before_they_are_masked() -> None:
    seen = Recording()

    def drop(secret_id: UUID, before: int | None) -> None:
        pass

    watch = SecretWatch(seen.reload, drop)
    await watch.start(seen, Subjects("t"))  # type: ignore[arg-type]
    await watch.stop()
    assert seen.steps == ["subscribe t.events.secret.*.*", "load"]
