from typing import Any

Routing = tuple[int | None, bool, int | None, int | None]  # horizon, fold, since, until
Scanned = tuple[
    int,
    list[tuple[bytearray, bytearray]],
    bytearray,
    int,
    list[tuple[int, bytes]],
    tuple[bytearray, bytearray, bytearray, bytearray],
    int,
    tuple[bytearray, bytearray, bytearray, bytearray, bytearray],
    tuple[bytearray, bytearray] | tuple[None, None],
    tuple[int, int, int],
]

# The compiled line scanner (_linescan.c); see native.py for how its output is used.
# scan() -> (rows, 15 x (int32 offsets, bytes), int32 field counts, lines seen,
#            [(line index, raw line)] not certified,
#            (int64 timestamp us, int64 not_before us, int64 not_after us, validity bitmap),
#            bytes consumed: at most max_lines lines are read per call,
#            the lines folded into counts, as columns: int32 key (bit 0: status "-", bit 1:
#            more than 15 fields, bit 2: outside the time window), int64 minute us, count,
#            first us, last us, (rows failed, expiring, other): with a routing (horizon,
#            fold, since, until: us or None), the rows come in that order, else all "other";
#            see linescan_route.c); with trace_ids, (16 bytes a row: each conn_trace_id
#            "TID_" + 32 lower-case hex digits as a UUID, validity bitmap), else (None, None)
def scan(
    data: bytes | memoryview,
    max_line: int,
    max_lines: int = ...,
    routing: Routing | None = ...,
    trace_ids: bool = ...,
    /,
) -> Scanned: ...
def keep_freed_memory() -> None: ...

# scan_columns(): scan()'s result for rows [first, rows) given as 15 columns (each None, or
# (validity, offsets, data, dictionary indices, offset, dictionary offset, dictionary
# length, kept verdicts): Arrow buffers, see linescan_columns.c); its lines are rows and its
# declined lines (row index, b"").
def scan_columns(
    columns: list[Any],
    first: int,
    rows: int,
    max_line: int,
    routing: Routing | None = ...,
    trace_ids: bool = ...,
    /,
) -> Scanned: ...
def verdicts_size(values: int, /) -> int: ...  # kept by scan_columns per dictionary
