"""Running SQL on Amazon Athena with boto3: start, poll with backoff, page results, stop.

:class:`AthenaRunner` is the :class:`~mtls_doctor.athena.target.QueryRunner` of the Athena
engine (``athena/`` sits above ``aws/``: this module does not import it). Results come back
as strings; they are converted to Python values by the column types Athena reports, so
diagnose sees the same types DuckDB would give it.

Athena has no dry run, so :func:`estimate_scan` sums the sizes of the objects under the
day folders (S3 ListObjectsV2): a text table is read whole by every query.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from mtls_doctor.aws.session import translate
from mtls_doctor.errors import AwsAccessError, InputError

_RUNNING = {"QUEUED", "RUNNING"}
_INT_TYPES = {"tinyint", "smallint", "integer", "int", "bigint"}
_FLOAT_TYPES = {"double", "real", "float"}
PAGE_SIZE = 1000
# The yyyy/MM/dd folders under .../elasticloadbalancing/REGION/, which hold the *delivery*
# date (spec §1.2): the Athena table's ``day`` partitions (athena/ddl.py) use it too.
DAY_FORMAT = "%Y/%m/%d"


@dataclass(frozen=True)
class QueryResult:
    """Rows of one finished query and what Athena says it read."""

    rows: list[tuple[Any, ...]]
    scanned_bytes: int = 0
    query_id: str = ""


class AthenaQueryError(AwsAccessError):
    """A query Athena accepted but did not finish (FAILED or CANCELLED)."""


@dataclass(frozen=True)
class Backoff:
    """Polling pauses: ``first`` seconds, times ``factor`` each time, at most ``most``."""

    first: float = 0.25
    factor: float = 1.6
    most: float = 5.0

    def delays(self) -> Any:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.most)


def convert(value: str | None, kind: str) -> Any:
    """One Athena result cell (always text) as the Python value DuckDB would return."""
    if value is None:
        return None
    base = kind.split("(", 1)[0].strip().lower()
    if base in _INT_TYPES:
        return int(value)
    if base in _FLOAT_TYPES or base == "decimal":
        return float(value)
    if base == "boolean":
        return value.lower() == "true"
    if base == "timestamp":
        return datetime.fromisoformat(value.strip())
    if base == "date":
        return date.fromisoformat(value)
    if base == "json":  # arrays are cast to JSON by dialect.render (see _json_arrays there)
        return json.loads(value)
    return value


class AthenaRunner:
    """Runs Trino SQL in one workgroup, one query at a time (a diagnosis is one query)."""

    def __init__(
        self,
        client: Any,
        workgroup: str,
        *,
        output_location: str | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.workgroup = workgroup
        self.output_location = output_location
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def _call(self, action: str, **kwargs: Any) -> Any:
        import botocore.exceptions

        try:
            return getattr(self.client, action)(**kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            name = "athena:" + "".join(p.title() for p in action.split("_"))
            raise translate(error, action=name, resource=f"workgroup {self.workgroup}") from error

    def start(self, sql: str) -> str:
        kwargs: dict[str, Any] = {"QueryString": sql, "WorkGroup": self.workgroup}
        if self.output_location:
            kwargs["ResultConfiguration"] = {"OutputLocation": self.output_location}
        query_id = str(self._call("start_query_execution", **kwargs)["QueryExecutionId"])
        with self._lock:
            self._running.add(query_id)
        return query_id

    def wait(self, query_id: str) -> int:
        """Poll until the query ends; the bytes it scanned."""
        for delay in self.backoff.delays():
            execution = self._call("get_query_execution", QueryExecutionId=query_id)
            execution = execution["QueryExecution"]
            state = execution["Status"]["State"]
            if state not in _RUNNING:
                break
            self.sleep(delay)
        with self._lock:
            self._running.discard(query_id)
        if state != "SUCCEEDED":
            reason = execution["Status"].get("StateChangeReason") or state
            raise AthenaQueryError(
                f"Athena query {query_id} {state.lower()}: {reason}",
                hint="Check the table (mtls-doctor athena setup), the workgroup and its "
                "output location; the Athena console shows the query under its ID.",
            )
        return int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))

    def results(self, query_id: str) -> list[tuple[Any, ...]]:
        """Every row, page by page; the first row of a SELECT's first page is its header."""
        rows: list[tuple[Any, ...]] = []
        kwargs: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": PAGE_SIZE}
        first = True
        while True:
            page = self._call("get_query_results", **kwargs)
            result = page["ResultSet"]
            types = [c["Type"] for c in result["ResultSetMetadata"]["ColumnInfo"]]
            data = result.get("Rows", [])
            if first and data:
                data = data[1:]
            first = False
            for row in data:
                cells = [cell.get("VarCharValue") for cell in row.get("Data", [])]
                rows.append(tuple(convert(v, t) for v, t in zip(cells, types, strict=True)))
            token = page.get("NextToken")
            if not token:
                return rows
            kwargs["NextToken"] = token

    def run(self, sql: str) -> QueryResult:
        query_id = self.start(sql)
        try:
            scanned = self.wait(query_id)
        except BaseException:
            self.stop_all()
            raise
        return QueryResult(self.results(query_id), scanned, query_id)

    def stop_all(self) -> list[str]:
        """Stop every query still running (Ctrl-C, or an error while waiting)."""
        with self._lock:
            running = sorted(self._running)
            self._running.clear()
        for query_id in running:
            try:
                self.client.stop_query_execution(QueryExecutionId=query_id)
            except Exception:  # stopping is best effort; the query ends on its own anyway
                continue
        return running


@dataclass(frozen=True)
class TableInfo:
    """What the table's metadata says: the folder above the day folders, the strftime
    pattern of a day folder under it, the first projected day, and every parameter (the
    SerDe, the table properties) for telling the table's kind."""

    location: str | None
    day_format: str = DAY_FORMAT + "/"
    start: date | None = None
    parameters: dict[str, str] = field(default_factory=dict)


def _day_format(suffix: str) -> str:
    """``${day}`` (the legacy ``yyyy/MM/dd`` partition) or ``year=${year}/...`` as strftime."""
    if "${day}" in suffix and "${year}" not in suffix:
        suffix = suffix.replace("${day}", DAY_FORMAT)
    pattern = suffix.replace("${year}", "%Y").replace("${month}", "%m").replace("${day}", "%d")
    return pattern if pattern.endswith("/") else pattern + "/"


def _start(params: dict[str, str]) -> date | None:
    for key, fmt in (
        ("mtls_doctor.projection_start", "%Y-%m-%d"),
        ("projection.day.range", DAY_FORMAT),
        ("projection.year.range", "%Y"),
    ):
        text = params.get(key, "").split(",")[0].strip()
        if text:
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
    return None


def table_info(client: Any, database: str, table: str) -> TableInfo:
    """The table's layout, from its metadata (one GetTableMetadata call)."""
    import botocore.exceptions

    try:
        meta = client.get_table_metadata(
            CatalogName="AwsDataCatalog", DatabaseName=database, TableName=table
        )["TableMetadata"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise translate(
            error, action="athena:GetTableMetadata", resource=f"table {database}.{table}"
        ) from error
    params = {str(k): str(v) for k, v in meta.get("Parameters", {}).items()}
    template = params.get("storage.location.template") or ""
    if "${" in template:
        head = template[: template.index("${")]
        location, _, lead = head.rpartition("/")
        return TableInfo(
            location + "/", _day_format(lead + template[len(head) :]), _start(params), params
        )
    return TableInfo(params.get("location"), DAY_FORMAT + "/", _start(params), params)


def table_location(client: Any, database: str, table: str) -> tuple[str | None, date | None]:
    """The table's log folder and projection start, from its metadata."""
    info = table_info(client, database, table)
    return info.location, info.start


@dataclass(frozen=True)
class ScanEstimate:
    """What a query over ``days`` reads, by listing the objects under the day folders."""

    days: tuple[date, ...]
    objects: int
    bytes: int
    conn_log_bytes: int
    # The table's kind as its metadata tells it (athena.vended.kind_of), when it was read.
    table_kind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "partitions": [d.strftime(DAY_FORMAT) for d in self.days],
            "objects": self.objects,
            "bytes": self.bytes,
            "conn_log_bytes": self.conn_log_bytes,
        }


def estimate_scan(
    s3: Any,
    location: str,
    days: Sequence[date],
    parallel: int = 8,
    *,
    day_format: str = DAY_FORMAT + "/",
) -> ScanEstimate:
    """Sizes of the objects under each ``location/yyyy/mm/dd/`` (``day_format``: a vended
    table's ``year=%Y/month=%m/day=%d/``); every object counts, since Athena may open
    access-log objects in the same folders before the name filter drops them.
    """
    import botocore.exceptions

    bucket, _, prefix = location[len("s3://") :].partition("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"

    def one(day: date) -> tuple[int, int, int]:
        count = total = conn = 0
        paginator = s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix + day.strftime(day_format)):
                for obj in page.get("Contents", []):
                    count += 1
                    total += int(obj["Size"])
                    if "/conn_log" in "/" + obj["Key"].rsplit("/", 1)[-1]:
                        conn += int(obj["Size"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise translate(error, action="s3:ListBucket", resource=f"s3://{bucket}") from error
        return count, total, conn

    if not days:
        return ScanEstimate((), 0, 0, 0)
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(days)))) as pool:
        parts = list(pool.map(one, days))
    return ScanEstimate(
        tuple(days), sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts)
    )


def check_output_location(text: str | None) -> str | None:
    if text is not None and not text.startswith("s3://"):
        raise InputError(f"{text!r} is not an S3 location", hint="e.g. s3://BUCKET/athena-results/")
    return text
