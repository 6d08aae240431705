"""The model zoo: named, versioned, checksummed entries that load offline in safe mode.

    from semiseg_tf import zoo
    loaded = zoo.load("shapes-unet-tiny")        # latest version; or "NAME@1.2.0", a .keras file, a run dir
    loaded.model, loaded.classes, loaded.input_size, loaded.metadata  # metadata = the model card
"""

from __future__ import annotations

from pathlib import Path

from semiseg_tf.zoo.add import add_entry
from semiseg_tf.zoo.checksums import ChecksumError, verify_checksums
from semiseg_tf.zoo.registry import Entry, list_entries, resolve, zoo_roots
from semiseg_tf.zoo.versions import latest, parse_version


def load_entry(folder: str | Path):
    """Load an entry folder: checksums first (a mismatch names the file), then Keras in safe mode."""
    from semiseg_tf.data.classes import ClassInfo
    from semiseg_tf.loading import LoadedModel, _load

    folder = Path(folder)
    card = Entry(folder.parent.name, folder.name, folder).card()
    verify_checksums(folder, card.get("files", {}))
    return LoadedModel(_load(folder / "model.keras"), ClassInfo.from_dict(card["classes"]),
                       tuple(card["input"]["size"]), folder, card)


def load(reference: str | Path):
    """A zoo name (`NAME`, `NAME@VERSION`), an entry folder, a `.keras` file or a run directory -> LoadedModel."""
    from semiseg_tf.loading import load_segmenter

    return load_segmenter(reference)


def verify(entry: Entry, reference: bool = True) -> dict:
    """Checksums of every file, then (optionally) the model's output against its reference tensors."""
    from semiseg_tf.zoo.reference import check_reference

    if not reference:
        verify_checksums(entry.path, entry.card().get("files", {}))
        return {}
    loaded = load_entry(entry.path)
    return check_reference(loaded.model, entry.path / "reference.npz") if reference else {}


__all__ = ["ChecksumError", "Entry", "add_entry", "latest", "list_entries", "load", "load_entry",
           "parse_version", "resolve", "verify", "verify_checksums", "zoo_roots"]
