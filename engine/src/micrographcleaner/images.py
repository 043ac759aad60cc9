"""Reading micrographs and writing masks.

Micrographs are read memory-mapped where the format allows it, checked for the problems that
would otherwise give a silently wrong mask (NaN/Inf, constant images), and returned as float32.
Every write is atomic (temporary file in the same folder, then rename) so that a killed run never
leaves a half-written file that a rerun would trust.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import mrcfile
import numpy as np

MICROGRAPH_SUFFIXES = (".mrc", ".mrcs", ".tif", ".tiff")
MAX_MICROGRAPH_SIDE = 32768
"""Pixels per side beyond which a micrograph is refused unread: a crafted or damaged header must not
make the engine read gigabytes (a K3 super-resolution frame, 11520 x 8184, is well within)."""
MAX_MICROGRAPH_PIXELS = 1 << 28
"""Pixels in all (268 million, 2.8 K3 super-resolution frames; 1 GiB as float32) beyond which a
micrograph is refused unread, for the same reason."""


class MicrographError(ValueError):
    """A micrograph that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass
class Micrograph:
    """A micrograph as the engine sees it: pixels (rows = y, columns = x) and its pixel size."""

    path: Path
    data: np.ndarray
    pixel_size: float | None  # Angstrom per pixel; None when the header does not say

    @property
    def stem(self) -> str:
        return self.path.stem


def read_micrograph(path: str | Path) -> Micrograph:
    """Read a 2-D micrograph (MRC or TIFF) and check that it holds a usable image."""
    path = Path(path)
    if not path.is_file():
        raise MicrographError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        data, pixel_size = _read_tiff(path)
    else:
        data, pixel_size = _read_mrc(path)
    return Micrograph(path, _checked_image(path, data), pixel_size)


def _read_mrc(path: Path) -> tuple[np.ndarray, float | None]:
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught, mrcfile.mmap(path, mode="r", permissive=True) as mrc:
            warnings.simplefilter("always")
            if mrc.data is None:
                raise MicrographError(path, _mrc_problem(path, mrc.header, [str(w.message) for w in caught]))
            data = mrc.data
            stored = mrc.header.nbytes + mrc.extended_header.nbytes + data.nbytes
            if path.stat().st_size > stored:
                raise MicrographError(path, f"not a readable MRC file (longer than its header says: "
                                            f"{_mrc_shape(mrc.header)} pixels of mode {int(mrc.header.mode)} "
                                            f"need {stored} bytes, the file has {path.stat().st_size})")
            if data.ndim == 3 and data.shape[0] == 1:
                data = data[0]
            _check_shape(path, data.shape)
            if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
                raise MicrographError(path, f"unsupported MRC data type {data.dtype}")
            pixel_size = float(mrc.voxel_size.x)
            image = np.asarray(data, dtype=np.float32)  # copies out of the memory map
    except MicrographError:
        raise
    except (ValueError, OSError, EOFError) as error:
        raise MicrographError(path, f"not a readable MRC file ({error})") from error
    # a header may say 0 (unset), a negative or an infinite size: all mean "not known"
    return image, (pixel_size if np.isfinite(pixel_size) and pixel_size > 0 else None)


def _mrc_shape(header) -> str:
    return f"{int(header.nx)}x{int(header.ny)}x{int(header.nz)}"


def _mrc_problem(path: Path, header, notes: list[str]) -> str:
    """Why an MRC header came without a data block: unknown mode, or a file shorter than the header says."""
    mode = int(header.mode)
    try:
        itemsize = mrcfile.utils.dtype_from_mode(mode).itemsize
    except ValueError:
        return f"not a readable MRC file (unknown data mode {mode})"
    dims = [int(header.nx), int(header.ny), int(header.nz)]
    needed = 1024 + int(header.nsymbt) + int(np.prod(dims, dtype=np.int64)) * itemsize
    size = path.stat().st_size
    if min(dims) < 1 or size < needed:
        return (f"not a readable MRC file (shorter than its header says: {_mrc_shape(header)} pixels of mode "
                f"{mode} need {needed} bytes, the file has {size})")
    return f"not a readable MRC file (no data block{': ' + '; '.join(notes) if notes else ''})"


def _check_shape(path: Path, shape: tuple[int, ...]) -> None:
    """Refuse what is not one image, or one too large to read, before a single pixel is read."""
    if len(shape) != 2:
        raise MicrographError(path, f"expected a 2-D image, found shape {shape}")
    height, width = shape
    if max(shape) > MAX_MICROGRAPH_SIDE or height * width > MAX_MICROGRAPH_PIXELS:
        raise MicrographError(path, f"too large to read ({width} x {height} pixels; a micrograph may have at most "
                                    f"{MAX_MICROGRAPH_SIDE} per side and {MAX_MICROGRAPH_PIXELS} in all)")


def _read_tiff(path: Path) -> tuple[np.ndarray, float | None]:
    import logging

    import tifffile

    logging.getLogger("tifffile").setLevel(logging.CRITICAL)  # damaged files are reported below
    try:
        with tifffile.TiffFile(path) as tiff:
            if not tiff.series:
                raise MicrographError(path, "not a readable TIFF file (no image data)")
            _check_shape(path, tuple(side for side in tiff.series[0].shape if side != 1))
            data = tiff.series[0].asarray()
    except MicrographError:
        raise
    except Exception as error:  # tifffile raises many types for damaged files
        raise MicrographError(path, f"not a readable TIFF file ({error})") from error
    if data.size == 0:
        raise MicrographError(path, "not a readable TIFF file (no image data)")
    return np.asarray(np.squeeze(data), dtype=np.float32), None


def _checked_image(path: Path, data: np.ndarray) -> np.ndarray:
    if min(data.shape) < 2:
        raise MicrographError(path, f"image too small ({data.shape})")
    if not np.isfinite(data).all():
        raise MicrographError(path, "contains NaN or infinite values")
    if data.min() == data.max():
        raise MicrographError(path, f"constant image (every pixel is {data.flat[0]:g})")
    return data


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask written by :func:`write_mask` (2-D) or a per-class stack (3-D)."""
    with mrcfile.open(path, mode="r", permissive=True) as mrc:
        return np.array(mrc.data, dtype=np.float32)


def read_bad_mask(path: str | Path) -> np.ndarray:
    """Hand-made truth as 0..1 badness: an MRC mask (1 = bad), or a Warp-style TIFF label image
    (0 background, 1 particle, 2 artefact: only 2 is bad)."""
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        return (tifffile.imread(path) >= 2).astype(np.float32)
    return np.clip(read_mask(path), 0, 1).astype(np.float32)


def file_sha256(path: str | Path) -> str:
    """A file's checksum, computed whenever it is needed rather than cached: a cache keyed on size
    and times is fooled by a rewrite that keeps them (~10 ms for the bundled 14 MB model)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


TEMPORARY_MARK = ".partial-"
"""In the hidden name of a file being written (``.<name>.partial-XXXX<suffix>``), renamed when complete."""


def remove_partial_files(folder: str | Path) -> int:
    """Deletes what a killed run left half-written in ``folder``; only safe while no run writes there."""
    stale = [path for path in Path(folder).glob(f".*{TEMPORARY_MARK}*") if path.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMPORARY_MARK}",
                                         suffix=path.suffix)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would hide results from other users
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_mask(path: str | Path, mask: np.ndarray, voxel_size: tuple[float, float], dtype=np.float32) -> None:
    """Write a mask (float32, or int8 for a label map: MRC mode 0, one byte per pixel); ``voxel_size``
    is (x, y) in Angstrom so that its extent matches the micrograph."""
    with atomic_path(path) as temporary:
        with mrcfile.new(temporary, overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(mask, dtype=dtype))
            mrc.voxel_size = (voxel_size[0], voxel_size[1], 1.0)


def write_json(path: str | Path, content: dict) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(content, indent=2, allow_nan=False) + "\n")
