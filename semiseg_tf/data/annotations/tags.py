"""Image-level tags (which classes an image shows): read CSV / JSON, write CSV.

    tags.csv     stem,class;class;...       (header optional, e.g. `stem,tags`; an empty list is allowed)
    tags.json    {"<stem>": ["class", ...], ...}

Classes by name or id. MSRC-21's and PH2's `tags.csv` read as they are.
"""

from __future__ import annotations

from pathlib import Path

from semiseg_tf.data.annotations._common import AnnotationContext, csv_rows, load_json, write_csv
from semiseg_tf.data.errors import DataError


def read_tags(path: str | Path, source, classes=None) -> dict[str, frozenset[int]]:
    """Read tags into {stem: frozenset of class ids}; every stem must have an image in `source`.

    Args:
        source: a `SegmentationDataset` (or its folder) or a dict {stem: (height, width)}.
        classes: `ClassInfo` or names; default the dataset's.
    """
    path = Path(path)
    context = AnnotationContext(source, classes)
    if path.suffix.lower() == ".json":
        data = load_json(path, dict, '{"<stem>": ["class", ...], ...}')
        rows = []
        for stem, names in data.items():
            where = f"entry '{stem}'"
            if isinstance(names, str) or not isinstance(names, list):
                raise DataError(path, f"{where}: {names!r} is not a list of classes.",
                                'write {"<stem>": ["class", ...]}.')
            rows.append((where, stem, names))
    else:
        rows = []
        for line, row in csv_rows(path, ["stem"], positional=True):
            names = [name.strip() for cell in row["_extra"] for name in cell.split(";")]
            rows.append((f"line {line}", row["stem"], [name for name in names if name]))
    tags: dict[str, frozenset[int]] = {}
    first_seen: dict[str, str] = {}
    for where, stem, names in rows:
        stem = str(stem).strip()
        context.size(stem, path, where)
        if stem in tags:
            raise DataError(path, f"{where}: stem '{stem}' is listed again (first at {first_seen[stem]}).",
                            "list each image once with all its classes.")
        tags[stem] = frozenset(context.class_id(name, path, where) for name in names)
        first_seen[stem] = where
    return tags


def write_tags_csv(path: str | Path, tags: dict[str, frozenset[int]], names: list[str]) -> None:
    """Write {stem: class ids} as `stem,tags` with `;`-joined class names in id order (MSRC-21's format)."""
    write_csv(path, ["stem", "tags"], ([stem, ";".join(names[i] for i in sorted(ids))] for stem, ids in tags.items()))
