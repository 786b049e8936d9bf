"""Finding image files by name under a release's folder tree, and cheap checks that a file is a usable image.

:func:`image_problem` reads only a file's first and last bytes (a DICOM: its header), so adapters can check every
image of a large release: a JPEG must start with SOI and end with EOI, a PNG must start with its signature and end
with ``IEND``; a truncated download fails these checks long before training reads the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from rich.progress import Progress, SpinnerColumn, TextColumn

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".dcm", ".dicom")
DICOM_SUFFIXES = (".dcm", ".dicom")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class FileIndex:
    """``name → path`` for every file with one of ``suffixes`` below ``root`` (built once, lazily).

    ``key`` picks the name (default: the file name; SIIM-ACR uses the stem, its SOPInstanceUID). A name found twice
    maps to the first path in sorted order; ``duplicates`` lists the others so an adapter can report them.
    """

    def __init__(self, root: str | Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES,
                 key: Callable[[Path], str] = lambda p: p.name, progress: bool = False):
        self.root, self.suffixes, self.key, self.progress = Path(root), suffixes, key, progress
        self._paths: dict[str, Path] | None = None
        self.duplicates: list[Path] = []

    def get(self, name: str) -> Path | None:
        return self.paths.get(name)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def paths(self) -> dict[str, Path]:
        if self._paths is None:
            self._paths = {}
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), disable=not self.progress) as bar:
                task = bar.add_task(f"indexing images under {self.root}")
                for i, path in enumerate(sorted(self.root.rglob("*"))):
                    if path.suffix.lower() not in self.suffixes or not path.is_file():
                        continue
                    name = self.key(path)
                    if name in self._paths:
                        self.duplicates.append(path)
                    else:
                        self._paths[name] = path
                    if i % 1000 == 0:
                        bar.update(task, description=f"indexing images under {self.root}: {len(self._paths)}")
        return self._paths


def image_problem(path: Path) -> str | None:
    """``None`` when ``path`` looks like a complete image, else a short reason usable as a skip-log key."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing image file"
    except OSError as e:
        return f"unreadable image file ({e.strerror})"
    if not path.is_file():
        return "missing image file"
    if size == 0:
        return "empty image file"
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        from cxrvlp.data.dicom import DicomError, read_header

        try:
            read_header(path)
        except DicomError as e:
            return e.reason
        return None
    with path.open("rb") as f:
        head = f.read(8)
        f.seek(max(0, size - 1024))
        tail = f.read()
    if suffix in (".jpg", ".jpeg"):
        if head[:2] != b"\xff\xd8":
            return "not a JPEG file"
        if b"\xff\xd9" not in tail:
            return "truncated JPEG (no end-of-image marker)"
    elif suffix == ".png":
        if head != _PNG_SIGNATURE:
            return "not a PNG file"
        if b"IEND" not in tail[-12:]:
            return "truncated PNG (no IEND chunk)"
    return None
