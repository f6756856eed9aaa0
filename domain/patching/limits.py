"""Size limits on patches, so one factory cannot exhaust memory or the log."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

MiB = 1024 * 1024


class PatchLimits(Struct, frozen=True):
    """Configurable (see the `VIBEHQ_MAX_*` settings); defaults suit source trees."""

    max_file_bytes: Annotated[int, Meta(ge=1)] = 10 * MiB
    max_operations: Annotated[int, Meta(ge=1)] = 1000
    max_patch_bytes: Annotated[int, Meta(ge=1)] = 32 * MiB
    max_path_bytes: Annotated[int, Meta(ge=1, le=4096)] = 1024
