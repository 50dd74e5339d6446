"""The published history (registry/published/) is append-only with respect to what main published: stage 3
compares it with every version of index.jsonl in main's git history, so a removed, truncated, reordered or
edited version is refused, naming its subject and version, even once the rewrite is committed."""

from __future__ import annotations

import json

from tests.gates.repo import Repo, accepted, refused

INDEX = "registry/published/index.jsonl"


def test_what_main_published_cannot_be_removed_reordered_or_edited(repo: Repo) -> None:
    published = repo.read(INDEX)
    lines = published.splitlines(keepends=True)
    newest = json.loads(lines[-1])
    name = f"{newest['subject']} v{newest['version']}"

    newest_file = repo.root / f"registry/published/subjects/{newest['subject']}/{newest['version']}.proto"
    kept = newest_file.read_text()

    # The newest version removed, line and file: truncating the history passed all five stages before.
    repo.write(INDEX, "".join(lines[:-1]))
    newest_file.unlink()
    refused(repo.stage(3), f"history: {name}, published by main in commit", "was removed")
    newest_file.write_text(kept)

    # Two lines swapped.
    repo.write(INDEX, "".join([*lines[:-2], lines[-1], lines[-2]]))
    refused(repo.stage(3), f"history: {name}, published by main in commit", "was moved")

    # The newest line edited (another id): the chain of hashes cannot see it, as no line follows it.
    repo.write(INDEX, "".join(lines[:-1]) + lines[-1].replace(f'"id":{newest["id"]},', '"id":99,'))
    refused(repo.stage(3), f"history: {name}, published by main in commit", "was edited")

    # The removal committed on main, where CI runs: the working tree is then main's last commit.
    repo.write(INDEX, "".join(lines[:-1]))
    newest_file.unlink()
    repo.commit("forget the newest published version")
    refused(repo.stage(3), f"history: {name}, published by main in commit", "was removed")

    # Put back as it was, the history is whole again.
    repo.write(INDEX, published)
    newest_file.write_text(kept)
    accepted(repo.stage(3))
