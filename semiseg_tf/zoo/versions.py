"""Semantic versions of zoo entries: parsing, ordering, and `NAME[@VERSION]` references."""

from __future__ import annotations

import re

_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def parse_version(text: str) -> tuple:
    """A sort key: releases after their pre-releases, numeric pre-release parts numerically (semver 2.0)."""
    match = _VERSION.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a semantic version MAJOR.MINOR.PATCH[-PRERELEASE] (e.g. 1.2.0)")
    major, minor, patch, pre = match.groups()
    if pre is None:
        pre_key = (1,)
    else:
        pre_key = (0, *[(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")])
    return int(major), int(minor), int(patch), pre_key


def is_prerelease(version: str) -> bool:
    return parse_version(version)[3] != (1,)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"zoo name '{name}' must be lower case letters, digits, '.', '_' or '-'")
    return name


def split_reference(reference: str) -> tuple[str, str | None]:
    """`"camvid-deeplab@1.2.0"` -> ("camvid-deeplab", "1.2.0"); no `@` means the latest version."""
    name, _, version = str(reference).partition("@")
    check_name(name)
    if version:
        parse_version(version)
    return name, version or None


def latest(versions: list[str]) -> str:
    """The highest release; the highest pre-release only when there is no release."""
    releases = [v for v in versions if not is_prerelease(v)]
    return max(releases or versions, key=parse_version)
