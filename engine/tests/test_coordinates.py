"""Coordinate files must survive read -> filter/annotate -> write in every supported format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import starfile

from micrographcleaner.coordinates import (
    FORMATS,
    CoordinateFileError,
    coordinates_from_array,
    match_coordinate_files,
    micrograph_key,
    read_coordinates,
    read_mapping_file,
    write_coordinates,
)

XMIPP_POS = """# XMIPP_STAR_1 *
#
data_header
loop_
 _pickingMicrographState
Auto
data_particles_auto
loop_
 _xcoor
 _ycoor
 _cost
  1026   1302  0.9
   746   1338  0.5
   100    200  0.1
"""

RELION_30 = """
data_coordinates

loop_
_rlnCoordinateX #1
_rlnCoordinateY #2
_rlnAutopickFigureOfMerit #3
_rlnMicrographName #4
  1026.500000  1302.250000     1.234000 Movies/mic_001.mrc
   746.000000  1338.000000     0.500000 Movies/mic_001.mrc
   100.000000   200.000000    -0.100000 Movies/mic_001.mrc
"""

RELION_31 = """# version 30001

data_optics

loop_
_rlnOpticsGroup #1
_rlnOpticsGroupName #2
_rlnMicrographOriginalPixelSize #3
1 opticsGroup1 0.885000

# version 30001

data_particles

loop_
_rlnCoordinateX #1
_rlnCoordinateY #2
_rlnClassNumber #3
_rlnAnglePsi #4
_rlnOpticsGroup #5
1026.0 1302.0 1 -999.0 1
746.0 1338.0 1 -999.0 1
100.0 200.0 1 -999.0 1
"""

KEEP = np.array([True, False, True])
SCORES = np.array([0.25, 0.5, np.inf])
DISTANCES = np.array([np.nan, 3.0, -np.inf])


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _round_trip(source: Path, target: Path):
    """Write `source` with the shared keep mask and extra columns, then read both back."""
    table = read_coordinates(source)
    write_coordinates(
        table, target, keep=KEEP, extra_columns={"goodRegionScore": SCORES, "distanceToBad": DISTANCES}
    )
    back = read_coordinates(target)
    np.testing.assert_array_equal(back.xy, table.xy[KEEP])
    assert back.format == table.format
    return table, back


def test_formats_constant() -> None:
    assert FORMATS == ("pos", "star", "box", "text")


def test_xmipp_pos_round_trip(tmp_path: Path) -> None:
    source = _write(tmp_path / "mic_001.pos", XMIPP_POS)
    table, _ = _round_trip(source, tmp_path / "out.pos")
    assert table.format == "pos"
    np.testing.assert_array_equal(table.xy, [[1026, 1302], [746, 1338], [100, 200]])
    text = (tmp_path / "out.pos").read_text()
    assert text.splitlines()[0] == "# XMIPP_STAR_1 *"
    assert "_goodRegionScore\n" in text and "_distanceToBad\n" in text
    assert " #" not in text.split("\n", 1)[1]
    blocks = starfile.read(tmp_path / "out.pos", always_dict=True)
    assert list(blocks) == ["header", "particles_auto"]
    assert blocks["header"]["pickingMicrographState"].tolist() == ["Auto"]
    particles = blocks["particles_auto"]
    np.testing.assert_array_equal(particles["cost"], [0.9, 0.1])
    np.testing.assert_array_equal(particles["goodRegionScore"], [0.25, np.inf])
    np.testing.assert_array_equal(particles["distanceToBad"], [np.nan, -np.inf])


def test_relion_30_round_trip(tmp_path: Path) -> None:
    source = _write(tmp_path / "mic_001_autopick.star", RELION_30)
    table, _ = _round_trip(source, tmp_path / "out.star")
    np.testing.assert_array_equal(table.xy[0], [1026.5, 1302.25])
    assert table.box_size is None
    block = starfile.read(tmp_path / "out.star")
    assert list(block.columns) == [
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnAutopickFigureOfMerit",
        "rlnMicrographName",
        "mcGoodRegionScore",
        "mcDistanceToBad",
    ]
    assert block["rlnMicrographName"].tolist() == ["Movies/mic_001.mrc"] * 2
    np.testing.assert_array_equal(block["rlnAutopickFigureOfMerit"], [1.234, -0.1])
    np.testing.assert_array_equal(block["mcGoodRegionScore"], [0.25, np.inf])
    np.testing.assert_array_equal(block["mcDistanceToBad"], [np.nan, -np.inf])


def test_relion_31_optics_block_survives(tmp_path: Path) -> None:
    source = _write(tmp_path / "mic_001.star", RELION_31)
    _round_trip(source, tmp_path / "out.star")
    blocks = starfile.read(tmp_path / "out.star", always_dict=True)
    assert list(blocks) == ["optics", "particles"]
    assert blocks["optics"]["rlnOpticsGroupName"].tolist() == ["opticsGroup1"]
    assert list(blocks["particles"].columns)[-2:] == ["mcGoodRegionScore", "mcDistanceToBad"]
    np.testing.assert_array_equal(blocks["particles"]["rlnAnglePsi"], [-999.0, -999.0])


def test_eman_box_corner_to_centre(tmp_path: Path) -> None:
    source = _write(tmp_path / "mic_001.box", "10\t20\t100\t100\n0\t0\t100\t100\n50\t60\t100\t100\n")
    table, back = _round_trip(source, tmp_path / "out.box")
    np.testing.assert_array_equal(table.xy, [[60, 70], [50, 50], [100, 110]])
    assert table.box_size == 100.0
    assert back.box_size == 100.0
    lines = (tmp_path / "out.box").read_text().splitlines()
    assert lines == ["10\t20\t100\t100\t0.25\tnan", "50\t60\t100\t100\tinf\t-inf"]


def test_csv_with_header_round_trip(tmp_path: Path) -> None:
    source = _write(tmp_path / "mic_001.csv", "id,x,y,label\n1,10.5,20,a\n2,30,40,b\n3,50,60,c\n")
    table, _ = _round_trip(source, tmp_path / "out.csv")
    np.testing.assert_array_equal(table.xy, [[10.5, 20], [30, 40], [50, 60]])
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines == [
        "id,x,y,label,goodRegionScore,distanceToBad",
        "1,10.5,20,a,0.25,nan",
        "3,50,60,c,inf,-inf",
    ]


def test_whitespace_without_header_round_trip(tmp_path: Path) -> None:
    source = _write(tmp_path / "mic_001.txt", "  10   20  7\n  30   40  8\n  50   60  9\n")
    table, back = _round_trip(source, tmp_path / "out.txt")
    np.testing.assert_array_equal(table.xy, [[10, 20], [30, 40], [50, 60]])
    assert (tmp_path / "out.txt").read_text() == "10 20 7 0.25 nan\n50 60 9 inf -inf\n"


def test_text_columns_found_by_name(tmp_path: Path) -> None:
    source = _write(tmp_path / "mic.coords", "# picked by hand\nscore\t_rlnCoordinateX\t_rlnCoordinateY\n0.5\t1\t2\n")
    table = read_coordinates(source)
    np.testing.assert_array_equal(table.xy, [[1, 2]])
    write_coordinates(table, tmp_path / "out.coords", extra_columns={"score": np.array([0.75])})
    assert (tmp_path / "out.coords").read_text() == (
        "# picked by hand\nscore\t_rlnCoordinateX\t_rlnCoordinateY\n0.75\t1\t2\n"
    )


def test_empty_star_file(tmp_path: Path) -> None:
    source = _write(tmp_path / "mic_001.star", "data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n")
    table = read_coordinates(source)
    assert table.xy.shape == (0, 2)
    empty = np.zeros(0)
    write_coordinates(table, tmp_path / "out.star", extra_columns={"goodRegionScore": empty})
    assert read_coordinates(tmp_path / "out.star").xy.shape == (0, 2)
    assert "_mcGoodRegionScore" in (tmp_path / "out.star").read_text()


@pytest.mark.parametrize("fmt, name", [("pos", "a.pos"), ("star", "a.star"), ("box", "a.box"), ("text", "a.txt")])
def test_coordinates_from_array(tmp_path: Path, fmt: str, name: str) -> None:
    xy = np.array([[100.0, 200.0], [300.0, 400.5]])
    table = coordinates_from_array(xy, tmp_path / name, fmt, box_size=64)
    write_coordinates(table, tmp_path / name, extra_columns={"goodRegionScore": np.array([1.0, 0.0])})
    back = read_coordinates(tmp_path / name)
    expected = np.rint(xy) if fmt == "pos" else xy
    np.testing.assert_array_equal(back.xy, expected)


def test_box_from_array_needs_box_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="box size"):
        coordinates_from_array(np.zeros((1, 2)), tmp_path / "a.box", "box")


def test_write_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.txt", "1 2\n")
    write_coordinates(read_coordinates(source), source, keep=np.array([False]))
    assert source.read_text() == ""
    assert [path.name for path in tmp_path.iterdir()] == ["a.txt"]


def test_write_rejects_wrong_lengths(tmp_path: Path) -> None:
    table = read_coordinates(_write(tmp_path / "a.txt", "1 2\n3 4\n"))
    with pytest.raises(ValueError, match="keep"):
        write_coordinates(table, tmp_path / "b.txt", keep=np.array([True]))
    with pytest.raises(ValueError, match="score"):
        write_coordinates(table, tmp_path / "b.txt", extra_columns={"score": np.zeros(3)})


@pytest.mark.parametrize(
    "name, text, reason",
    [
        ("missing.pos", None, "file not found"),
        ("a.xyz", "1 2\n", "unknown coordinate file extension"),
        ("a.star", "data_\nloop_\n_rlnAngleRot #1\n10\n", "no coordinate columns .* none of its 1 row can be"),
        ("a.star", "_rlnCoordinateX 1\n", "line 1: before the first data_ block"),
        ("a.star", "data_\n_rlnImageSize 64\nloop_\n", "line 3: 'loop_' is neither"),
    ],
)
def test_errors_name_the_file(tmp_path: Path, name: str, text: str | None, reason: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(CoordinateFileError, match=reason) as caught:
        read_coordinates(path)
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "name, text, bad, reason",
    [
        ("a.pos", "data_particles\nloop_\n_xcoor\n_ycoor\n1 2\n3\n", 1, "1 value, expected 2"),
        ("a.star", "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 2\n256 256 extra\n3 4\n", 1,
         "3 values, expected 2"),
        ("a.star", "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnFom #3\n1 2 0.5\n3 4 0.5 9\n", 1,
         "4 values, expected 3"),
        ("a.star", "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnMicrographName #3\n"
                   "1 2 'a b.mrc'\n3 4 \"c d.mrc\" 9\n", 1, "4 values, expected 3"),
        ("a.pos", "data_particles\nloop_\n_xcoor\n_ycoor\n1 2\n3 inf\n", 1, "non-finite"),
        ("a.star", "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 two\n3 4\n", 0, "non-numeric"),
        ("a.txt", "x y\n1 2\n3 four\n", 1, "non-numeric"),
        ("a.txt", "1 2\n3 4 5\n", 1, "3 values, expected 2"),
        ("a.csv", "x,y\n1,2\n3\n", 1, "1 value, expected 2"),
        ("a.box", "1 2 3 3\n1 2 3\n", 1, "3 values, expected 4"),
        ("a.box", "1 2 4 4\nx 2 4 4\n", 1, "non-numeric"),
    ],
)
def test_unreadable_rows_are_kept_and_named(tmp_path: Path, name: str, text: str, bad: int, reason: str) -> None:
    """A bad row is NaN with its reason; the file's other rows stay usable and every row is written back."""
    path = _write(tmp_path / name, text)
    table = read_coordinates(path)
    assert list(table.unreadable) == [bad] and reason in table.unreadable[bad]
    assert np.isnan(table.xy[bad]).all() and np.isfinite(np.delete(table.xy, bad, axis=0)).all()
    write_coordinates(table, tmp_path / "out" / name, extra_columns={"score": np.zeros(len(table.xy))})
    assert len(read_coordinates(tmp_path / "out" / name).xy) == len(table.xy)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("data_\nloop_\n_rlnCoordinateX #1\n_rlnAngleRot #2\n1 2\n3 4\n5 6\n", "no _rlnCoordinateY column"),
        ("data_a\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n3 4\n"
         "data_b\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n5 6\n", "several tables with coordinates (data_a, data_b)"),
        ("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n3 4\n"
         "data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n5 6\n", "several tables with coordinates (data_, data_)"),
    ],
)
def test_star_tables_that_cannot_be_scored_keep_every_row(tmp_path: Path, text: str, reason: str) -> None:
    """A coordinate table without one of its columns, or several of them: every row unreadable, none lost."""
    table = read_coordinates(_write(tmp_path / "a.star", text))
    assert len(table.xy) == 3 and np.isnan(table.xy).all()
    assert sorted(table.unreadable) == [0, 1, 2] and all(reason in why for why in table.unreadable.values())
    write_coordinates(table, tmp_path / "out" / "a.star", keep=np.array([False, True, False]))
    assert (tmp_path / "out" / "a.star").read_text().count("data_") == text.count("data_")
    assert len(read_coordinates(tmp_path / "out" / "a.star").xy) == 1


def test_empty_file_has_no_coordinates(tmp_path: Path) -> None:
    table = read_coordinates(_write(tmp_path / "a.star", ""))
    assert table.xy.shape == (0, 2)
    write_coordinates(table, tmp_path / "b.star", extra_columns={"score": np.zeros(0)})
    assert (tmp_path / "b.star").read_text() == ""


@pytest.mark.parametrize(
    "name, key",
    [
        ("Movies/mic_001_autopick.star", "mic_001"),
        ("mic_001.mrc", "mic_001"),
        ("mic_001.pos", "mic_001"),
        ("mic_001_extract.star", "mic_001"),
        ("mic_001_manualpick.star", "mic_001"),
        (Path("/data/mic.002.mrc"), "mic.002"),
    ],
)
def test_micrograph_key(name: str | Path, key: str) -> None:
    assert micrograph_key(name) == key


def test_match_by_key_with_suffixes() -> None:
    micrographs = [Path("mics/mic_001.mrc"), Path("mics/mic_002.mrc"), Path("mics/mic_003.mrc")]
    files = [Path("coords/mic_001_autopick.star"), Path("coords/mic_002.pos"), Path("coords/other.pos")]
    assert match_coordinate_files(micrographs, files) == {
        micrographs[0]: files[0],
        micrographs[1]: files[1],
    }


def test_mapping_file_wins(tmp_path: Path) -> None:
    mapping_path = _write(
        tmp_path / "mapping.txt",
        "# coordinate file, micrograph\ncoords/a.star, mics/mic_002.mrc\nmic_002.pos\tmic_001.mrc  # swapped\n\n",
    )
    mapping = read_mapping_file(mapping_path)
    assert mapping == {"coords/a.star": "mics/mic_002.mrc", "mic_002.pos": "mic_001.mrc"}
    micrographs = [Path("/d/mic_001.mrc"), Path("/d/mic_002.mrc"), Path("/d/mic_003.mrc")]
    files = [Path("/c/a.star"), Path("/c/mic_002.pos"), Path("/c/mic_003.pos")]
    assert match_coordinate_files(micrographs, files, mapping) == {
        micrographs[1]: files[0],
        micrographs[0]: files[1],
        micrographs[2]: files[2],
    }


def test_mapping_file_errors(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.txt", "a.pos mic.mrc extra\n")
    with pytest.raises(CoordinateFileError, match=r"bad.txt: line 1: expected 2 columns"):
        read_mapping_file(bad)
    twice = _write(tmp_path / "twice.txt", "a.pos m1.mrc\na.pos m2.mrc\n")
    with pytest.raises(CoordinateFileError, match="twice.txt: line 2"):
        read_mapping_file(twice)
    with pytest.raises(CoordinateFileError, match="file not found"):
        read_mapping_file(tmp_path / "none.txt")


def test_duplicate_match_names_both_files() -> None:
    micrographs = [Path("mic_001.mrc")]
    files = [Path("a/mic_001.pos"), Path("b/mic_001_autopick.star")]
    with pytest.raises(CoordinateFileError) as caught:
        match_coordinate_files(micrographs, files)
    message = str(caught.value)
    assert message.startswith("mic_001.mrc: ")
    assert "a/mic_001.pos" in message and "b/mic_001_autopick.star" in message
