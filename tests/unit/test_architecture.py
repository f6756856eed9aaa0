"""One way to do each thing: dependencies point inward (import-linter's contracts in
pyproject.toml), and events are named once, by their classes, and read typed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from application.event_codec import EVENT_CLASSES
from domain.delivery import TASK_EVENTS
from domain.env_profiles import ENV_PROFILE_EVENTS
from domain.limit_policies import LIMIT_POLICY_EVENTS
from domain.ops import OPS_EVENTS
from domain.secrets import SECRET_EVENTS
from domain.workspace import WORKSPACE_EVENTS
from tests.conftest import ROOT


def test_layer_and_forbidden_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken" in result.stdout


CODE_FOLDERS = ("domain", "application", "infrastructure", "interfaces", "bench")


def _python_files() -> list[Path]:
    return [path for folder in CODE_FOLDERS for path in (ROOT / folder).rglob("*.py")]


def _lines_matching(pattern: re.Pattern[str]) -> list[str]:
    """`path:line: text` of every line of our code that `pattern` finds something in."""
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _python_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]


def test_event_names_are_typed_once_never_spelled_out_as_strings() -> None:
    # Readers refer to `Workspace.PatchApplied` (the class), so a rename is found by the
    # type checker; a string spelling would silently stop matching.
    aggregates = sorted({name.partition(".")[0] for name in EVENT_CLASSES})
    literal = re.compile(rf"""["']({"|".join(aggregates)})\.[A-Z]\w*["']""")
    found = _lines_matching(literal)
    assert not found, "event names spelled as strings:\n" + "\n".join(found)


def test_readers_decode_typed_events_instead_of_reading_payload_keys() -> None:
    found = _lines_matching(re.compile(r"""payload(\.get\(|\[["'])"""))
    assert not found, "payloads read by key:\n" + "\n".join(found)


def test_every_context_lists_its_events_and_the_names_come_from_the_classes() -> None:
    for name, cls in EVENT_CLASSES.items():
        assert name == cls.__qualname__
    contexts = (
        WORKSPACE_EVENTS,
        TASK_EVENTS,
        OPS_EVENTS,
        SECRET_EVENTS,
        ENV_PROFILE_EVENTS,
        LIMIT_POLICY_EVENTS,
    )
    assert len(EVENT_CLASSES) == sum(len(events) for events in contexts)


def test_no_two_classes_share_a_name() -> None:
    # Two `Problem`s or two `FeedMessage`s make every import a guess at which one.
    defined: dict[str, list[str]] = {}
    pattern = re.compile(r"^class ([A-Za-z]\w*)", re.M)  # private (_Batch) ones are local
    for path in _python_files():
        for name in pattern.findall(path.read_text()):
            defined.setdefault(name, []).append(str(path.relative_to(ROOT)))
    twice = {name: places for name, places in defined.items() if len(places) > 1}
    assert not twice, twice


def test_wire_types_live_in_the_contracts_module() -> None:
    # A struct that crosses HTTP, NATS or a file is declared with the others, where
    # `vibehq schema export` and reviewers find it (STYLE.md, "Contracts").
    wire_modules = ("interfaces/http", "infrastructure/audit")
    struct = re.compile(r"^class \w+\((?:msgspec\.)?Struct\b", re.M)
    found = [
        str(path.relative_to(ROOT))
        for folder in wire_modules
        for path in (ROOT / folder).rglob("*.py")
        if struct.search(path.read_text())
    ]
    assert not found, found


MODULE_LINES = 400


def test_no_module_outgrows_what_one_reader_holds() -> None:
    # Past ~400 lines a module becomes a package of the same stem (STYLE.md); the
    # contracts module may be longer while it only declares.
    paths = [*_python_files(), *(ROOT / "tests").rglob("*.py")]
    contracts = ROOT / "domain" / "contracts.py"
    long = {
        str(path.relative_to(ROOT)): lines
        for path in paths
        if path != contracts and (lines := len(path.read_text().splitlines())) > MODULE_LINES
    }
    assert not long, long
    assert not re.search(r"^(async )?def ", contracts.read_text(), re.M), "contracts: declare only"
