"""Class names, palette and ignore index of a dataset (its `classes.json`)."""

from __future__ import annotations

import colorsys
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from semiseg_tf.data.errors import DataError

IGNORE_INDEX = 255


def default_palette(num_classes: int) -> list[list[int]]:
    """Evenly spaced hues: distinct colours for datasets that ship no palette."""
    colours = []
    for i in range(num_classes):
        r, g, b = colorsys.hsv_to_rgb(i / max(num_classes, 1), 0.75, 0.95)
        colours.append([int(r * 255), int(g * 255), int(b * 255)])
    return colours


@dataclass(frozen=True)
class ClassInfo:
    """What the class ids of a dataset mean; travels with every model and export."""

    names: list[str]
    palette: list[list[int]] = field(default_factory=list)
    ignore_index: int = IGNORE_INDEX

    def __post_init__(self):
        if not self.palette:
            object.__setattr__(self, "palette", default_palette(len(self.names)))
        if len(self.palette) != len(self.names):
            raise ValueError(
                f"palette has {len(self.palette)} colours for {len(self.names)} classes"
            )

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ClassInfo":
        return cls(
            names=list(data["names"]),
            palette=[list(c) for c in data.get("palette") or []],
            ignore_index=int(data.get("ignore_index", IGNORE_INDEX)),
        )

    @classmethod
    def load(cls, path: str | Path) -> "ClassInfo":
        path = Path(path)
        if not path.is_file():
            raise DataError(
                path,
                "classes.json is missing.",
                'write {"names": [...], "palette": [[r,g,b], ...], "ignore_index": 255} there.',
            )
        try:
            data = json.loads(path.read_text())
            return cls.from_dict(data)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DataError(
                path, f"is not a valid classes file ({exc}).", 'it needs at least a "names" list.'
            ) from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))
