"""Deployment sizes: each built artifact zipped (deflate, in memory) and unzipped.

``sam deploy`` zips the build directories as they are, precompiled ``__pycache__`` included (the
Makefile's build step adds them), so both figures count every file that ships.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Size:
    files: int
    unzipped: int
    zipped: int


def measure(directory: Path, *, bytecode: bool = True) -> Size:
    buffer = io.BytesIO()
    files = unzipped = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if not path.is_file():
                continue
            if not bytecode and "__pycache__" in path.parts:
                continue
            archive.write(path, path.relative_to(directory).as_posix())
            files += 1
            unzipped += path.stat().st_size
    return Size(files, unzipped, len(buffer.getvalue()))


def largest(directory: Path, top: int = 8) -> list[tuple[str, int]]:
    """The biggest top-level packages under a layer's python/ (where to look if it grows)."""
    totals: dict[str, int] = {}
    for path in directory.rglob("*"):
        if path.is_file():
            head = path.relative_to(directory).parts[0]
            totals[head] = totals.get(head, 0) + path.stat().st_size
    return sorted(totals.items(), key=lambda item: -item[1])[:top]
