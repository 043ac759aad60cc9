import os

import mrcfile
import numpy as np
import pytest
import tifffile

from micrographcleaner.testing import write_mrc
from micrographcleaner.images import (MAX_MICROGRAPH_PIXELS, MAX_MICROGRAPH_SIDE, MicrographError, atomic_path,
                                      read_mask, read_micrograph, write_mask)


@pytest.mark.parametrize("dtype,mode", [(np.int8, 0), (np.int16, 1), (np.float32, 2), (np.uint16, 6),
                                        (np.float16, 12)])
def test_reads_every_mrc_mode(tmp_path, dtype, mode):
    data = (np.arange(48).reshape(6, 8) % 17).astype(dtype)
    path = write_mrc(tmp_path / "m.mrc", data, pixel_size=1.25)
    with mrcfile.open(path) as mrc:
        assert int(mrc.header.mode) == mode
    micrograph = read_micrograph(path)
    assert micrograph.data.dtype == np.float32
    np.testing.assert_array_equal(micrograph.data, data.astype(np.float32))
    assert micrograph.pixel_size == pytest.approx(1.25)


def test_single_section_volume_and_unset_pixel_size(tmp_path):
    path = write_mrc(tmp_path / "m.mrc", np.random.default_rng(0).normal(size=(1, 5, 7)).astype(np.float32))
    micrograph = read_micrograph(path)
    assert micrograph.data.shape == (5, 7)
    assert micrograph.pixel_size is None


def test_reads_tiff(tmp_path):
    data = np.random.default_rng(0).integers(0, 1000, size=(9, 11)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "m.tif", data)
    np.testing.assert_array_equal(read_micrograph(tmp_path / "m.tif").data, data)


def _float32_header_over_float64_data(path):
    data = np.arange(1.0, 65.0).reshape(8, 8)  # read as float32 they are finite: garbage, not NaN
    write_mrc(path, data.astype(np.float32))
    path.write_bytes(path.read_bytes()[:1024] + data.tobytes())


def _huge_header_on_a_sparse_file(path):
    """100000 x 100000 float32 pixels: 40 GB that the file system does not store, nor may the reader read."""
    write_mrc(path, np.zeros((8, 8), np.float32))
    with mrcfile.mmap(path, mode="r+") as mrc:
        mrc.header.nx = mrc.header.ny = mrc.header.mx = mrc.header.my = 100000
    os.truncate(path, 1024 + 100000 * 100000 * 4)


def test_size_limit_leaves_room_for_k3_super_resolution():
    assert 11520 <= MAX_MICROGRAPH_SIDE and 11520 * 8184 <= MAX_MICROGRAPH_PIXELS


def test_extended_header_is_not_taken_for_extra_data(tmp_path):
    data = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    with mrcfile.new(tmp_path / "m.mrc") as mrc:
        mrc.set_data(data)
        mrc.set_extended_header(np.zeros(64, dtype=np.uint8))
    with mrcfile.open(tmp_path / "m.mrc") as mrc:
        assert int(mrc.header.nsymbt) == 64
    np.testing.assert_array_equal(read_micrograph(tmp_path / "m.mrc").data, data)


def test_reads_lzw_compressed_tiff(tmp_path):
    data = np.random.default_rng(0).integers(0, 1000, size=(9, 11)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "m.tif", data, compression="lzw")
    np.testing.assert_array_equal(read_micrograph(tmp_path / "m.tif").data, data)


@pytest.mark.parametrize("make,reason", [
    (lambda p: None, "file not found"),
    (lambda p: p.write_bytes(b"not an mrc file at all" * 10), "not a readable MRC file"),
    (lambda p: write_mrc(p, np.full((8, 8), 3.0, np.float32)), "constant image"),
    (lambda p: write_mrc(p, np.where(np.eye(8) > 0, np.nan, 1.0).astype(np.float32)), "NaN or infinite"),
    (lambda p: write_mrc(p, np.where(np.eye(8) > 0, np.inf, 1.0).astype(np.float32)), "NaN or infinite"),
    (lambda p: write_mrc(p, np.random.default_rng(0).normal(size=(3, 8, 8)).astype(np.float32)), "2-D image"),
    (_float32_header_over_float64_data, "longer than its header says: 8x8x1 pixels of mode 2 need 1280 bytes"),
    (_huge_header_on_a_sparse_file, "too large to read (100000 x 100000 pixels"),
])
def test_bad_micrographs_name_file_and_reason(tmp_path, make, reason):
    path = tmp_path / "broken.mrc"
    make(path)
    with pytest.raises(MicrographError) as caught:
        read_micrograph(path)
    assert str(path) in str(caught.value) and reason in str(caught.value)


def test_bad_tiff(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"II*\x00garbage")
    with pytest.raises(MicrographError, match="broken.tif: not a readable TIFF"):
        read_micrograph(path)


def test_mask_write_is_atomic_and_readable(tmp_path):
    mask = np.random.default_rng(0).random((4, 6)).astype(np.float32)
    path = tmp_path / "sub" / "m_mask.mrc"
    write_mask(path, mask, (12.5, 12.0))
    np.testing.assert_array_equal(read_mask(path), mask)
    with mrcfile.open(path) as mrc:
        assert mrc.voxel_size.x == pytest.approx(12.5) and mrc.voxel_size.y == pytest.approx(12.0)
    assert os.listdir(path.parent) == ["m_mask.mrc"]
    assert os.stat(path).st_mode & 0o044  # readable by others, unlike a bare mkstemp file


def test_interrupted_write_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "m_mask.mrc") as temporary:
            temporary.write_bytes(b"half a mask")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []
