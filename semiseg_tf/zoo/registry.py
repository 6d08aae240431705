"""Where zoo entries live and how `NAME[@VERSION]` resolves to one.

Roots, searched together: every folder in `SEMISEG_ZOO` (os.pathsep-separated; the CLI's
`--zoo DIR` adds to it) and the zoo shipped with the package. An entry is the folder
`<root>/<name>/<version>/` holding `card.json`, `model.keras` and `reference.npz`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from semiseg_tf.data.errors import DataError
from semiseg_tf.zoo.versions import latest, parse_version, split_reference

CARD = "card.json"


def shipped_root() -> Path:
    """The zoo inside the installed package (`semiseg_tf/_zoo`), else the repository's `zoo/`."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "_zoo"
    return installed if installed.is_dir() else package.parent / "zoo"


def zoo_roots() -> list[Path]:
    """User roots first (SEMISEG_ZOO), then the shipped zoo."""
    users = [Path(p) for p in os.environ.get("SEMISEG_ZOO", "").split(os.pathsep) if p]
    roots = []
    for root in users + [shipped_root()]:
        if root.resolve() not in [r.resolve() for r in roots]:
            roots.append(root)
    return roots


@dataclass(frozen=True)
class Entry:
    name: str
    version: str
    path: Path

    @property
    def reference(self) -> str:
        return f"{self.name}@{self.version}"

    def card(self) -> dict:
        card_file = self.path / CARD
        try:
            return json.loads(card_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(card_file, f"unreadable model card ({exc}).", "restore the entry.") from exc


def list_entries(name: str | None = None) -> list[Entry]:
    """Every entry (of `name`) in every root, sorted by name then version."""
    entries = []
    for root in zoo_roots():
        if not root.is_dir():
            continue
        for card in root.glob(f"{name or '*'}/*/{CARD}"):
            version = card.parent.name
            try:
                parse_version(version)
            except ValueError:
                continue  # not an entry (e.g. a half-written `.1.0.0.partial-*` folder)
            entries.append(Entry(card.parent.parent.name, version, card.parent))
    return sorted(entries, key=lambda e: (e.name, parse_version(e.version)))


def resolve(reference: str) -> Entry:
    """The entry for `NAME` (latest version) or `NAME@VERSION`; errors list what exists."""
    name, version = split_reference(reference)
    entries = list_entries(name)
    if not entries:
        known = sorted({e.name for e in list_entries()})
        raise DataError(reference, "no such zoo entry.",
                        f"known names: {known or 'none'}; roots searched: {[str(r) for r in zoo_roots()]}.")
    wanted = version or latest([e.version for e in entries])
    matches = [e for e in entries if e.version == wanted]
    if not matches:
        raise DataError(reference, f"version {wanted} not found.",
                        f"available: {[e.version for e in entries]}.")
    if len(matches) > 1:
        raise DataError(reference, f"is in several zoo roots: {[str(e.path) for e in matches]}.",
                        "remove one copy or give a path to the entry folder.")
    return matches[0]
