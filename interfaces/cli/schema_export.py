"""`vibehq schema export`: the wire contracts as JSON Schema files, one per contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from domain.contracts import PUBLISHED_SCHEMAS
from interfaces.cli.common import fail

schema_app = typer.Typer(help="The wire contracts as JSON Schema.", no_args_is_help=True)


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


@schema_app.command("export")
def schema_export_command(
    directory: Annotated[Path, typer.Argument(help="Folder to write the *.schema.json files to.")],
) -> None:
    """Write JSON Schema for patch operations, submissions, events and stream messages."""
    try:
        written = export(directory)
    except OSError as error:
        fail(f"cannot write to {directory}: {error.strerror or error}")
    for path in written:
        typer.echo(str(path))
