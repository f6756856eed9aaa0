"""`vibehq`: run the service, manage its database and engines, export its contracts.

This module only assembles: each area's module owns its sub-app and commands, and
`interfaces/cli/common.py` holds what they share. Every command reads the same
settings as the service (see `vibehq settings` and the README table). Errors are one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import typer

from interfaces.cli import audit, doctor, engines, followers, inspect, service, tail, transfer
from interfaces.cli.env_profiles import env_profile_app
from interfaces.cli.limits import limits_app
from interfaces.cli.patch import patch_app
from interfaces.cli.schema_export import schema_app
from interfaces.cli.secrets import master_key_app, secrets_app
from interfaces.cli.tokens import tokens_app

app = typer.Typer(
    name="vibehq",
    help=(
        "Core Vibe HQ: AI factories submit patches to workspaces; every outcome is an "
        "immutable event in PostgreSQL, fanned out through NATS.\n\n"
        "With no VIBEHQ_DATABASE_URL / VIBEHQ_NATS_URL set, commands start (or reuse) "
        "embedded PostgreSQL and NATS servers in ./.vibehq."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

app.command()(service.serve)
app.command()(service.demo)
app.command()(followers.worker)
app.command()(inspect.replay)
app.command()(doctor.doctor)
app.command("settings")(service.show_settings)

app.add_typer(engines.db_app, name="db")
app.add_typer(schema_app, name="schema")
app.add_typer(engines.engines_app, name="engines")
app.add_typer(tokens_app, name="tokens")
app.add_typer(followers.projections_app, name="projections")
app.add_typer(inspect.workspace_app, name="workspace")
app.add_typer(patch_app, name="patch")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(transfer.events_app, name="events")
app.add_typer(tail.tail_app, name="tail")
app.add_typer(secrets_app, name="secrets")
app.add_typer(master_key_app, name="master-key")
app.add_typer(env_profile_app, name="env-profile")
app.add_typer(limits_app, name="limits")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
