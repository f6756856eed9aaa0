"""A real git history, replayed commit by commit through the HTTP API.

A fixture builds a repository with `git` (a seeded random walk of 150 commits: files
added, edited in the middle and at the ends, emptied and refilled, renamed with and
without edits, deleted, made executable or not, some without a final newline, some
CRLF). Each commit is sent as one patch: `git diff` output for edits (`apply_diff`),
`create_file`, `delete_file` and `rename_file`; and, in the second test, as the raw
output of `git show -M --binary`, one `apply_patch`, where every fifth commit is first
sent with one context line changed and must be refused with nothing changed. After
every commit the workspace's tree equals the commit's tree, byte for byte (and mode).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from infrastructure.embedded.engines import Engines
from tests.integration.api import Api, serve_api
from tests.integration.test_http_patches import new_workspace

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]

COMMITS = 150


def git(repo: Path, *args: str) -> str:
    """git's output as text, byte for byte (no newline translation: CRLF stays)."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True
    ).stdout.decode()


def _line(rng: random.Random) -> str:
    words = ["def", "return", "x", "y", "=", "+", "(", ")", "if", "for", "in", "value", "#"]
    return "    " * rng.randint(0, 2) + " ".join(rng.choices(words, k=rng.randint(1, 6)))


def _write(path: Path, lines: list[str], *, crlf: bool, final_newline: bool) -> None:
    ending = "\r\n" if crlf else "\n"
    text = ending.join(lines) + (ending if final_newline and lines else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


def build_history(repo: Path, commits: int, seed: int = 15) -> list[str]:
    """Commit ids, oldest first (the first one is empty)."""
    rng = random.Random(seed)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "replay@example.com")
    git(repo, "config", "user.name", "replay")
    git(repo, "config", "core.autocrlf", "false")
    git(repo, "commit", "-q", "--allow-empty", "-m", "start")
    files: dict[str, tuple[list[str], bool, bool]] = {}
    for n in range(commits):
        for _ in range(rng.randint(1, 3)):
            action = rng.choice(["add", "edit", "edit", "edit", "delete", "rename", "empty"])
            if action == "add" or not files:
                name = f"src/m{n}_{rng.randint(0, 99)}.py"
                files[name] = (
                    [_line(rng) for _ in range(rng.randint(0, 30))],
                    rng.random() < 0.2,
                    rng.random() < 0.85,
                )
            else:
                name = rng.choice(sorted(files))
                lines, crlf, final = files[name]
                if action == "delete":
                    del files[name]
                    (repo / name).unlink()
                    continue
                if action == "rename":
                    target = f"lib/{Path(name).stem}_r{n}.py"
                    if target in files:
                        continue
                    (repo / name).unlink()
                    del files[name]
                    name = target
                if action == "empty":
                    lines = []
                for _ in range(rng.randint(0, 3) if action != "empty" else 0):
                    at = rng.randint(0, len(lines))
                    if rng.random() < 0.4 and lines:
                        del lines[min(at, len(lines) - 1)]
                    else:
                        lines.insert(at, _line(rng))
                if rng.random() < 0.1:
                    final = not final
                files[name] = (lines, crlf, final)
            lines, crlf, final = files[name]
            _write(repo / name, lines, crlf=crlf, final_newline=final)
            if rng.random() < 0.05:  # a mode change, alone or with an edit
                (repo / name).chmod((repo / name).stat().st_mode ^ 0o111)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", f"commit {n}")
    return git(repo, "rev-list", "--reverse", "--first-parent", "main").split()


def operations(repo: Path, parent: str, commit: str) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for row in git(repo, "diff", "--name-status", "-M", parent, commit).splitlines():
        status, *paths = row.split("\t")
        if status == "A":
            content = subprocess.run(
                ["git", "-C", str(repo), "show", f"{commit}:{paths[0]}"],
                check=True,
                capture_output=True,
            ).stdout
            ops.append(
                {
                    "op": "create_file",
                    "path": paths[0],
                    "encoding": "base64",
                    "content": base64.b64encode(content).decode(),
                }
            )
        elif status == "D":
            ops.append({"op": "delete_file", "path": paths[0]})
        elif status == "M":
            text = git(repo, "diff", parent, commit, "--", paths[0])
            ops.append({"op": "apply_diff", "path": paths[0], "diff": text})
        else:  # R<similarity>
            old, new = paths
            ops.append({"op": "rename_file", "path": old, "to": new})
            if status != "R100":
                text = git(repo, "diff", "-M", parent, commit, "--", old, new)
                ops.append({"op": "apply_diff", "path": new, "diff": text})
    return ops


def tree_of(
    repo: Path, commit: str, hashes: dict[str, str], *, modes: bool = False
) -> dict[str, str]:
    """path -> sha256 of the content (and `mode:` with `modes`), for every file."""
    tree = {}
    for row in git(repo, "ls-tree", "-r", commit).splitlines():
        meta, path = row.split("\t")
        mode, _, blob = meta.split()
        if blob not in hashes:
            content = subprocess.run(
                ["git", "-C", str(repo), "cat-file", "blob", blob], check=True, capture_output=True
            ).stdout
            hashes[blob] = hashlib.sha256(content).hexdigest()
        tree[path] = f"{mode}:{hashes[blob]}" if modes else hashes[blob]
    return tree


@pytest_asyncio.fixture
async def api(database_url: str, engines: Engines, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    async with serve_api(database_url, engines.nats_url, pool) as served:
        yield served


async def test_every_commit_of_a_real_history_replays_to_its_exact_tree(
    api: Api, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    commits = build_history(repo, COMMITS)
    hashes: dict[str, str] = {}
    replayed = tolerated = 0
    async with await api.as_("replay-factory", "write") as client:
        ws = await new_workspace(client)
        version = 1
        for parent, commit in itertools.pairwise(commits):
            ops = operations(repo, parent, commit)
            if not ops:
                continue
            answer = await client.post(
                f"/workspaces/{ws}/patches",
                json={"base_version": version, "task_id": commit[:12], "operations": ops},
            )
            assert answer.status_code == 201, (commit, answer.text)
            version = answer.json()["version"]
            tolerated += len(answer.json()["tolerances"])
            files = (await client.get(f"/workspaces/{ws}/files")).json()["files"]
            served = {path: entry["sha256"] for path, entry in files.items()}
            assert served == tree_of(repo, commit, hashes), commit
            replayed += 1
    assert replayed >= COMMITS * 0.9
    assert tolerated == 0  # git's own diffs need no leniency


async def test_every_commit_as_the_raw_output_of_git_show_is_one_apply_patch(
    api: Api, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    commits = build_history(repo, COMMITS // 2, seed=25)
    hashes: dict[str, str] = {}
    async with await api.as_("replay-factory", "write") as client:
        ws = await new_workspace(client)
        version = 1
        for number, commit in enumerate(commits[1:]):
            text = git(repo, "show", "--format=", "-M", "--binary", commit)
            if not text.strip():
                continue  # an empty commit
            context = [n for n, line in enumerate(text.splitlines()) if line.startswith(" ")]
            if number % 5 == 0 and context:  # one context line off: refused, nothing changes
                lines = text.splitlines(keepends=True)
                lines[context[number % len(context)]] = " this line is in no file\n"
                before = (await client.get(f"/workspaces/{ws}/files")).json()["files"]
                refused = await client.post(
                    f"/workspaces/{ws}/patches",
                    json={
                        "base_version": version,
                        "task_id": "perturbed",
                        "operations": [{"op": "apply_patch", "patch": "".join(lines)}],
                    },
                )
                assert refused.status_code == 409, refused.text
                version = refused.json()["version"]
                assert (await client.get(f"/workspaces/{ws}/files")).json()["files"] == before
            answer = await client.post(
                f"/workspaces/{ws}/patches",
                json={
                    "base_version": version,
                    "task_id": commit[:12],
                    "operations": [{"op": "apply_patch", "patch": text}],
                },
            )
            assert answer.status_code == 201, (commit, answer.text)
            version = answer.json()["version"]
            assert answer.json()["tolerances"] == []
            files = (await client.get(f"/workspaces/{ws}/files")).json()["files"]
            served = {path: f"{e['mode']}:{e['sha256']}" for path, e in files.items()}
            assert served == tree_of(repo, commit, hashes, modes=True), commit
