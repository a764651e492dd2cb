"""Records of JSON, JSONL, CSV and Parquet files, each with the line (or row) it came from.

Every reader returns [(line, record)] so that a bad record can be named `file:line`:
the line of a JSONL record, the line where a JSON array element starts, the line of a
CSV row, the 1-based row index of a Parquet file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .. import bounds
from ..jsonl import read_jsonl
from .textfile import read_json, read_text
from ...config import KnowtuneError

TABLE_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv", ".parquet")


def read_records(path: str | Path) -> list[tuple[int, dict]]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = list(read_jsonl(path))  # `#` comment lines allowed, as in facts files
    elif suffix == ".json":
        rows = _read_json_array(path)
    elif suffix in (".csv", ".tsv"):
        rows = _read_csv(path, delimiter="\t" if suffix == ".tsv" else ",")
    elif suffix == ".parquet":
        rows = _read_parquet(path)
    else:
        raise KnowtuneError(f"unsupported data file type {suffix or '(none)'}; "
                            f"use one of {', '.join(TABLE_SUFFIXES)}", file=str(path))
    if not rows:
        raise KnowtuneError("no records in file", file=str(path))
    return rows


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _read_json_array(path: Path) -> list[tuple[int, dict]]:
    """A JSON array of objects (a single object counts as one record); lines from the parser's offsets."""
    text, whole = read_json(path)
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    if text[start:start + 1] == "{":
        bounds.check_depth(path, _line_of(text, start), whole)
        return [(_line_of(text, start), whole)]
    if text[start:start + 1] != "[":
        raise KnowtuneError("must be a JSON array of objects", file=str(path), line=_line_of(text, start))
    rows = []
    pos = start + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return rows
        obj, end = decoder.raw_decode(text, pos)
        if not isinstance(obj, dict):
            raise KnowtuneError("each element must be a JSON object", file=str(path),
                                line=_line_of(text, pos))
        bounds.check_depth(path, _line_of(text, pos), obj)
        rows.append((_line_of(text, pos), obj))
        bounds.check_records(path, len(rows), rows[-1][0])
        pos = end


def _read_csv(path: Path, *, delimiter: str) -> list[tuple[int, dict]]:
    """A header row, then one record a row; empty cells are absent fields."""
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if not reader.fieldnames:
        return []
    rows = []
    try:
        for record in reader:
            if None in record:  # more cells than header columns
                raise KnowtuneError(f"{len(record[None])} cell(s) more than the header has",
                                    file=str(path), line=reader.line_num)
            cleaned = {k.strip(): v for k, v in record.items() if k is not None and v not in (None, "")}
            if cleaned:
                rows.append((reader.line_num, cleaned))
                bounds.check_records(path, len(rows), reader.line_num)
    except csv.Error as err:
        raise KnowtuneError(f"invalid CSV: {err}", file=str(path), line=reader.line_num) from None
    return rows


def _read_parquet(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise KnowtuneError("file not found", file=str(path))
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise KnowtuneError("reading Parquet needs pyarrow: pip install 'knowtune[docs]'",
                            file=str(path)) from None
    bounds.check_file_size(path)
    try:
        bounds.check_records(path, pq.ParquetFile(path).metadata.num_rows)
        bounds.check_unpacked(path, _parquet_unpacked_bytes(path))
        table = pq.read_table(path)
    except KnowtuneError:
        raise
    except Exception as err:  # pyarrow raises several types for a broken file
        raise KnowtuneError(f"not a readable Parquet file ({type(err).__name__})", file=str(path)) from None
    rows = [(i, _plain(row)) for i, row in enumerate(table.to_pylist(), start=1)]
    for i, row in rows:
        bounds.check_depth(path, i, row)
    return rows


def _parquet_unpacked_bytes(path: Path) -> int:
    """What the file decodes to, measured without decoding it.

    Parquet stores a repeated string once (dictionary encoding): a 1 MB file can decode to
    tens of GB, and the footer's sizes count the encoded pages. Strings are therefore read
    as dictionaries (compact), and their decoded size summed from the dictionary's lengths.
    """
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(path).schema
    texts = [schema.column(i).path for i in range(len(schema)) if schema.column(i).physical_type == "BYTE_ARRAY"]
    compact = pq.ParquetFile(path, read_dictionary=texts)
    total = 0
    for batch in compact.iter_batches(batch_size=256):
        total += sum(_decoded_bytes(column) for column in batch.columns)
        bounds.check_unpacked(path, total)
    return total


def _decoded_bytes(array) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        values = array.dictionary
        if not (pa.types.is_string(values.type) or pa.types.is_binary(values.type)
                or pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)):
            return array.indices.nbytes + values.nbytes
        lengths = pc.binary_length(values).take(array.indices)
        return (pc.sum(lengths).as_py() or 0) + array.indices.nbytes
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _decoded_bytes(array.flatten()) + 8 * len(array)
    if pa.types.is_struct(kind):
        return sum(_decoded_bytes(child) for child in array.flatten())
    return array.nbytes


def _plain(row: dict) -> dict:
    """Parquet nulls are absent fields, like empty CSV cells."""
    return {k: v for k, v in row.items() if v is not None}
