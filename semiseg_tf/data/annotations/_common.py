"""What every annotation reader shares: class lookup by name or id, image sizes, CSV rows, error messages.

A reader resolves its annotations against a dataset (`SegmentationDataset`: classes from `classes.json`,
image sizes read from the image headers) or against explicit `sizes` ({stem: (height, width)}) and
`classes`. Every problem raises `DataError` naming the file, the line (CSV), entry (JSON) or object (XML),
and the fix.
"""

from __future__ import annotations

import csv
import difflib
import io
from pathlib import Path

from semiseg_tf.data.classes import ClassInfo
from semiseg_tf.data.dataset import SegmentationDataset
from semiseg_tf.data.errors import DataError


def _class_names(classes) -> list[str]:
    if isinstance(classes, ClassInfo):
        return list(classes.names)
    return [str(name) for name in classes]


class AnnotationContext:
    """Class names and image sizes that annotations are checked against.

    Args:
        source: a `SegmentationDataset` (or its folder), or a dict {stem: (height, width)}.
        classes: `ClassInfo` or a list of names; required with a dict of sizes, else the dataset's.
    """

    def __init__(self, source, classes=None):
        if isinstance(source, (str, Path)):
            source = SegmentationDataset(source)
        self.dataset = source if isinstance(source, SegmentationDataset) else None
        if self.dataset is None:
            self._sizes = {str(stem): (int(hw[0]), int(hw[1])) for stem, hw in dict(source).items()}
            if classes is None:
                raise ValueError("pass classes= (a ClassInfo or a list of names) with a dict of image sizes")
        else:
            self._sizes = {}
            classes = classes if classes is not None else self.dataset.classes
        self.names = _class_names(classes)
        self._by_lower = {}
        for class_id, name in enumerate(self.names):
            self._by_lower.setdefault(name.lower(), class_id)

    def class_id(self, value, path, where: str) -> int:
        """A class given by name (exact, else case-insensitive) or by id 0..N-1."""
        text = str(value).strip()
        if text in self.names:
            return self.names.index(text)
        if text.lower() in self._by_lower:
            return self._by_lower[text.lower()]
        if text.lstrip("-").isdigit():
            class_id = int(text)
            if 0 <= class_id < len(self.names):
                return class_id
            raise DataError(path, f"{where}: class id {class_id} is outside 0..{len(self.names) - 1}.",
                            "use an id or a name from classes.json.")
        close = difflib.get_close_matches(text, self.names, n=1)
        hint = f" (closest: '{close[0]}')" if close else ""
        raise DataError(path, f"{where}: unknown class '{text}'{hint}; classes.json has {self.names}.",
                        "use a name or an id from classes.json, or add the class there.")

    def size(self, stem: str, path, where: str) -> tuple[int, int]:
        """(height, width) of the image of `stem`; a stem without an image is an error."""
        stem = str(stem).strip()
        if stem in self._sizes:
            return self._sizes[stem]
        if self.dataset is not None:
            try:
                sample = self.dataset.samples(stems=[stem], labeled=False)[0]
            except DataError:
                sample = None
            if sample is not None:
                self._sizes[stem] = self.dataset.image_size(sample)
                return self._sizes[stem]
            known = f"images/ of {self.dataset.root}"
        else:
            known = "the image sizes passed in"
        raise DataError(path, f"{where}: stem '{stem}' has no image in {known}.",
                        "fix the stem (file name without extension) or add the image.")


def number(value, path, where: str, field: str) -> float:
    try:
        result = float(str(value).strip())
    except (TypeError, ValueError):
        raise DataError(path, f"{where}: {field} '{value}' is not a number.",
                        "write pixel coordinates as numbers.") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise DataError(path, f"{where}: {field} is {value}.", "write finite pixel coordinates.")
    return result


def read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(path, "annotation file not found.", "check the path.")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"is not UTF-8 text ({exc}).", "save it as UTF-8 CSV or JSON.") from None


def csv_rows(path: Path, columns: list[str], positional: bool = False):
    """Yield (line number, {column: value, "_extra": [cells beyond them]}) per non-empty CSV row.

    A first row starting with `stem` is a header: it names the columns (any order) unless `positional`;
    without one, the columns are `columns` in that order. A row with too few cells is an error.
    """
    reader = csv.reader(io.StringIO(read_text(path)))
    header, first = None, True
    for cells in reader:
        line_number = reader.line_num
        cells = [cell.strip() for cell in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if first:
            first = False
            if cells[0].lower() == "stem":
                if not positional:
                    header = [cell.lower() for cell in cells]
                    missing = [c for c in columns if c not in header]
                    if missing:
                        raise DataError(path, f"line {line_number}: header {','.join(cells)} lacks "
                                              f"{','.join(missing)}.", f"name the columns {','.join(columns)}.")
                continue
        names = header or columns
        if len(cells) < len(names):
            raise DataError(path, f"line {line_number}: {len(cells)} column(s) '{','.join(cells)}' where "
                                  f"{','.join(names)} are expected.", "fix or remove the row.")
        row = dict(zip(names, cells))
        row["_extra"] = cells[len(names):]
        yield line_number, row


def load_json(path: Path, expected: type | None = None, layout: str = ""):
    """The file's JSON; with `expected` (list or dict), one line naming the file and the `layout` to write
    when the top level is something else."""
    import json

    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
                        "fix the JSON syntax.") from None
    if expected is not None and not isinstance(data, expected):
        wanted = "a list" if expected is list else "an object"
        raise DataError(path, f"holds a JSON {type(data).__name__}, not {wanted}.", f"write {layout}.")
    return data


def write_csv(path: str | Path, header: list[str], rows) -> None:
    """Write `rows` under `header` as CSV (the formats the readers here read), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
