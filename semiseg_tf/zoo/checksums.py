"""sha256 of every file of a zoo entry, verified on every load.

keras-hub, timm and smp do not verify downloaded weights by default; a zoo entry
that silently changed (bad copy, partial write, hand edit) is worse than none, so a
mismatch is an error that names the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from semiseg_tf.data.errors import DataError


class ChecksumError(DataError):
    """A zoo file is missing or its sha256 differs from the model card."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_files(folder: Path, names: list[str]) -> dict[str, str]:
    """{file name: sha256} for `names` inside `folder`."""
    return {name: sha256_file(folder / name) for name in sorted(names)}


def verify_checksums(folder: Path, expected: dict[str, str]) -> None:
    """Raise ChecksumError naming the first file that is missing or differs."""
    if not expected:
        raise ChecksumError(folder / "card.json", "lists no file checksums.", "recreate the entry with `zoo add`.")
    for name, sha256 in sorted(expected.items()):
        path = folder / name
        if not path.is_file():
            raise ChecksumError(path, "is listed in card.json but missing.", "restore the entry from the repository.")
        actual = sha256_file(path)
        if actual != sha256:
            raise ChecksumError(path, f"sha256 mismatch: card.json says {sha256}, the file has {actual}.",
                                "the file was changed or corrupted; restore it (e.g. `git checkout -- zoo/`).")
