"""Reading your own writes from eventually consistent read models."""

from __future__ import annotations

from typing import Final

from litestar.params import QueryParameter

from application.read_models import Followers
from domain.contracts import MAX_COUNTER

WAIT_SECONDS: Final = 5.0
CURSOR_DESCRIPTION: Final = "`next_cursor` of the previous page."
AFTER_POSITION: Final = QueryParameter(
    name="after_position",
    ge=0,
    le=MAX_COUNTER,
    required=False,
    description=(
        "Wait (up to 5 s) until the read model includes the event at this log position, "
        "e.g. the `position` a write returned. The `Vibehq-Caught-Up` header says whether "
        "it did."
    ),
)


async def caught_up(followers: Followers, model: str, after_position: int | None) -> dict[str, str]:
    """Wait for `model` to pass `after_position`; the header to answer with."""
    if after_position is None:
        return {}
    reached = await followers.wait_for(model, after_position, WAIT_SECONDS)
    return {"Vibehq-Caught-Up": "true" if reached else "false"}
