"""Publish the wire contracts as JSON Schema files, one per top-level contract."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from domain.contracts import PUBLISHED_SCHEMAS


def export(directory: Path) -> list[Path]:
    """Write `<name>.schema.json` for each published contract; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, contract in PUBLISHED_SCHEMAS.items():
        schema = msgspec.json.schema(contract)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = name
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
