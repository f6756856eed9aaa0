"""Every message that crosses a boundary of Core Vibe HQ, as immutable msgspec structs.

One module, so that a client author reads one file to learn the wire format and
`vibehq schema export` can publish JSON Schema for all of it. The structs live in
the domain because the patch engine reasons about operations directly; msgspec is a
serialisation library, not I/O, so the domain stays pure.

Tagged unions (`op` for patch operations, `kind` for stream messages) let a decoder
pick the right type from one field, and let OpenAPI/JSON Schema describe the choice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from msgspec import Meta, Struct

# --- shared field shapes ------------------------------------------------------------

#: The largest position, version or sequence number anything stores (PostgreSQL bigint).
MAX_COUNTER: Final = 2**63 - 1

NonEmptyText = Annotated[str, Meta(min_length=1)]
RelativePath = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=1024,
        description="Relative POSIX path inside the workspace, e.g. `src/app.py`.",
        examples=["src/app.py"],
    ),
]
Identifier = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$",
        description="Printable identifier: letters, digits and . _ : @ / -",
    ),
]
#: A note a person or factory writes (a patch's message, a delivery's summary).
Note = Annotated[str, Meta(max_length=20_000)]
NonNegative = Annotated[int, Meta(ge=0)]
Positive = Annotated[int, Meta(ge=1)]
FileMode = Literal["100644", "100755"]
ContentEncoding = Literal["utf-8", "base64"]


class _Contract(Struct, frozen=True, forbid_unknown_fields=True):
    """Immutable, and strict about unknown fields so that typos fail loudly."""


class _Operation(_Contract, frozen=True, tag_field="op"):
    """A patch operation; `op` names which."""


class _StreamMessage(_Contract, frozen=True, tag_field="kind"):
    """A WebSocket/NATS message; `kind` names which."""


# --- patch operations -----------------------------------------------------------------


class CreateFile(_Operation, frozen=True, tag="create_file"):
    """Create a file that must not exist yet."""

    path: RelativePath
    content: str
    encoding: ContentEncoding = "utf-8"
    mode: FileMode = "100644"


class WriteFile(_Operation, frozen=True, tag="write_file"):
    """Create a file or replace it whole."""

    path: RelativePath
    content: str
    encoding: ContentEncoding = "utf-8"
    mode: FileMode = "100644"


class SearchReplace(_Contract, frozen=True, omit_defaults=True):
    """One edit: `search` is replaced where it matches once and only once
    (docs/patches.md says what counts as a match), or, with `replace_all` /
    `expected_replacements`, at every exact occurrence. An empty `search` fills a new
    or empty file."""

    search: Annotated[str, Meta(description="The text to find; empty fills an empty file.")]
    replace: str
    replace_all: Annotated[
        bool, Meta(description="Replace every exact occurrence (at least one).")
    ] = False
    expected_replacements: (
        Annotated[int, Meta(ge=1, description="Exactly this many exact occurrences.")] | None
    ) = None


class EditFile(_Operation, frozen=True, tag="edit_file"):
    """Apply search/replace blocks in order; each must match exactly once."""

    path: RelativePath
    edits: Annotated[list[SearchReplace], Meta(min_length=1)]


class ApplyDiff(_Operation, frozen=True, tag="apply_diff"):
    """Apply unified diff hunks (with context lines) to one file."""

    path: RelativePath
    diff: NonEmptyText


class DeleteFile(_Operation, frozen=True, tag="delete_file"):
    """Delete a file that must exist."""

    path: RelativePath


class RenameFile(_Operation, frozen=True, tag="rename_file"):
    """Move `path` to `to`; the source must exist and the target must not."""

    path: RelativePath
    to: RelativePath


class ApplyPatch(_Operation, frozen=True, tag="apply_patch"):
    """A whole change in one text, applied all or nothing: OpenAI's apply_patch envelope
    (`*** Begin Patch` ...) or a multi-file unified diff (`git diff -M`, `git
    format-patch`, `diff -ruN`). docs/patches.md says what each may hold."""

    patch: Annotated[str, Meta(min_length=1, description="The envelope or the diff.")]


PatchOperation = (
    CreateFile | WriteFile | EditFile | ApplyDiff | DeleteFile | RenameFile | ApplyPatch
)


# --- files, changes and patch outcomes ----------------------------------------------------

ChangeKind = Literal["added", "modified", "deleted", "renamed"]
PatchOutcome = Literal["applied", "rejected", "reverted"]


class FileEntry(_Contract, frozen=True):
    """A file in a workspace tree; its bytes live in the blob store under `sha256`."""

    sha256: str
    mode: FileMode
    size: NonNegative


class FileChange(_Contract, frozen=True):
    """The net effect of one patch on one path (a rename reports the new path)."""

    path: str
    change: ChangeKind
    before: FileEntry | None
    after: FileEntry | None
    renamed_from: str | None = None
    lines_added: NonNegative = 0
    lines_removed: NonNegative = 0
    binary: bool = False


class PathConflict(_Contract, frozen=True):
    """A path the patch touches that changed after its base, and the version that did it."""

    path: str
    changed_in_version: Positive


class PatchSubmission(_Contract, frozen=True):
    """What a factory sends to change a workspace: all operations apply, or none."""

    workspace_id: UUID
    base_version: NonNegative
    author: Identifier
    task_id: Identifier
    #: Without one, a retry cannot be recognised and records a second outcome.
    idempotency_key: Annotated[str, Meta(min_length=1, max_length=200)] | None
    operations: Annotated[list[PatchOperation], Meta(min_length=1)]
    message: Note = ""


class PatchRequest(_Contract, frozen=True):
    """`POST /workspaces/{id}/patches`: a submission whose workspace is in the URL.

    `author` is the caller's token actor: it may be left out or name that actor, and
    naming another is refused (403). The `Idempotency-Key` header may stand in for
    `idempotency_key` (if both are given they must agree).
    """

    base_version: NonNegative
    task_id: Identifier
    operations: Annotated[list[PatchOperation], Meta(min_length=1)]
    message: Note = ""
    author: Identifier | None = None
    idempotency_key: Annotated[str, Meta(min_length=1, max_length=200)] | None = None


class NewWorkspace(_Contract, frozen=True):
    """`POST /workspaces`: a name and, optionally, the files to start from."""

    name: Annotated[str, Meta(min_length=1, max_length=200)]
    files: list[CreateFile] = []
    task_id: Identifier = "workspace-init"


#: What a grant lets another actor do with a workspace: `read` it (and watch its feed),
#: or also `write` (patch and revert). Its creator owns it: everything, grants included.
WorkspaceAccess = Literal["read", "write"]


class GrantRequest(_Contract, frozen=True):
    """`POST /workspaces/{id}/grants` or `/tasks/{id}/grants`: let `actor` read, or
    read and write, this workspace or task."""

    actor: Identifier
    access: WorkspaceAccess


class TaskGrants(_Contract, frozen=True):
    """Who may do what with a task: its owner ("" if recorded before owners), and the
    actors granted access."""

    task_id: str
    owner: str
    grants: dict[str, WorkspaceAccess]
    version: Positive
    position: NonNegative = 0
    #: True when an idempotent retry returned the first answer instead of recording.
    duplicate: bool = False


class WorkspaceGrants(_Contract, frozen=True):
    """Who may do what with a workspace: its owner, and the actors granted access."""

    workspace_id: UUID
    owner: str
    grants: dict[str, WorkspaceAccess]
    version: Positive
    position: NonNegative = 0
    #: True when an idempotent retry returned the first answer instead of recording.
    duplicate: bool = False


class RevertRequest(_Contract, frozen=True):
    """`POST /patches/{id}/revert`: under which task (`author`, if given, must be the
    token's actor)."""

    task_id: Identifier
    message: Note = ""
    author: Identifier | None = None


#: How an operation's part applied when it did not match exactly as written
#: (docs/patches.md, "What is tolerated"): a hunk's counts `recounted`; a hunk found
#: away from its stated line (`offset`) or placed by context alone (`no_line_numbers`);
#: lines equal up to `line_endings`, trailing `whitespace` or typographic `punctuation`
#: (dashes, quotes, non-breaking spaces); context `reindented`; a search found
#: `inside_line`, `reindented`, or after `blank_lines_trimmed`; a file that kept ending
#: without a newline (`final_newline_kept`); an empty search that `filled` an empty file.
MatchKind = Literal[
    "recounted",
    "offset",
    "no_line_numbers",
    "line_endings",
    "whitespace",
    "punctuation",
    "inside_line",
    "reindented",
    "blank_lines_trimmed",
    "final_newline_kept",
    "filled",
]


class Tolerance(_Contract, frozen=True):
    """One place where the engine applied what was meant rather than what was written."""

    #: The operation's index in the patch.
    operation: NonNegative
    path: str
    #: The hunk (`apply_diff`) or edit block (`edit_file`) index within the operation.
    part: NonNegative
    kind: MatchKind
    detail: str = ""


class PatchRecord(_Contract, frozen=True):
    """One recorded patch outcome: what a factory gets back and what history lists.

    `patch_id` is the id of the event that recorded the outcome. `version` is the
    workspace version that event created. `duplicate` is true when an idempotent
    retry returned the original outcome instead of recording a new one.
    """

    patch_id: UUID
    workspace_id: UUID
    outcome: PatchOutcome
    version: Positive
    position: Positive
    recorded_at: datetime
    actor: str
    author: str
    task_id: str
    message: str = ""
    base_version: NonNegative | None = None
    changes: list[FileChange] = []
    lines_added: NonNegative = 0
    lines_removed: NonNegative = 0
    reason: str | None = None
    operation: NonNegative | None = None
    path: str | None = None
    detail: str | None = None
    conflicts: list[PathConflict] = []
    reverted_patch_id: UUID | None = None
    duplicate: bool = False
    #: Where the engine was lenient (empty when everything matched as written).
    tolerances: list[Tolerance] = []


class WorkspaceSummary(_Contract, frozen=True):
    """A workspace at one version."""

    id: UUID
    name: str
    version: NonNegative
    created_by: str
    created_at: datetime
    modified_at: datetime
    archived: bool
    file_count: NonNegative
    total_bytes: NonNegative
    patches_applied: NonNegative
    patches_rejected: NonNegative
    #: True when this answers a retry of an earlier request with the same Idempotency-Key.
    duplicate: bool = False


class WorkspacePage(_Contract, frozen=True):
    """`GET /workspaces`: one page, newest first; pass `next_cursor` as `cursor` for more."""

    items: list[WorkspaceSummary]
    next_cursor: str | None
    as_of_position: NonNegative


class PatchPreview(_Contract, frozen=True):
    """`POST /workspaces/{id}/patches?dry_run=true`: what the patch would do, decided as a
    submission is; nothing is recorded. `diff` is the git-style diff it would make."""

    workspace_id: UUID
    #: The workspace version the patch was decided against.
    version: NonNegative
    outcome: Literal["applied", "rejected"]
    changes: list[FileChange] = []
    lines_added: NonNegative = 0
    lines_removed: NonNegative = 0
    tolerances: list[Tolerance] = []
    diff: str = ""
    reason: str | None = None
    operation: NonNegative | None = None
    path: str | None = None
    detail: str | None = None
    conflicts: list[PathConflict] = []


class PatchRecordPage(_Contract, frozen=True):
    """`GET /workspaces/{id}/patches`: outcomes in version order; `next_cursor` continues."""

    items: list[PatchRecord]
    next_cursor: str | None
    as_of_position: NonNegative


class EventPage(_Contract, frozen=True):
    """`GET /workspaces/{id}/events`: events in version order; `next_cursor` continues."""

    items: list[EventEnvelope]
    next_cursor: str | None
    as_of_position: NonNegative


class FileListing(_Contract, frozen=True):
    """The tree of a workspace at one version: path -> blob hash, mode, size."""

    workspace_id: UUID
    version: NonNegative
    files: dict[str, FileEntry]


# --- delivery: checks and task deliveries -----------------------------------------------

CheckStatus = Literal["passed", "failed", "error", "skipped"]
DeliveryStatus = Literal["in_progress", "delivered", "failed"]


class CheckRun(_Contract, frozen=True):
    """One check a factory ran (tests, lint, build): its verdict and what it printed."""

    name: Identifier
    status: CheckStatus
    duration_ms: NonNegative = 0
    summary: Annotated[str, Meta(max_length=4000)] = ""


class ChecksRequest(_Contract, frozen=True):
    """`POST /tasks/{id}/checks`: results for the task, or for one patch of it.
    `factory`, if given, must be the token's actor."""

    checks: Annotated[list[CheckRun], Meta(min_length=1, max_length=500)]
    factory: Identifier | None = None
    patch_id: UUID | None = None


class Cost(_Contract, frozen=True):
    """What producing a delivery cost: model tokens and money."""

    input_tokens: NonNegative = 0
    output_tokens: NonNegative = 0
    usd: Annotated[float, Meta(ge=0)] = 0.0


class DeliveryRequest(_Contract, frozen=True):
    """`POST /tasks/{id}/deliver`: the factory says the task is done, and with what.
    `factory`, if given, must be the token's actor."""

    summary: Annotated[Note, Meta(min_length=1)]
    workspace_id: UUID
    final_version: Positive
    artefacts: Annotated[
        list[Annotated[str, Meta(min_length=1, max_length=2000)]], Meta(max_length=200)
    ] = []
    cost: Cost | None = None
    factory: Identifier | None = None


class Recorded(_Contract, frozen=True):
    """Where a command's events landed. Pass `position` as `after_position` to a read
    model to wait until it has caught up with your own write."""

    stream_id: UUID
    version: Positive
    position: Positive
    recorded_at: datetime
    duplicate: bool = False


class Delivery(_Contract, frozen=True):
    summary: str
    workspace_id: UUID
    final_version: Positive
    artefacts: list[str]
    delivered_at: datetime
    cost: Cost | None = None


class ReportedCheck(_Contract, frozen=True):
    """The latest run of one named check, and how many runs were reported."""

    name: str
    status: CheckStatus
    duration_ms: NonNegative
    summary: str
    reported_at: datetime
    runs: Positive
    patch_id: UUID | None = None


class FactoryDelivery(_Contract, frozen=True):
    """What one factory did for one task."""

    task_id: str
    factory: str
    status: DeliveryStatus
    patches_applied: NonNegative
    patches_rejected: NonNegative
    patches_reverted: NonNegative
    files_touched: NonNegative
    lines_added: NonNegative
    lines_removed: NonNegative
    first_activity: datetime
    last_activity: datetime
    duration_seconds: float
    workspaces: list[UUID]
    checks: list[ReportedCheck]
    delivery: Delivery | None = None


class DeliveryReport(_Contract, frozen=True):
    """`GET /tasks/{id}/delivery-report`: every factory's part in a task."""

    task_id: str
    status: DeliveryStatus
    factories: list[FactoryDelivery]
    as_of_position: NonNegative


class DeliveryReportPage(_Contract, frozen=True):
    """`GET /delivery-reports`: one page; pass `next_cursor` as `cursor` for the next."""

    items: list[FactoryDelivery]
    next_cursor: str | None
    as_of_position: NonNegative


# --- ops: signals, heartbeats, incidents, health ------------------------------------------

Severity = Literal["debug", "info", "warning", "error", "critical"]
Health = Literal["healthy", "degraded", "down", "stale"]
#: What a source may say of itself in a heartbeat (stale is only ever inferred).
HeartbeatStatus = Literal["healthy", "degraded", "down"]
IncidentStatus = Literal["open", "acknowledged", "resolved"]
IncidentStep = Literal["opened", "reopened", "acknowledged", "resolved"]


class OpsEventRequest(_Contract, frozen=True):
    """`POST /ops/events`: something happened in a service or factory.

    An `error` or `critical` event opens an incident for (source, kind) unless one is
    already open."""

    source: Identifier
    kind: Identifier
    severity: Severity
    message: Note = ""
    attributes: Annotated[
        dict[Annotated[str, Meta(max_length=200)], Annotated[str, Meta(max_length=2000)]],
        Meta(max_length=100),
    ] = {}


class HeartbeatRequest(_Contract, frozen=True):
    """`POST /ops/heartbeats`: a source says it is alive, and how often it will say so."""

    source: Identifier
    status: HeartbeatStatus = "healthy"
    interval_seconds: Annotated[float, Meta(gt=0, le=86_400)] = 30.0


class IncidentRequest(_Contract, frozen=True):
    """`POST /ops/incidents`: open an incident by hand."""

    source: Identifier
    title: Annotated[str, Meta(min_length=1, max_length=500)]
    kind: Identifier = "manual"
    severity: Severity = "error"


class OpsEventRecorded(_Contract, frozen=True):
    """`POST /ops/events`: where the event landed, and the incident it opened or joined."""

    recorded: Recorded
    incident_id: UUID | None = None
    incident_opened: bool = False
    #: Where the opening landed (wait for this position to read the incident).
    incident_recorded: Recorded | None = None


class IncidentNote(_Contract, frozen=True):
    """`POST /ops/incidents/{id}/ack` or `/resolve`: an optional note for the record."""

    note: Annotated[str, Meta(max_length=4000)] = ""


class IncidentView(_Contract, frozen=True):
    id: UUID
    source: str
    kind: str
    title: str
    severity: Severity
    status: IncidentStatus
    occurrence: Positive
    events: NonNegative
    opened_at: datetime
    opened_by: str
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str = ""


class IncidentPage(_Contract, frozen=True):
    """`GET /ops/incidents`: most recently changed first; `next_cursor` continues."""

    items: list[IncidentView]
    next_cursor: str | None
    as_of_position: NonNegative


class SourceHealth(_Contract, frozen=True):
    """One source's health now, and why: heartbeats, recent errors, open incidents."""

    source: str
    health: Health
    reason: str
    last_heartbeat_at: datetime | None
    last_seen_at: datetime | None
    errors: dict[str, NonNegative]
    warnings: dict[str, NonNegative]


#: `current`: nothing pending; `catching_up`: pending and advancing; `stuck`: events
#: older than VIBEHQ_STUCK_AFTER pending and no progress for as long; `stopped`: no
#: process holds its lease.
FollowerState = Literal["current", "catching_up", "stuck", "stopped"]


class FollowerLag(_Contract, frozen=True):
    """How far a log follower (projection or relay) is behind the head of the log."""

    name: str
    position: NonNegative
    lag_events: NonNegative
    lag_seconds: float
    owner: str | None
    active: bool
    model_version: NonNegative
    updated_at: datetime | None
    state: FollowerState = "current"


class OpsAlertView(_Contract, frozen=True):
    position: Positive
    source: str
    kind: str
    severity: Severity
    message: str
    at: datetime
    attributes: dict[str, str] = {}


class OpsOverview(_Contract, frozen=True):
    """`GET /ops/overview`: health per source, open incidents, recent alerts, our own lags."""

    generated_at: datetime
    sources: list[SourceHealth]
    open_incidents: list[IncidentView]
    recent_alerts: list[OpsAlertView]
    followers: list[FollowerLag]


# --- the event envelope ------------------------------------------------------------------


class TraceContext(_Contract, frozen=True):
    """W3C trace context, so a patch can be followed from HTTP request to subscriber."""

    traceparent: str
    tracestate: str | None = None


class OmittedPayload(_Contract, frozen=True):
    """Why an envelope on NATS carries no payload, and where the event can be read whole.

    The relay publishes an event too large for the broker's message limit this way
    (its place in the stream is kept, so no subscriber sees a gap); `fetch` says how
    to read it from the log.
    """

    #: The encoded envelope's size in bytes, and the broker's limit it exceeded.
    size: Positive
    limit: Positive
    fetch: str


class EventEnvelope(_Contract, frozen=True):
    """A recorded event as every reader outside the store sees it.

    `position` orders the global log: strictly increasing in the order readers see it,
    but not dense (see docs/event-store.md for why). On NATS, `payload` is empty when
    `payload_omitted` is set (an event larger than the broker accepts).
    """

    id: UUID
    stream_id: UUID
    stream_type: str
    stream_version: Positive
    position: Positive
    type: str
    schema_version: Positive
    recorded_at: datetime
    correlation_id: UUID
    causation_id: UUID | None
    actor: str
    trace_context: TraceContext | None
    payload: dict[str, Any]
    payload_omitted: OmittedPayload | None = None


# --- stream messages (WebSocket and NATS) -----------------------------------------------


class TerminalOutput(_StreamMessage, frozen=True, tag="terminal_output"):
    """Bytes an agent's terminal wrote; `seq` lets a client resume without gaps or repeats."""

    session_id: Identifier
    seq: Positive
    data: str
    at: datetime


class TerminalChunk(_Contract, frozen=True):
    """`POST /terminal/{session}/output`: the session's next output, numbered by its
    writer (1, 2, 3...), so a retried chunk is recognised and a lost one noticed."""

    seq: Positive
    data: Annotated[str, Meta(max_length=262_144)]


class TerminalAccepted(_Contract, frozen=True):
    """Where a chunk stands: published now, or already (`duplicate`: a retry)."""

    session_id: str
    seq: Positive
    duplicate: bool = False


class TerminalInput(_StreamMessage, frozen=True, tag="terminal_input"):
    """Keystrokes sent to an agent's terminal; `actor` is who typed (set by the server)."""

    session_id: Identifier
    seq: Positive
    data: Annotated[str, Meta(max_length=65_536)]
    at: datetime
    actor: str = ""


class TerminalResize(_StreamMessage, frozen=True, tag="terminal_resize"):
    """The terminal window changed size."""

    session_id: Identifier
    seq: Positive
    cols: Annotated[int, Meta(ge=1, le=1000)]
    rows: Annotated[int, Meta(ge=1, le=1000)]
    at: datetime


class PatchNotification(_StreamMessage, frozen=True, tag="patch"):
    """A workspace changed, or a patch was turned away."""

    workspace_id: UUID
    patch_id: UUID
    outcome: Literal["applied", "rejected", "reverted"]
    version: NonNegative
    author: str
    task_id: str
    position: Positive
    paths: list[str] = []
    #: The feed's resume token: reconnect with `after=<seq>` to continue from here.
    seq: NonNegative = 0


class OpsAlert(_StreamMessage, frozen=True, tag="ops_alert"):
    """Something an operator should see."""

    source: Identifier
    severity: Severity
    alert: NonEmptyText
    message: str
    at: datetime
    attributes: dict[str, str] = {}
    seq: NonNegative = 0


class Heartbeat(_StreamMessage, frozen=True, tag="heartbeat"):
    """A service or factory saying it is alive; silence makes it stale."""

    source: Identifier
    at: datetime
    status: HeartbeatStatus = "healthy"
    seq: NonNegative = 0


class IncidentUpdate(_StreamMessage, frozen=True, tag="incident"):
    """An incident was opened, reopened, acknowledged or resolved, and by whom."""

    incident_id: UUID
    step: IncidentStep
    by: str
    at: datetime
    detail: str = ""
    seq: NonNegative = 0


class HealthChanged(_StreamMessage, frozen=True, tag="health"):
    """A source's health changed (or, first thing on a new connection, what it is)."""

    source: str
    health: Health
    reason: str
    at: datetime


class FeedLagged(_StreamMessage, frozen=True, tag="lagged"):
    """Last message before the server closes a feed the client could not keep up with.

    Reconnect with `after=<last_seq>` to continue without gaps."""

    last_seq: NonNegative
    limit: Positive
    message: str


#: What a terminal's viewer may send over its WebSocket.
TerminalControl = TerminalInput | TerminalResize

StreamMessage = (
    TerminalOutput
    | TerminalInput
    | TerminalResize
    | PatchNotification
    | OpsAlert
    | Heartbeat
    | IncidentUpdate
    | HealthChanged
    | FeedLagged
)


# --- decoding with errors that name the field ---------------------------------------------


# --- access: API tokens -------------------------------------------------------------

Scope = Literal["read", "write", "admin"]
ActorKind = Literal["factory", "user", "service"]


class TokenInfo(_Contract, frozen=True):
    """A token as listed (`vibehq tokens list`): everything but the secret."""

    id: UUID
    name: str
    actor: str
    kind: ActorKind
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


# --- service health and errors (HTTP) ----------------------------------------------------


class HealthCheck(_Contract, frozen=True):
    """One dependency's state, and what to do when it fails (`/ready`, `vibehq doctor`).

    A failing check that is not `required` leaves the service up but `degraded`
    (NATS away: writes work, live feeds wait)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


class Liveness(_Contract, frozen=True):
    """`GET /health`: the process answers."""

    status: Literal["ok"] = "ok"


ReadinessStatus = Literal["ready", "degraded", "not_ready"]


class Readiness(_Contract, frozen=True):
    """`GET /ready`: every dependency's check; `degraded` still takes traffic (200)."""

    status: ReadinessStatus
    checks: list[HealthCheck]


class Problem(Struct, frozen=True, omit_defaults=True):
    """An RFC 9457 problem document (`application/problem+json`) with our extensions.

    `field` names the request field at fault (a dotted path such as
    `operations[2].path`, a query parameter, or a header); patch rejections add the
    rejected patch's id, the operation, the path and conflicts.
    """

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    reason: str | None = None
    operation: int | None = None
    path: str | None = None
    patch_id: str | None = None
    version: int | None = None
    conflicts: list[PathConflict] = []
    errors: list[dict[str, str]] = []


# --- the audit trail -------------------------------------------------------------------


class TrailEntry(_Contract, frozen=True):
    """`vibehq audit trail --json`: one event, who recorded it and with which token."""

    position: int
    at: datetime
    actor: str
    token_id: UUID | None
    token_name: str | None
    token_revoked: bool
    event_type: str
    stream_type: str
    stream_id: UUID
    version: int
    correlation_id: UUID
    payload: dict[str, Any]


# --- the export file (`vibehq events export|import`): one JSON object per line ------------


class EventLine(Struct, frozen=True, tag="event", tag_field="kind"):
    """One stored event, with its hashes; `state` is the stored JSON, base64."""

    position: int
    stream_id: UUID
    version: int
    event_id: UUID
    stream_type: str
    event_type: str
    schema_version: int
    recorded_at: datetime
    correlation_id: UUID
    causation_id: UUID | None
    actor: str
    traceparent: str | None
    tracestate: str | None
    topic: str
    state: str
    prev_hash: str
    hash: str
    token_id: UUID | None = None


class BlobLine(Struct, frozen=True, tag="blob", tag_field="kind"):
    """File contents an event refers to, by sha256 (base64, raw or zlib)."""

    sha256: str
    size: int
    encoding: Literal["raw", "zlib"]
    data: str


class LinkLine(Struct, frozen=True, tag="link", tag_field="kind"):
    """The global chain's link at one position (a full export carries every one)."""

    position: int
    event_hash: str
    log_hash: str


class CheckpointLine(Struct, frozen=True, tag="checkpoint", tag_field="kind"):
    """A signed checkpoint of the chain's head."""

    to_position: int
    events: int
    log_hash: str
    public_key: str
    signature: str
    signed_at: datetime


ExportLine = EventLine | BlobLine | LinkLine | CheckpointLine


#: What `vibehq schema export` publishes, by file name.
PUBLISHED_SCHEMAS: Final[dict[str, Any]] = {
    "patch-operation": PatchOperation,
    "patch-submission": PatchSubmission,
    "patch-request": PatchRequest,
    "patch-record": PatchRecord,
    "event-envelope": EventEnvelope,
    "stream-message": StreamMessage,
    "export-line": ExportLine,
    "problem": Problem,
}


# -- secrets -------------------------------------------------------------------------------

SecretKind = Literal["api_key", "token", "password", "ssh_key", "certificate", "other"]
SecretName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$",
        description="Lower-case letters, digits, `.`, `_`, `-`; e.g. `openai-prod`.",
        examples=["openai-prod"],
    ),
]
#: What a principal may use a secret for: `env:NAME`, `file:PATH`, `provider:ID`, `git`.
Purpose = Annotated[
    str,
    Meta(
        pattern=r"^(env:[A-Z_][A-Z0-9_]{0,127}|file:[^\s]{1,512}|provider:[a-z0-9._-]{1,64}|git)$",
        examples=["env:OPENAI_API_KEY"],
    ),
]
#: At least 8 characters: shorter values cannot be masked in output without masking
#: ordinary text (infrastructure/secrets/redaction.py).
SecretValue = Annotated[str, Meta(min_length=8, max_length=65_536)]


class NewSecret(_Contract, frozen=True):
    """`POST /secrets`: a secret and its first value. Values only ever flow in."""

    name: SecretName
    value: SecretValue
    kind: SecretKind = "api_key"


class SecretValueRequest(_Contract, frozen=True):
    """`POST /secrets/{name}/versions`: the secret's next value (rotation)."""

    value: SecretValue


class SecretGrantRequest(_Contract, frozen=True):
    """`POST /secrets/{name}/grants`: let `principal` use the secret for `purpose`."""

    principal: Identifier
    purpose: Purpose
    expires_at: datetime | None = None


class ResolveRequest(_Contract, frozen=True):
    """`POST /secrets/{name}/resolve`: a service asks for the value, for a purpose."""

    purpose: Purpose


#: The longest a service may keep a value without asking again (one hour).
MAX_LEASE_SECONDS: Final = 3600


class LeaseRequest(_Contract, frozen=True):
    """`POST /secrets/{name}/lease`: a service that uses a value often (the model
    router) asks for it once, to keep for `ttl_seconds`; one event per lease."""

    purpose: Purpose
    ttl_seconds: Annotated[int, Meta(ge=1, le=MAX_LEASE_SECONDS)] = 300


class ShredRequest(_Contract, frozen=True):
    """`POST /secrets/{name}/shred`: `confirm` must repeat the secret's name."""

    confirm: str


class SecretVersionInfo(_Contract, frozen=True):
    version: Positive
    #: HMAC of the value under a key of the service's: compare, never reverse.
    fingerprint: str
    added_by: str
    added_at: datetime


class SecretGrantInfo(_Contract, frozen=True):
    principal: str
    purpose: str
    expires_at: datetime | None
    granted_by: str


class SecretInfo(_Contract, frozen=True):
    """A secret's metadata: never its value."""

    name: str
    kind: SecretKind
    owner: str
    created_at: datetime
    versions: list[SecretVersionInfo]
    grants: list[SecretGrantInfo]
    shredded: bool
    position: NonNegative = 0
    duplicate: bool = False


class SecretSummary(_Contract, frozen=True):
    """One secret in a list: what it is and how it stands, never its value."""

    name: str
    kind: SecretKind
    owner: str
    created_at: datetime
    #: When its last version was added (rotated).
    changed_at: datetime
    versions: NonNegative
    #: Principals holding a grant (expired ones included until revoked).
    grants: NonNegative
    shredded: bool


class SecretPage(_Contract, frozen=True):
    """`GET /secrets`: one page, by name; pass `next_cursor` as `cursor` for more."""

    items: list[SecretSummary]
    next_cursor: str | None
    as_of_position: NonNegative


class SecretRelease(_Contract, frozen=True):
    """One request for a secret's value: released (with its version) or denied (why)."""

    at: datetime
    principal: str
    purpose: str
    outcome: Literal["released", "leased", "denied"]
    version: NonNegative = 0
    reason: str = ""
    position: NonNegative = 0
    #: A lease's end.
    until: datetime | None = None


class SecretReleases(_Contract, frozen=True):
    name: str
    items: list[SecretRelease]


class ResolvedSecret(_Contract, frozen=True):
    """The one answer that carries a value: to a granted service, after recording it."""

    name: str
    version: Positive
    value: str


class LeasedSecret(_Contract, frozen=True):
    """A value to keep and use until `expires_at` (never past its grant's expiry);
    drop it sooner when the secret's grant is revoked, it is rotated or shredded (its
    events on NATS say so)."""

    name: str
    version: Positive
    value: str
    expires_at: datetime


EnvName = Annotated[str, Meta(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$", examples=["OPENAI_API_KEY"])]


class EnvBinding(_Contract, frozen=True):
    """Which secret becomes an environment variable, and whether a session may start
    without it."""

    secret: SecretName
    required: bool = True


class EnvProfileRequest(_Contract, frozen=True):
    """`PUT /env-profiles/{name}`: the variables an agent session of this kind gets."""

    variables: Annotated[dict[EnvName, EnvBinding], Meta(min_length=1, max_length=200)]


class EnvProfileInfo(_Contract, frozen=True):
    name: str
    owner: str
    variables: dict[str, EnvBinding]
    version: Positive


class ResolvedEnv(_Contract, frozen=True):
    """A profile's environment for one session: every release recorded first."""

    profile: str
    env: dict[str, str]
    #: Optional variables left out, and why (never a value).
    skipped: dict[str, str] = {}


#: What a limit policy applies to: recording writes, workspace creations, (when the
#: router and agent sessions land) model calls and session starts.
LimitGroup = Literal["writes", "workspaces", "model-calls", "session-starts", "auth-failures"]
LIMIT_GROUPS: Final[tuple[str, ...]] = (
    "writes",
    "workspaces",
    "model-calls",
    "session-starts",
    "auth-failures",
)


class LimitPolicySpec(_Contract, frozen=True):
    """`PUT /limits/{group}`: a rate (GCRA: `limit` per `per_seconds`, bursts of
    `burst`) or a quota (`limit` units per UTC-calendar window of `per_seconds`)."""

    kind: Literal["rate", "quota"]
    limit: Annotated[float, Meta(gt=0)]
    per_seconds: Annotated[float, Meta(gt=0, le=31_536_000)]
    #: Rates only: the largest burst (default: `limit`).
    burst: Annotated[float, Meta(gt=0)] | None = None
    #: `shadow`: decided and counted in /metrics, never refused (to try a policy out).
    mode: Literal["enforce", "shadow"] = "enforce"
    #: Whose budget: each actor's, or each API token's (an actor with several tokens
    #: gets one budget per token).
    key: Literal["actor", "token"] = "actor"
    #: Another `limit` for some actors (a factory with a bigger budget).
    overrides: Annotated[dict[Identifier, Annotated[float, Meta(gt=0)]], Meta(max_length=1000)] = {}
    #: Model calls: each call costs its model's weight (default 1).
    weights: Annotated[dict[str, Annotated[float, Meta(gt=0)]], Meta(max_length=200)] = {}


class LimitPolicyInfo(_Contract, frozen=True):
    group: LimitGroup
    spec: LimitPolicySpec
    #: `default` (from VIBEHQ_LIMIT_*) or `set` (recorded, with who and when).
    source: Literal["default", "set"]
    set_by: str = ""
    set_at: datetime | None = None


class LimitPolicies(_Contract, frozen=True):
    """`GET /limits`: the policies in force, by group; `version` counts changes."""

    policies: list[LimitPolicyInfo]
    version: NonNegative
    position: NonNegative = 0


class VerifiedMark(_Contract, frozen=True):
    """`audit-verified.json` in the data folder: where the last clean verification
    reached (infrastructure/audit/verified.py)."""

    position: NonNegative
    log_hash: str  # hex
    #: Hex of the key whose signatures it was verified against.
    public_key: str
    at: datetime
