"""The kinds of error every layer raises, so each interface maps them in one place.

A use case or an aggregate raises a subclass of one of these; the HTTP layer
(`interfaces/http/problems.py`) turns the kind into a status, the CLI into an exit
code. A new error needs no new mapping: it picks the kind that says what the caller
should do.

* `NotFound` - the thing named does not exist (404).
* `Refused` - the request is well-formed, but the current state does not allow it;
  retrying will not help until the state changes (409).
* `Invalid` - the input itself is wrong; `field` names where (422).
* `Forbidden` - the caller may not do this, whatever the state (403); recorded.
* `Busy` - the system is contended or a dependency is away; retry after
  `retry_after` seconds with the same idempotency key (503).
"""

from __future__ import annotations


class VibeError(Exception):
    """Base of every error Core Vibe HQ raises on purpose."""


class NotFound(VibeError, LookupError):
    """What the request names does not exist."""


class Refused(VibeError):
    """The state of things does not allow the request."""


class Invalid(VibeError, ValueError):
    """The request's input is wrong; `field` names the part at fault, `code` (if any)
    the rule it broke, for a client to act on."""

    field: str | None = None
    code: str | None = None


class Forbidden(VibeError):
    """The caller's identity or rights do not allow the request."""


class Busy(VibeError):
    """Contended or unavailable for a moment; retry after `retry_after` seconds."""

    retry_after: int = 1
