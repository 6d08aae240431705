"""The on-disk dataset layout: `images/`, `masks/`, split lists and `classes.json`.

    root/
      images/<stem>.{png,jpg,jpeg,tif,bmp}
      masks/<stem>.png          8-bit class ids, 255 = ignore
      train.txt, val.txt, ...   one stem per line
      classes.json              names, palette, ignore_index

A folder with only `images/` (or only image files) is an unlabeled pool.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from semiseg_tf.data.classes import ClassInfo
from semiseg_tf.data.errors import DataError
from semiseg_tf.data.imageio import IMAGE_SUFFIXES, read_image, read_mask


@dataclass(frozen=True)
class Sample:
    """An image and its label map: a full mask ("full"), a weak one (scribble, point, coarse, box: 255
    where unlabeled), or none; image-level `tags` (class ids) and `boxes` (`Box`es in native pixels) for
    methods that train on them."""

    stem: str
    image: Path
    mask: Path | None = None
    kind: str = "full"
    tags: frozenset[int] | None = None
    boxes: tuple | None = None


def find_images(folder: str | Path) -> list[Path]:
    """All image files directly in `folder`, sorted; an empty folder is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "folder not found.", "pass an existing folder of images.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(
            folder, "holds no images.", f"put files ending in {', '.join(IMAGE_SUFFIXES)} there."
        )
    return files


class SegmentationDataset:
    """A dataset folder; resolves splits to samples and validates them."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(self.root, "dataset folder not found.",
                            "pass --data DIR with images/, masks/, split lists and classes.json.")
        self.classes = ClassInfo.load(self.root / "classes.json")
        self._image_by_stem = {p.stem: p for p in find_images(self.root / "images")}

    def splits(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.txt"))

    def stems(self, split: str) -> list[str]:
        path = self.root / f"{split}.txt"
        if not path.is_file():
            raise DataError(path, f"split list '{split}' not found (have: {self.splits()}).",
                            "write one image stem per line.")
        stems = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not stems:
            raise DataError(path, "split list is empty.", "write one image stem per line.")
        return stems

    def samples(self, split: str | None = None, stems: list[str] | None = None,
                labeled: bool = True) -> list[Sample]:
        """Samples of a split (or of explicit stems); masks are required when `labeled`."""
        stems = stems if stems is not None else self.stems(split)
        out = []
        for stem in stems:
            image = self._image_by_stem.get(stem)
            if image is None:
                raise DataError(self.root / "images" / stem,
                                f"image for stem '{stem}' not found in images/.",
                                "fix the split list or add the image.")
            mask = self.root / "masks" / f"{stem}.png"
            if labeled and not mask.is_file():
                raise DataError(mask, "mask not found.", "add the mask or drop the stem from the split.")
            out.append(Sample(stem, image, mask if labeled else None))
        return out

    def validate(self, samples: list[Sample], workers: int = 4) -> None:
        """Decode every file once and raise a DataError naming the first bad one."""

        def check(sample: Sample) -> None:
            image = read_image(sample.image)
            if sample.mask is not None:
                read_mask(sample.mask, self.classes.num_classes, self.classes.ignore_index,
                          expected_hw=image.shape[:2])

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(check, samples))

    def image_size(self, sample: Sample) -> tuple[int, int]:
        with Image.open(sample.image) as image:
            return image.height, image.width


def unlabeled_samples(folder: str | Path) -> list[Sample]:
    """An unlabeled pool: `folder/images/*` if present, else the images in `folder`."""
    folder = Path(folder)
    images = folder / "images" if (folder / "images").is_dir() else folder
    return [Sample(p.stem, p) for p in find_images(images)]
