"""Settings from environment variables: one table, one place, one clear error per bad value.

The table `SETTINGS` is the single source for the loader, `vibehq doctor` and the
README's configuration section (a test keeps them in step).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Final, Literal

import msgspec
import msgspec.inspect
from msgspec import Meta, Struct

from domain.decoding import field_of
from domain.patching.limits import PatchLimits

#: Groups of appends on their way at once, per process (group commit; docs/event-store.md).
#: One: under the HTTP load (2 workers, 32 factories) it measured PostgreSQL's CPU per
#: submission 10-30% lower than two, and p99 latency lower, in four interleaved pairs;
#: appends at 8 writers in one process were the same within noise (docs/benchmarks.md).
DEFAULT_APPEND_GROUPS: Final = 1


class Settings(Struct, frozen=True, forbid_unknown_fields=True):
    """Everything configurable; `SETTINGS` below maps each field to its variable."""

    database_url: str | None = None
    nats_url: str | None = None
    nats_token: str | None = None
    nats_creds: str | None = None
    nats_nkey: str | None = None
    nats_tls_ca: str | None = None
    nats_tls_cert: str | None = None
    nats_tls_key: str | None = None
    data_dir: str = ".vibehq"
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8000
    workers: Annotated[int, Meta(ge=1, le=64)] = 1
    db_pool_size: Annotated[int, Meta(ge=1, le=500)] = 20
    append_groups: Annotated[int, Meta(ge=0, le=64)] = DEFAULT_APPEND_GROUPS
    poll_interval: Annotated[float, Meta(gt=0, le=60)] = 0.5
    tracing: Literal["off", "console", "otlp"] = "off"
    otlp_endpoint: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    auth: Literal["on", "off"] = "on"
    limit_writes: Annotated[int, Meta(ge=0)] = 1200
    limit_workspaces: Annotated[int, Meta(ge=0)] = 1000
    cors_origins: Annotated[str, Meta(pattern=r"^(\*|[^,\s]+(,[^,\s]+)*)$")] | None = None
    max_file_bytes: Annotated[int, Meta(ge=1)] = 10 * 1024 * 1024
    max_operations: Annotated[int, Meta(ge=1)] = 1000
    max_patch_bytes: Annotated[int, Meta(ge=1)] = 32 * 1024 * 1024
    max_event_bytes: Annotated[int, Meta(ge=4096, le=64 * 1024 * 1024)] = 512 * 1024
    stuck_after: Annotated[float, Meta(gt=0)] = 60.0
    snapshot_every: Annotated[int, Meta(ge=1)] = 100
    aggregate_cache: Annotated[int, Meta(ge=0)] = 1000
    content_cache_mb: Annotated[int, Meta(ge=0)] = 64
    background: Literal["on", "off"] = "on"
    nats_prefix: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = "vibehq"
    nats_replicas: Annotated[int, Meta(ge=1, le=5)] = 1
    nats_storage: Literal["file", "memory"] = "file"
    nats_cluster: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]+$")] | None = None
    nats_tags: Annotated[str, Meta(pattern=r"^[^,\s]+(,[^,\s]+)*$")] | None = None
    nats_events_hours: Annotated[float, Meta(gt=0)] = 168.0
    nats_terminal_hours: Annotated[float, Meta(gt=0)] = 24.0
    fanout_behind: Annotated[float, Meta(gt=0)] = 30.0
    stream_buffer: Annotated[int, Meta(ge=10, le=1_000_000)] = 1000
    follower_batch: Annotated[int, Meta(ge=1, le=10_000)] = 500
    follower_linger: Annotated[float, Meta(ge=0, le=1)] = 0.02
    signing_key: str | None = None
    master_key: str | None = None
    verify_key: str | None = None
    checkpoint_every: Annotated[int, Meta(ge=1)] = 1000
    checkpoint_seconds: Annotated[float, Meta(ge=0)] = 10.0


#: env var -> (field, what it means). Order is the README's order.
SETTINGS: Final[dict[str, tuple[str, str]]] = {
    "VIBEHQ_DATABASE_URL": (
        "database_url",
        "PostgreSQL URL. Unset: start (or reuse) an embedded PostgreSQL in the data folder.",
    ),
    "VIBEHQ_NATS_URL": (
        "nats_url",
        "NATS URL (JetStream enabled), or several, comma-separated, for a cluster "
        "(`nats://n1:4222,nats://n2:4222`). Unset: start (or reuse) an embedded nats-server.",
    ),
    "VIBEHQ_NATS_TOKEN": ("nats_token", "Token NATS asks for (or put it in the URL: `token@`)."),
    "VIBEHQ_NATS_CREDS": (
        "nats_creds",
        "Path of a NATS credentials file (user JWT and NKey seed, as `nsc` writes it).",
    ),
    "VIBEHQ_NATS_NKEY": ("nats_nkey", "Path of a NATS NKey seed file (`SU...`)."),
    "VIBEHQ_NATS_TLS_CA": (
        "nats_tls_ca",
        "CA bundle that NATS servers' certificates must chain to (TLS; a `tls://` URL "
        "without it trusts the system's CAs).",
    ),
    "VIBEHQ_NATS_TLS_CERT": (
        "nats_tls_cert",
        "Client certificate for NATS mutual TLS (with `VIBEHQ_NATS_TLS_KEY`).",
    ),
    "VIBEHQ_NATS_TLS_KEY": ("nats_tls_key", "Private key of `VIBEHQ_NATS_TLS_CERT`."),
    "VIBEHQ_DATA_DIR": ("data_dir", "Folder for the embedded engines' data."),
    "VIBEHQ_HOST": ("host", "Address the HTTP server binds."),
    "VIBEHQ_PORT": ("port", "HTTP port; `0` picks a free port."),
    "VIBEHQ_WORKERS": ("workers", "HTTP worker processes."),
    "VIBEHQ_DB_POOL_SIZE": ("db_pool_size", "PostgreSQL connections per process."),
    "VIBEHQ_APPEND_GROUPS": (
        "append_groups",
        "Group commit: one-event appends that arrive while this many groups are on their "
        "way wait and leave together, in one statement and one commit, each with its own "
        "outcome. `0` sends every append alone.",
    ),
    "VIBEHQ_POLL_INTERVAL": (
        "poll_interval",
        "Seconds between log polls when LISTEN/NOTIFY is silent.",
    ),
    "VIBEHQ_TRACING": ("tracing", "OpenTelemetry tracing: `off`, `console` or `otlp`."),
    "VIBEHQ_OTLP_ENDPOINT": (
        "otlp_endpoint",
        "OTLP/HTTP traces endpoint; unset uses the exporter's default / OTEL_* variables.",
    ),
    "VIBEHQ_LOG_LEVEL": ("log_level", "`debug`, `info`, `warning` or `error`."),
    "VIBEHQ_LOG_FORMAT": (
        "log_format",
        "`text` for a terminal, or `json`: one object per line with time, level, logger, "
        "message, and the trace_id/span_id and actor of the request where known.",
    ),
    "VIBEHQ_AUTH": (
        "auth",
        "`on`: bearer tokens required. `off`: no auth, for local demos only.",
    ),
    "VIBEHQ_LIMIT_WRITES": (
        "limit_writes",
        "Recording writes per actor per minute (bursts of a minute's worth); `0`: no limit.",
    ),
    "VIBEHQ_LIMIT_WORKSPACES": (
        "limit_workspaces",
        "Workspaces an actor may create per UTC day; `0`: no limit.",
    ),
    "VIBEHQ_CORS_ORIGINS": (
        "cors_origins",
        "Web origins whose pages may call the API and read its feeds, comma-separated "
        "(`https://console.example.com`), or `*`. Unset: none (same-origin only).",
    ),
    "VIBEHQ_MAX_FILE_BYTES": (
        "max_file_bytes",
        "Largest file a patch may produce.",
    ),
    "VIBEHQ_MAX_OPERATIONS": ("max_operations", "Most operations in one patch."),
    "VIBEHQ_MAX_PATCH_BYTES": (
        "max_patch_bytes",
        "Most content bytes one patch may carry.",
    ),
    "VIBEHQ_MAX_EVENT_BYTES": (
        "max_event_bytes",
        "Largest event (its encoded payload) a command may record; larger ones are "
        "refused with 422 `event_too_large`. Keep it under NATS's max payload (1 MiB "
        "by default); the relay publishes a larger event without its payload.",
    ),
    "VIBEHQ_STUCK_AFTER": (
        "stuck_after",
        "Seconds a projection or the relay may hold events without advancing before "
        "`/ready` and the ops overview call it stuck.",
    ),
    "VIBEHQ_SNAPSHOT_EVERY": (
        "snapshot_every",
        "Snapshot a workspace every N versions, so loading it stays fast.",
    ),
    "VIBEHQ_AGGREGATE_CACHE": (
        "aggregate_cache",
        "Aggregates (workspaces, tasks) each process keeps after saving them, so the next "
        "command on one loads nothing; a stale one costs a retry, never a wrong outcome. "
        "`0` turns it off.",
    ),
    "VIBEHQ_CONTENT_CACHE_MB": (
        "content_cache_mb",
        "MiB of file contents (by sha256) each process keeps for the patch engine. "
        "`0` turns it off.",
    ),
    "VIBEHQ_BACKGROUND": (
        "background",
        "`on`: `serve` also runs the projections and the NATS relay (with several "
        "workers once, in the supervisor; one active per database, the rest stand by). "
        "`off`: run them with `vibehq worker`.",
    ),
    "VIBEHQ_NATS_PREFIX": (
        "nats_prefix",
        "First token of every NATS subject and JetStream stream name.",
    ),
    "VIBEHQ_NATS_REPLICAS": (
        "nats_replicas",
        "Replicas of each JetStream stream: 1 on a single server (embedded), 3 on a "
        "cluster. Raised on an existing stream at start; never lowered.",
    ),
    "VIBEHQ_NATS_STORAGE": ("nats_storage", "Stream storage: `file` or `memory`."),
    "VIBEHQ_NATS_CLUSTER": (
        "nats_cluster",
        "Place the streams in this JetStream cluster. Unset: the server's own.",
    ),
    "VIBEHQ_NATS_TAGS": (
        "nats_tags",
        "Place the streams on servers with these tags, comma-separated. Unset: any.",
    ),
    "VIBEHQ_NATS_EVENTS_HOURS": (
        "nats_events_hours",
        "How long the events stream keeps messages, in hours (feeds resume within it).",
    ),
    "VIBEHQ_NATS_TERMINAL_HOURS": (
        "nats_terminal_hours",
        "How long the terminal stream keeps output, in hours.",
    ),
    "VIBEHQ_FANOUT_BEHIND": (
        "fanout_behind",
        "Seconds the relay may trail the log before `/ready` says `degraded` (fan-out behind).",
    ),
    "VIBEHQ_STREAM_BUFFER": (
        "stream_buffer",
        "Messages a WebSocket/SSE client may fall behind before it is told and disconnected.",
    ),
    "VIBEHQ_FOLLOWER_BATCH": (
        "follower_batch",
        "Events a projection or the relay handles per transaction/publish.",
    ),
    "VIBEHQ_FOLLOWER_LINGER": (
        "follower_linger",
        "Seconds a projection or the relay lets events gather after a short batch: the "
        "first event after a quiet spell goes at once, under load batches fill up. "
        "`0` handles every wake-up at once.",
    ),
    "VIBEHQ_SIGNING_KEY": (
        "signing_key",
        "Ed25519 private seed (32 bytes, base64) that signs log checkpoints. Unset: a key "
        "created once in the data folder (`signing-key`).",
    ),
    "VIBEHQ_MASTER_KEY": (
        "master_key",
        "32-byte key (base64) that wraps the secrets' data keys. Unset: a key ring "
        "created once in the data folder (`master-keys`, mode 0600).",
    ),
    "VIBEHQ_VERIFY_KEY": (
        "verify_key",
        "Ed25519 public key (base64) `vibehq audit verify` trusts. Unset: the signing key's.",
    ),
    "VIBEHQ_CHECKPOINT_EVERY": (
        "checkpoint_every",
        "Sign the global chain's head at least every N events.",
    ),
    "VIBEHQ_CHECKPOINT_SECONDS": (
        "checkpoint_seconds",
        "...or when caught up and this many seconds passed since the last one.",
    ),
}

#: Settings whose values are secrets: shown as set/unset, never printed.
SECRET_FIELDS: Final = frozenset({"signing_key", "master_key", "nats_token"})
#: Settings that are URLs and may carry a password: printed with it masked.
URL_FIELDS: Final = frozenset({"database_url", "nats_url", "otlp_endpoint"})
_MIB: Final = 1024 * 1024


def default_text(name: str) -> str | None:
    """The default of variable `name` as the docs show it (`None`: unset by default)."""
    field = SETTINGS[name][0]
    value = getattr(_DEFAULTS, field)
    if value is None:
        return None
    if field.endswith("_bytes") and isinstance(value, int) and value % _MIB == 0:
        return f"{value // _MIB} MiB"
    if field.endswith("_bytes") and isinstance(value, int) and value % 1024 == 0:
        return f"{value // 1024} KiB"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def env_default(name: str) -> str | None:
    """The default of variable `name` written as its environment value would be."""
    value = getattr(_DEFAULTS, SETTINGS[name][0])
    if value is None:
        return None
    return f"{value:g}" if isinstance(value, float) else str(value)


def help_text(name: str) -> str:
    """What variable `name` means, ending with its default when it has one."""
    meaning = SETTINGS[name][1]
    default = default_text(name)
    return meaning if default is None else f"{meaning} Default `{default}`."


def shown_value(name: str, value: str) -> str:
    """`value` of variable `name` fit to print: secrets hidden, URL passwords masked."""
    field = SETTINGS[name][0]
    if not value:
        return value
    if field in SECRET_FIELDS:
        return "(set, hidden)"
    if field in URL_FIELDS:
        return mask_password(value)
    return value


def mask_password(url: str) -> str:
    """`url` with its secrets replaced by `***`: a password, or a NATS token (`nats://tok@h`).

    Takes a comma-separated list of URLs too, as NATS does.
    """
    return ",".join(_mask_one(part) for part in url.split(","))


_QUERY_TOKEN: Final = re.compile(r"([?&]token=)[^&\s\"]+")


def mask_query_token(text: str) -> str:
    """`text` with every `?token=`/`&token=` value replaced by `***` (feeds take the
    token in the query, since browsers cannot set headers there)."""
    return _QUERY_TOKEN.sub(r"\1***", text)


def _mask_one(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _ = userinfo.partition(":")
    if colon:
        return f"{scheme}{sep}{user}:***{at}{host}"
    is_token = scheme.startswith(("nats", "tls", "ws"))
    return f"{scheme}{sep}{'***' if is_token else user}{at}{host}"


#: Also honoured, for platforms that inject these names.
_FALLBACKS: Final = {"DATABASE_URL": "VIBEHQ_DATABASE_URL", "NATS_URL": "VIBEHQ_NATS_URL"}


class SettingsError(ValueError):
    """A setting has a value we cannot use; str() is one line naming the variable."""


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read Settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    for fallback, name in _FALLBACKS.items():
        if env.get(fallback):
            values[SETTINGS[name][0]] = env[fallback]
    for name, (field, _) in SETTINGS.items():
        if env.get(name):
            values[field] = env[name]
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as error:
        violation = field_of(error)
        variable = next((n for n, (f, _) in SETTINGS.items() if f == violation.field), "settings")
        given = values.get(violation.field, "")
        reason = violation.reason + _choices(violation.field)
        raise SettingsError(f"{variable}={given!r} is invalid: {reason}") from None


def _choices(field: str) -> str:
    """ " (one of: a, b)" for a field that takes a fixed set of values."""
    info = msgspec.inspect.type_info(Settings)
    assert isinstance(info, msgspec.inspect.StructType)
    for candidate in info.fields:
        if candidate.name == field and isinstance(candidate.type, msgspec.inspect.LiteralType):
            return f" (one of: {', '.join(map(str, candidate.type.values))})"
    return ""


_DEFAULTS: Final = Settings()


def patch_limits(settings: Settings) -> PatchLimits:
    return PatchLimits(
        max_file_bytes=settings.max_file_bytes,
        max_operations=settings.max_operations,
        max_patch_bytes=settings.max_patch_bytes,
    )


def data_folder(settings: Settings) -> Path:
    """The embedded engines' data folder as an absolute path."""
    return Path(settings.data_dir).resolve()
