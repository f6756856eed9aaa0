"""A Python client for factories: the HTTP API, typed with the service's own contracts.

    async with VibeClient("http://127.0.0.1:8000", token) as hq:
        ws = await hq.create_workspace("shop", {"app.py": "x = 1\\n"})
        record = await hq.submit(ws.id, [WriteFile(path="app.py", content="x = 2\\n")],
                                 base_version=ws.version, task_id="T-1")
        await hq.report_checks("T-1", [CheckRun(name="unit", status="passed")])
        await hq.deliver("T-1", workspace_id=ws.id, final_version=record.version, summary="x=2")
        async for change in hq.workspace_feed(ws.id, after=0):
            ...

Every write carries an `Idempotency-Key` the client makes up (or yours), and a
transport error is retried with the same key, so a request is recorded at most once.
`submit_rebasing` rebuilds a patch on the workspace's newest version when it was
refused as stale. Feeds reconnect by themselves after a drop or a `lagged` notice,
from the last sequence number they delivered. Errors are `ApiError`s carrying the
problem+json body (`PatchRejected` for a recorded rejection).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar
from uuid import UUID

import httpx
import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from domain.contracts import (
    CheckRun,
    ChecksRequest,
    Cost,
    CreateFile,
    DeliveryReport,
    DeliveryRequest,
    FeedLagged,
    GrantRequest,
    NewWorkspace,
    OpsEventRecorded,
    OpsEventRequest,
    OpsOverview,
    PatchNotification,
    PatchOperation,
    PatchRecord,
    PatchRecordPage,
    PatchRequest,
    Recorded,
    RevertRequest,
    Severity,
    TerminalAccepted,
    TerminalChunk,
    TerminalOutput,
    WorkspaceAccess,
    WorkspaceGrants,
    WorkspacePage,
    WorkspaceSummary,
)
from domain.ids import new_id
from interfaces.client.errors import ApiError, PatchRejected, answer

__all__ = ["ApiError", "PatchRejected", "VibeClient"]

T = TypeVar("T")

#: How often a write is retried after a transport error (same key: recorded once).
RETRIES: Final = 3
#: WebSocket close codes that mean "do not come back" (token, scope, no such stream).
FINAL_CLOSES: Final = frozenset({4001, 4003, 4004})
_PATCH_FEED: Final = msgspec.json.Decoder(PatchNotification | FeedLagged)
_TERMINAL_FEED: Final = msgspec.json.Decoder(TerminalOutput | FeedLagged)


class VibeClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        on_response: Callable[[httpx.Response], Awaitable[None]] | None = None,
    ) -> None:
        """`on_response` sees every HTTP answer (a transcript, a log, metrics)."""
        self._base = base_url.rstrip("/")
        self._token = token
        self._http = httpx.AsyncClient(
            base_url=self._base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
            event_hooks={"response": [on_response]} if on_response else None,
        )
        self._terminal_seq: dict[str, int] = {}

    async def __aenter__(self) -> VibeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # -- workspaces ----------------------------------------------------------------------

    async def create_workspace(
        self, name: str, files: Mapping[str, str] | None = None, *, key: str | None = None
    ) -> WorkspaceSummary:
        body = NewWorkspace(
            name=name, files=[CreateFile(path=p, content=c) for p, c in (files or {}).items()]
        )
        return await self._write("/workspaces", body, WorkspaceSummary, key)

    async def workspace(self, workspace_id: UUID | str) -> WorkspaceSummary:
        return await self._read(f"/workspaces/{workspace_id}", WorkspaceSummary)

    async def workspaces(
        self, *, name: str | None = None, created_by: str | None = None
    ) -> AsyncIterator[WorkspaceSummary]:
        """Every workspace the caller may see, newest first, page after page."""
        params: dict[str, str] = {
            k: v for k, v in (("name", name), ("created_by", created_by)) if v
        }
        while True:
            page = await self._read("/workspaces", WorkspacePage, params)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            params["cursor"] = page.next_cursor

    async def grant(
        self, workspace_id: UUID | str, actor: str, access: WorkspaceAccess
    ) -> WorkspaceGrants:
        """Let `actor` read, or read and write, a workspace the caller owns."""
        body = GrantRequest(actor=actor, access=access)
        return await self._write(f"/workspaces/{workspace_id}/grants", body, WorkspaceGrants)

    async def history(self, workspace_id: UUID | str) -> list[PatchRecord]:
        """Every recorded patch outcome of the workspace, oldest first."""
        records: list[PatchRecord] = []
        params: dict[str, str] = {}
        while True:
            path = f"/workspaces/{workspace_id}/patches"
            page = await self._read(path, PatchRecordPage, params)
            records += page.items
            if page.next_cursor is None:
                return records
            params["cursor"] = page.next_cursor

    async def diff(self, workspace_id: UUID | str, *, since: int) -> str:
        """A unified diff of the workspace from version `since` to now."""
        response = await self._http.get(
            f"/workspaces/{workspace_id}/diff", params={"from": str(since)}
        )
        if response.status_code >= 400:
            answer(response, str)
        return response.text

    # -- patches -------------------------------------------------------------------------

    async def submit(
        self,
        workspace_id: UUID | str,
        operations: Sequence[PatchOperation],
        *,
        base_version: int,
        task_id: str,
        message: str = "",
        key: str | None = None,
    ) -> PatchRecord:
        """Apply the operations (all or none); raises PatchRejected when refused."""
        body = PatchRequest(
            base_version=base_version, task_id=task_id, operations=list(operations), message=message
        )
        return await self._write(f"/workspaces/{workspace_id}/patches", body, PatchRecord, key)

    async def submit_rebasing(
        self,
        workspace_id: UUID | str,
        build: Callable[[WorkspaceSummary], Awaitable[Sequence[PatchOperation]]],
        *,
        task_id: str,
        message: str = "",
        attempts: int = 5,
    ) -> PatchRecord:
        """Build the patch on the workspace's newest version and submit it; when another
        patch got there first (`stale_base`), build it again on the new version."""
        for attempt in range(attempts):
            head = await self.workspace(workspace_id)
            try:
                return await self.submit(
                    workspace_id,
                    await build(head),
                    base_version=head.version,
                    task_id=task_id,
                    message=message,
                )
            except PatchRejected as rejected:
                if rejected.reason != "stale_base" or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    async def revert(self, patch_id: UUID | str, *, task_id: str, message: str = "") -> PatchRecord:
        """Record a new patch undoing `patch_id`; PatchRejected if later work is in the way."""
        body = RevertRequest(task_id=task_id, message=message)
        return await self._write(f"/patches/{patch_id}/revert", body, PatchRecord)

    # -- tasks ---------------------------------------------------------------------------

    async def report_checks(
        self, task_id: str, checks: Sequence[CheckRun], *, patch_id: UUID | None = None
    ) -> Recorded:
        body = ChecksRequest(checks=list(checks), patch_id=patch_id)
        return await self._write(f"/tasks/{task_id}/checks", body, Recorded)

    async def deliver(
        self,
        task_id: str,
        *,
        workspace_id: UUID | str,
        final_version: int,
        summary: str,
        artefacts: Sequence[str] = (),
        cost: Cost | None = None,
    ) -> Recorded:
        body = DeliveryRequest(
            summary=summary,
            workspace_id=UUID(str(workspace_id)),
            final_version=final_version,
            artefacts=list(artefacts),
            cost=cost,
        )
        return await self._write(f"/tasks/{task_id}/deliver", body, Recorded)

    async def delivery_report(
        self, task_id: str, *, after_position: int | None = None
    ) -> DeliveryReport:
        """The task's report; with `after_position` (a write's `position`), once the
        report includes that write (waiting up to 5 s)."""
        params = {"after_position": str(after_position)} if after_position else {}
        return await self._read(f"/tasks/{task_id}/delivery-report", DeliveryReport, params)

    # -- ops -----------------------------------------------------------------------------

    async def report_event(
        self, source: str, kind: str, severity: Severity, message: str = ""
    ) -> OpsEventRecorded:
        """Something happened; an error opens an incident (or joins the open one)."""
        body = OpsEventRequest(source=source, kind=kind, severity=severity, message=message)
        return await self._write("/ops/events", body, OpsEventRecorded)

    async def ops_overview(self, *, after_position: int | None = None) -> OpsOverview:
        params = {"after_position": str(after_position)} if after_position else {}
        return await self._read("/ops/overview", OpsOverview, params)

    # -- terminals -----------------------------------------------------------------------

    async def write_terminal(self, session_id: str, data: str) -> TerminalAccepted:
        """Send a session's next output; numbered here, so a retry is published once."""
        seq = self._terminal_seq.get(session_id, 0) + 1
        accepted = await self._write(
            f"/terminal/{session_id}/output", TerminalChunk(seq=seq, data=data), TerminalAccepted
        )
        self._terminal_seq[session_id] = seq
        return accepted

    # -- feeds ---------------------------------------------------------------------------

    def workspace_feed(
        self, workspace_id: UUID | str, *, after: int | None = None
    ) -> AsyncIterator[PatchNotification]:
        """The workspace's patches as they land (`after=0`: from the start)."""
        return self._feed(f"/ws/workspaces/{workspace_id}", _PATCH_FEED, PatchNotification, after)

    def terminal_feed(
        self, session_id: str, *, after: int | None = None
    ) -> AsyncIterator[TerminalOutput]:
        """A session's terminal output (replayed from the start, or after `after`)."""
        return self._feed(f"/ws/terminal/{session_id}", _TERMINAL_FEED, TerminalOutput, after)

    async def _feed(
        self, path: str, decoder: msgspec.json.Decoder[Any], kind: type[T], after: int | None
    ) -> AsyncIterator[T]:
        url = self._base.replace("http", "ws", 1) + path
        headers = {"Authorization": f"Bearer {self._token}"}
        while True:
            query = "" if after is None else f"?after={after}"
            try:
                async with connect(url + query, additional_headers=headers) as socket:
                    async for text in socket:
                        message = decoder.decode(text)
                        if isinstance(message, FeedLagged):
                            after = message.last_seq
                            break  # reconnect from where it was
                        if isinstance(message, kind):
                            after = message.seq  # type: ignore[attr-defined]
                            yield message
            except ConnectionClosed as closed:
                if closed.rcvd is not None and closed.rcvd.code in FINAL_CLOSES:
                    raise ApiError(closed.rcvd.code, {"detail": closed.rcvd.reason}) from None
            except InvalidStatus as refused:
                raise ApiError(refused.response.status_code, {"detail": "refused"}) from None

    # -- the wire ------------------------------------------------------------------------

    async def _read(self, path: str, kind: type[T], params: Mapping[str, str] | None = None) -> T:
        response = await self._http.get(path, params=params)
        return answer(response, kind)

    async def _write(
        self, path: str, body: msgspec.Struct, kind: type[T], key: str | None = None
    ) -> T:
        headers = {
            "Idempotency-Key": key or new_id().hex,
            "Content-Type": "application/json",
        }
        content = msgspec.json.encode(body)
        for attempt in range(RETRIES + 1):
            try:
                response = await self._http.post(path, content=content, headers=headers)
            except httpx.TransportError:
                if attempt == RETRIES:
                    raise
                continue  # the same key: if the first one was recorded, this one is not
            return answer(response, kind)
        raise AssertionError("unreachable")
