"""Read and write particle coordinate files and match them to their micrographs.

Cleaning a micrograph means scoring its particles and writing them back, so every
reader here keeps enough of the original file (blocks, columns, delimiter, header)
to write the same file again with some rows dropped and a few columns added.
A row that cannot be read (text or NaN in a coordinate, too few or too many values) does
not sink its file: it is kept, with NaN centres, so that it can be rejected with its reason. So are
all the rows of a STAR table that lacks one of the coordinate columns, or of several tables that
hold coordinates (they may be several micrographs' picks).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from .contract import plural
from .images import atomic_path

FORMATS = ("pos", "star", "box", "text")

_SUFFIX_FORMATS = {
    ".pos": "pos",
    ".star": "star",
    ".box": "box",
    ".txt": "text",
    ".csv": "text",
    ".tab": "text",
    ".coords": "text",
}
COORDINATE_SUFFIXES = tuple(_SUFFIX_FORMATS)
"""The extensions of the coordinate files this engine reads (what a folder of picks is searched for)."""
# STAR column names (without the leading underscore) holding the particle centre.
_STAR_XY_COLUMNS = {"pos": ("xcoor", "ycoor"), "star": ("rlnCoordinateX", "rlnCoordinateY")}
# Text header names recognised as x/y, compared lower-case without a leading underscore.
_TEXT_XY_NAMES = (("x", "y"), ("xcoor", "ycoor"), ("rlncoordinatex", "rlncoordinatey"))
_KEY_SUFFIXES = ("_autopick", "_extract", "_manualpick")
_XMIPP_FIRST_LINE = "# XMIPP_STAR_1 *"
# Enough digits for sub-pixel coordinates and scores; '%g' spells inf and nan so they round-trip.
_NUMBER_FORMAT = "%.8g"


class CoordinateFileError(ValueError):
    """A coordinate or mapping file cannot be used; the message is '<path>: <reason>'."""


def _error(path: str | Path, reason: str) -> CoordinateFileError:
    return CoordinateFileError(f"{path}: {reason}")


def _format_number(value: float) -> str:
    return _NUMBER_FORMAT % value


@dataclass
class _StarContent:
    """A STAR file as parsed blocks, in file order (names may repeat); every value is kept as its text.

    The coordinates are the rows of the tables at ``coordinate_blocks``, in file order (usually one).
    """

    blocks: list[tuple[str, pd.DataFrame | dict[str, str]]]
    coordinate_blocks: list[int]

    def render(self, fmt: str, keep: np.ndarray, extra: dict[str, list[str]]) -> str:
        blocks = list(self.blocks)
        start = kept = 0
        for position in self.coordinate_blocks:
            name, table = blocks[position]
            assert isinstance(table, pd.DataFrame)
            here = keep[start:start + len(table)]
            table = table[here].reset_index(drop=True)
            for column, values in extra.items():
                table[_star_column_name(fmt, column)] = values[kept:kept + len(table)]
            blocks[position] = (name, table)
            start, kept = start + len(here), kept + len(table)
        # one block at a time, as starfile takes a dict (no repeated names); each comes after its header line
        texts = [starfile.to_string({name: block}, sep="\t", na_rep="nan").split("\n", 1) for name, block in blocks]
        head = _XMIPP_FIRST_LINE if fmt == "pos" else texts[0][0] if texts else ""
        body = "".join(text[1] for text in texts)
        if fmt == "pos":  # Xmipp recognises its STAR dialect by the first line and writes bare labels
            body = re.sub(r"(?m)^(_\S+) #\d+$", r"\1", body)
        return head + "\n" + body


@dataclass
class _TextContent:
    """A delimited text file as tokens, so untouched values are written back verbatim."""

    delimiter: str
    header: list[str] | None
    rows: list[list[str]]
    comments: list[str] = field(default_factory=list)

    def render(self, fmt: str, keep: np.ndarray, extra: dict[str, list[str]]) -> str:
        header = None if self.header is None else list(self.header)
        rows = [list(row) for row, kept in zip(self.rows, keep) if kept]
        for name, values in extra.items():
            if header is not None and name in header:
                column = header.index(name)
                for row, value in zip(rows, values):
                    row[column] = value
                continue
            if header is not None:
                header.append(name)
            for row, value in zip(rows, values):
                row.append(value)
        lines = self.comments + ([] if header is None else [self.delimiter.join(header)])
        lines += [self.delimiter.join(row) for row in rows]
        return "".join(line + "\n" for line in lines)


@dataclass
class CoordinateTable:
    """Particle centres of one coordinate file plus what is needed to write it back.

    Rows that could not be read have NaN centres; ``unreadable`` says why, by row index.
    """

    path: Path
    format: str
    xy: np.ndarray
    box_size: float | None = None
    _content: _StarContent | _TextContent | None = field(default=None, repr=False)
    unreadable: dict[int, str] = field(default_factory=dict)


def _star_column_name(fmt: str, name: str) -> str:
    """Xmipp keeps the tool's historical `_name`; RELION columns get an `mc` prefix."""
    return name if fmt == "pos" else "mc" + name[0].upper() + name[1:]


def _format_of(path: Path) -> str:
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_SUFFIX_FORMATS))
        raise _error(path, f"unknown coordinate file extension '{path.suffix}' (expected one of {known})")
    return fmt


def _number(value: object) -> float:
    """A finite float, or NaN for text, blanks and non-finite values."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return np.nan
    return number if np.isfinite(number) else np.nan


def _values(rows: list[list[object]], width: int, what: str, unreadable: dict[int, str]) -> np.ndarray:
    """Rows of ``width`` raw values to an (N, width) float array; a row with a bad value is NaN and noted."""
    values = np.array([[_number(value) for value in row] for row in rows], dtype=float).reshape(len(rows), width)
    for index in np.flatnonzero(~np.isfinite(values).all(axis=1)):
        unreadable.setdefault(int(index), f"non-numeric or non-finite {what} value")
    values[list(unreadable)] = np.nan
    return values


def _star_values(line: str) -> list[str]:
    """The values of one STAR line: split at whitespace, quoted values kept whole, '#' starts a comment."""
    if '"' not in line and "'" not in line:
        return line.split("#", 1)[0].split()
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split, lexer.commenters, lexer.escape = True, "#", ""
    try:
        return list(lexer)
    except ValueError:  # an unclosed quote: taken as plain text
        return line.split()


def _parse_star(path: Path) -> tuple[list[tuple[str, pd.DataFrame | dict[str, str]]], dict[int, dict[int, str]]]:
    """A STAR file's blocks in file order (values as text) and, per table, its rows of the wrong width.

    Read a line at a time, as RELION does, so that one row with a value too many or too few is that
    row's problem (its values are kept, in its cells), not the file's.
    """
    parsed: list[tuple[str, dict[str, str], tuple[list[str], list[list[str]]] | None]] = []
    for number, line in enumerate(_text_lines(path), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("data_"):
            parsed.append((line[5:], {}, None))
            continue
        if not parsed:
            raise _error(path, f"cannot parse STAR file (line {number}: before the first data_ block)")
        name, pairs, loop = parsed[-1]
        if loop is not None:
            labels, rows = loop
            if line.startswith("_") and not rows:
                labels.append(line.split()[0][1:])
            else:
                rows.append(_star_values(line))
        elif line.startswith("loop_") and not pairs:
            parsed[-1] = (name, pairs, ([], []))
        elif line.startswith("_"):
            key, *value = _star_values(line) or [line]
            pairs[key[1:]] = " ".join(value)
        else:
            raise _error(path, f"cannot parse STAR file (line {number}: {line[:40]!r} is neither a label, "
                               "a value nor loop_)")
    blocks: list[tuple[str, pd.DataFrame | dict[str, str]]] = []
    ragged: dict[int, dict[int, str]] = {}
    for name, pairs, loop in parsed:
        if loop is None:
            blocks.append((name, pairs))
            continue
        labels, rows = loop
        width = len(labels)
        ragged[len(blocks)] = {index: f"{plural(len(row), 'value')}, expected {width}"
                               for index, row in enumerate(rows) if len(row) != width}
        cells = [row if len(row) == width else (row + [""] * width)[:width - 1] + [" ".join(row[width - 1:])]
                 for row in rows] if width else []
        blocks.append((name, pd.DataFrame(cells, columns=labels, dtype=object)))
    return blocks, ragged


def _read_star(path: Path, fmt: str) -> CoordinateTable:
    """The rows of the table holding the coordinate columns; a row that cannot be read is kept, NaN.

    A table with one of the two columns is still the coordinate table (its every row unreadable); rows of
    several tables with coordinates are all unreadable, as they may belong to several micrographs.
    """
    blocks, ragged = _parse_star(path)
    columns = _STAR_XY_COLUMNS[fmt]
    tables = {position: block for position, (_, block) in enumerate(blocks) if isinstance(block, pd.DataFrame)}
    candidates = [position for position, table in tables.items() if set(columns) & set(table.columns)]
    if not candidates:
        rows = sum(len(table) for table in tables.values())
        raise _error(path, f"no coordinate columns _{columns[0]} and _{columns[1]}, so none of its "
                           f"{plural(rows, 'row')} can be scored")
    chosen = [position for position in candidates if len(tables[position])] or candidates[:1]
    several = ", ".join(f"data_{blocks[position][0]}" for position in chosen)
    unreadable: dict[int, str] = {}
    values: list[list[object]] = []
    for position in chosen:
        table = tables[position]
        missing = " and ".join(f"_{column}" for column in columns if column not in table.columns)
        why = (f"one of several tables with coordinates ({several})" if len(chosen) > 1
               else f"no {missing} column" if missing else None)
        for index in range(len(table)):
            reason = why or ragged[position].get(index)
            if reason:
                unreadable[len(values) + index] = reason
        values += [[row.get(column) for column in columns] for row in table.to_dict("records")]
    xy = _values(values, 2, "coordinate", unreadable)
    return CoordinateTable(path, fmt, xy, None, _StarContent(blocks, chosen), unreadable)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _has_header(lines: list[list[str]]) -> bool:
    """A first line is a header if it has text where the next line has numbers (or stands alone).

    A line with a number among its tokens is data (perhaps with a typo), never a header.
    """
    first = lines[0]
    if any(_is_number(token) for token in first):
        return False
    if len(lines) == 1:
        return True
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, lines[1]))


def _text_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except UnicodeDecodeError as exc:
        raise _error(path, f"not a text file ({exc})") from None


def _parse_text(path: Path) -> _TextContent:
    raw = _text_lines(path)
    comments = [line for line in raw if line.lstrip().startswith("#")]
    data = [line for line in raw if line.strip() and not line.lstrip().startswith("#")]
    if any("," in line for line in data):
        delimiter = ","
        lines = [[token.strip() for token in line.split(",")] for line in data]
    else:
        delimiter = "\t" if any("\t" in line for line in data) else " "
        lines = [line.split() for line in data]
    header = lines.pop(0) if lines and _has_header(lines) else None
    return _TextContent(delimiter, header, lines, comments)


def _row_widths(content: _TextContent, needed: int) -> dict[int, str]:
    """Rows whose width differs from the header's (or the most common one), or is below ``needed``."""
    widths = [len(row) for row in content.rows]
    if content.header is not None:
        width = len(content.header)
    else:
        width = max(widths, key=widths.count) if widths else 0
    if width < needed:
        width = needed
    return {index: f"{plural(found, 'value')}, expected {width}" for index, found in enumerate(widths) if found != width}


def _text_xy_columns(header: list[str] | None) -> tuple[int, int]:
    """Columns named like x/y when the header has them, else the first two."""
    if header is not None:
        names = [name.lower().lstrip("_") for name in header]
        for x_name, y_name in _TEXT_XY_NAMES:
            if x_name in names and y_name in names:
                return names.index(x_name), names.index(y_name)
    return 0, 1


def _read_text(path: Path, fmt: str) -> CoordinateTable:
    content = _parse_text(path)
    columns = tuple(range(4)) if fmt == "box" else _text_xy_columns(content.header)
    unreadable = _row_widths(content, max(columns) + 1)
    values = _values([[row[i] if i < len(row) else None for i in columns] for row in content.rows], len(columns),
                     "box" if fmt == "box" else "coordinate", unreadable)
    if fmt == "box":
        # EMAN stores the lower-left corner and the box width and height.
        xy = values[:, :2] + values[:, 2:] / 2
        sizes = values[np.isfinite(values[:, 2]), 2]
        return CoordinateTable(path, fmt, xy, float(np.median(sizes)) if len(sizes) else None, content, unreadable)
    return CoordinateTable(path, fmt, values, None, content, unreadable)


def read_coordinates(path: str | Path) -> CoordinateTable:
    """Read the particle centres of a coordinate file, keeping it writable in its own format."""
    path = Path(path)
    fmt = _format_of(path)
    if not path.is_file():
        raise _error(path, "file not found")
    try:
        if path.stat().st_size == 0:  # a picker's output for a micrograph without picks
            return CoordinateTable(path, fmt, np.zeros((0, 2)), None, _TextContent(" ", None, []))
        return _read_star(path, fmt) if fmt in _STAR_XY_COLUMNS else _read_text(path, fmt)
    except OSError as error:
        raise _error(path, f"cannot be read ({error.strerror or error})") from None


def coordinates_from_array(
    xy: np.ndarray, path: str | Path, fmt: str, box_size: float | None = None
) -> CoordinateTable:
    """Build a table from bare centres (e.g. from a JSON manifest) so it can be written.

    Xmipp `.pos` coordinates are integers, so centres are rounded there; EMAN `.box`
    stores corners and therefore needs `box_size`.
    """
    path = Path(path)
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if fmt == "pos":
        xy = np.rint(xy)
    columns = [[_format_number(value) for value in xy[:, 0]], [_format_number(value) for value in xy[:, 1]]]
    if fmt in _STAR_XY_COLUMNS:
        table = pd.DataFrame(dict(zip(_STAR_XY_COLUMNS[fmt], columns)))
        block_name = "particles" if fmt == "pos" else ""
        return CoordinateTable(path, fmt, xy, None, _StarContent([(block_name, table)], [0]))
    if fmt == "box":
        if box_size is None:
            raise ValueError(f"{path}: the box format needs a box size to store corners")
        size = _format_number(box_size)
        rows = [[_format_number(x - box_size / 2), _format_number(y - box_size / 2), size, size] for x, y in xy]
        return CoordinateTable(path, fmt, xy, float(box_size), _TextContent("\t", None, rows))
    if fmt == "text":
        return CoordinateTable(path, fmt, xy, None, _TextContent("\t", ["x", "y"], [list(row) for row in zip(*columns)]))
    raise ValueError(f"unknown coordinate format {fmt!r} (expected one of {FORMATS})")


def _write_atomically(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_coordinates(
    table: CoordinateTable,
    path: str | Path,
    keep: np.ndarray | None = None,
    extra_columns: dict[str, np.ndarray] | None = None,
) -> None:
    """Write the table in its own format, keeping the `keep` rows and appending `extra_columns`.

    Extra columns are named bare ('goodRegionScore'); each format spells them its way:
    `.pos` `_goodRegionScore`, RELION `.star` `_mcGoodRegionScore`, box/text `goodRegionScore`.
    A column that already exists under that spelling is overwritten.
    """
    count = len(table.xy)
    keep = np.ones(count, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    if keep.shape != (count,):
        raise ValueError(f"{table.path}: keep mask has shape {keep.shape}, expected ({count},)")
    extra: dict[str, list[str]] = {}
    for name, values in (extra_columns or {}).items():
        values = np.asarray(values, dtype=float)
        if not name.isidentifier():
            raise ValueError(f"{table.path}: column name {name!r} is not a plain identifier")
        if values.shape != (count,):
            raise ValueError(f"{table.path}: column {name!r} has shape {values.shape}, expected ({count},)")
        extra[name] = [_format_number(value) for value in values[keep]]
    if table._content is None:
        raise ValueError(f"{table.path}: table has no file content; build it with coordinates_from_array")
    _write_atomically(Path(path), table._content.render(table.format, keep, extra))


def micrograph_key(name: str | Path) -> str:
    """The stem shared by a micrograph and its coordinate files, e.g. 'mic_001' for 'mic_001_autopick.star'."""
    key = Path(name).stem
    for suffix in _KEY_SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key


def match_coordinate_files(
    micrographs: list[Path], coordinate_files: list[Path], mapping: dict[str, str] | None = None
) -> dict[Path, Path]:
    """Pair each micrograph with its coordinate file: explicit mapping first, else by micrograph_key.

    Mapping keys and values are compared by basename, so they may be given as names or paths.
    Micrographs without a coordinate file are left out of the result.
    """
    mapped = {Path(coordinate).name: Path(micrograph).name for coordinate, micrograph in (mapping or {}).items()}
    by_name: dict[str, list[Path]] = {}
    by_key: dict[str, list[Path]] = {}
    for micrograph in micrographs:
        by_name.setdefault(micrograph.name, []).append(micrograph)
        by_key.setdefault(micrograph_key(micrograph), []).append(micrograph)
    matches: dict[Path, list[Path]] = {}
    for coordinate_file in coordinate_files:
        if coordinate_file.name in mapped:
            targets = by_name.get(mapped[coordinate_file.name], [])
        else:
            targets = by_key.get(micrograph_key(coordinate_file), [])
        if len(targets) > 1:
            listed = ", ".join(str(target) for target in targets)
            raise _error(coordinate_file, f"matches several micrographs ({listed})")
        if targets:
            matches.setdefault(targets[0], []).append(coordinate_file)
    for micrograph, files in matches.items():
        if len(files) > 1:
            listed = ", ".join(str(file) for file in files)
            raise _error(micrograph, f"several coordinate files match this micrograph ({listed})")
    return {micrograph: files[0] for micrograph, files in matches.items()}


def read_mapping_file(path: str | Path) -> dict[str, str]:
    """Read 'coordinate file, micrograph' pairs, one per line; '#' starts a comment."""
    path = Path(path)
    if not path.is_file():
        raise _error(path, "file not found")
    mapping: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = re.split(r"[,\s]+", line.split("#", 1)[0].strip())
        if fields == [""]:
            continue
        if len(fields) != 2:
            raise _error(path, f"line {number}: expected 2 columns (coordinate file, micrograph), found {len(fields)}")
        coordinate, micrograph = fields
        if mapping.get(coordinate, micrograph) != micrograph:
            raise _error(path, f"line {number}: {coordinate} is mapped to both {mapping[coordinate]} and {micrograph}")
        mapping[coordinate] = micrograph
    return mapping
