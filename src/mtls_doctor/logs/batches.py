"""The Arrow record batches of the compiled reader (``native.py``): their schema, and the
batches made of the scanner's output for one chunk of a file (certified rows as the scanner's
columns, declined lines as text for the SQL parser, numbered when the file is fed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtls_doctor.logs.chunks import FileState
from mtls_doctor.logs.lines import duckdb_parts, too_long
from mtls_doctor.logs.parse import RAW_COLUMNS
from mtls_doctor.logs.sources import LogSource

if TYPE_CHECKING:
    import pyarrow as pa

MAX_NUMBERED = 10_000  # declined lines of a fed file whose numbers are kept


def schema() -> pa.Schema:
    """The columns of the batches: the line (when not certified), c1..c15, nf, ts, nb, na,
    and tid: the trace id (c12) as a UUID when it is ``TID_`` and 32 lower-case hex digits
    and the reader was asked for trace ids (what ingest stores: see store.py), else null."""
    import pyarrow as pa

    text = [(name, pa.string()) for name in ("line", "rest", *RAW_COLUMNS)]
    filename = ("filename", pa.dictionary(pa.int32(), pa.string()))
    times = [(name, pa.timestamp("us")) for name in ("ts", "nb", "na")]
    return pa.schema([filename, *text, ("nf", pa.int32()), *times, ("tid", pa.uuid())])


class Batcher:
    """Turns the scanner's output for one chunk into Arrow record batches."""

    def __init__(self, source: LogSource, state: FileState) -> None:
        import pyarrow as pa

        self.pa = pa
        self.schema = schema()
        self.name = pa.array([str(source.path)], pa.string())
        self.state = state

    def _filenames(self, rows: int) -> pa.Array:
        pa = self.pa
        zeros = pa.Array.from_buffers(pa.int32(), rows, [None, pa.py_buffer(bytes(4 * rows))])
        return pa.DictionaryArray.from_arrays(zeros, self.name)

    def certified(self, rows: int, scanned: Any) -> pa.RecordBatch:
        pa = self.pa
        _, columns, counts, _, _, (at, not_before, not_after, validity), _, _, tids, _ = scanned
        arrays = [self._filenames(rows), pa.nulls(rows, pa.string()), pa.nulls(rows, pa.string())]
        for offsets, data in columns:
            arrays.append(
                pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))
            )
        arrays.append(pa.Array.from_buffers(pa.int32(), rows, [None, pa.py_buffer(counts)]))
        micros = pa.timestamp("us")
        arrays.append(pa.Array.from_buffers(micros, rows, [None, pa.py_buffer(at)]))
        present = pa.py_buffer(validity)
        for values in (not_before, not_after):
            arrays.append(pa.Array.from_buffers(micros, rows, [present, pa.py_buffer(values)]))
        if tids[0] is None:  # not asked for (see NativeReader's trace_ids)
            ids = pa.nulls(rows, pa.binary(16))
        else:
            ids = pa.Array.from_buffers(
                pa.binary(16), rows, [pa.py_buffer(tids[1]), pa.py_buffer(tids[0])]
            )
        arrays.append(pa.ExtensionArray.from_storage(pa.uuid(), ids))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def declined(self, first_line: int, items: list[tuple[int, bytes]]) -> pa.RecordBatch | None:
        lines: list[str] = []
        rests: list[str | None] = []
        for index, raw in items:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("utf-8", errors="replace")
                self.state.bad_bytes = True
            self.state.long_lines += sum(too_long(part) for part in text.split("\r"))
            numbered = self.state.numbered
            for head, rest in duckdb_parts(text, first_line + index == 0):
                lines.append(head)
                rests.append(rest)
                if numbered is not None and len(numbered) < MAX_NUMBERED:
                    # Keyed as the parser reports the line (see duckdb_view): trimmed, marked.
                    key = head.rstrip(" ") + ("" if rest is None else "\x01")
                    numbered.setdefault(key, first_line + index + 1)
        if not lines:
            return None
        pa = self.pa
        rows = len(lines)
        arrays = [self._filenames(rows), pa.array(lines, pa.string()), pa.array(rests, pa.string())]
        arrays += [pa.nulls(rows, pa.string()) for _ in RAW_COLUMNS]
        arrays.append(pa.nulls(rows, pa.int32()))
        arrays += [pa.nulls(rows, pa.timestamp("us")) for _ in range(3)]
        arrays.append(pa.ExtensionArray.from_storage(pa.uuid(), pa.nulls(rows, pa.binary(16))))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)
