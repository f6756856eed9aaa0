"""`POST /terminal/{session}/output`: how an agent's runner writes its terminal.

Viewers read it live on `/ws/terminal/{session}` (replaying from a sequence number);
this is the other end. Chunks are numbered by the writer: the next one is published,
one sent again is answered as a duplicate (nothing published twice), and one that
skips ahead is 409 naming the number that is missing. The session's first writer owns
it; another actor's chunks are 403 (an admin may write to any session).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.params import FromPath, JSONBody

from application.access import Principal
from domain.contracts import Identifier, TerminalAccepted, TerminalChunk
from interfaces.http.auth import requires
from interfaces.http.dependencies import live_feeds, services_of
from interfaces.http.problems import spec

RESPONSES = {
    401: spec("Missing or unknown token."),
    403: spec("Not the session's writer, or a token without the 'write' scope."),
    409: spec("A chunk skipped ahead: the body names the number to send first."),
    503: spec("This server has no NATS connection."),
}


class TerminalController(Controller):
    path = "/terminal"
    tags = ["terminal"]

    @post(
        "/{session_id:str}/output",
        guards=[requires("write")],
        status_code=202,
        summary="Write an agent session's next terminal output (numbered by the writer)",
        description="Viewers get it on `/ws/terminal/{session_id}`. Retrying a chunk is "
        "safe: it is answered `duplicate: true` and published once.",
        responses=RESPONSES,
    )
    async def write_output(
        self,
        request: Request[Any, Any, Any],
        session_id: FromPath[Identifier],
        data: JSONBody[TerminalChunk],
    ) -> Response[TerminalAccepted]:
        principal: Principal = request.user
        terminal = live_feeds(services_of(request.app.state)).terminal
        accepted = await terminal.append(
            session_id, data, actor=principal.actor, admin=principal.may("admin")
        )
        return Response(accepted, status_code=202)
