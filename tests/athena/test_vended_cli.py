"""``athena ddl --kind json|parquet`` and ``diagnose/report --engine athena`` on a vended
table, from the command line (no network: Athena is the DuckDB stand-in, the table's
metadata and S3 listing go through botocore's Stubber)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import boto3
import duckdb
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from mtls_doctor.athena import session
from mtls_doctor.athena.vended import VendedTableSpec, kind_of
from mtls_doctor.aws.athena import ScanEstimate, estimate_scan, table_info
from mtls_doctor.cli import cli
from tests.athena.fakeathena import DuckRunner, load_table
from tests.athena.vendedfake import VENDED_LOCATION, json_lines, load_json_table
from tests.diagnose.corpus import crafted_lines

KEY = (
    "2024/04/05/conn_log_123456789012_elasticloadbalancing_us-east-1_app.demo."
    "0123456789abcdef_20240405T1315Z_10.0.0.5_abc1.log.gz"
)
WINDOW = ("--since", "2024-04-05T00:00:00Z", "--until", "2024-04-06T00:00:00Z")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("kind", "storage"),
    [
        ("json", "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'"),
        ("parquet", "STORED AS PARQUET"),
    ],
)
def test_ddl_of_a_vended_table(kind: str, storage: str) -> None:
    code, out, err = invoke("athena", "ddl", "--kind", kind, "--location", VENDED_LOCATION)
    assert code == 0 and err == ""
    assert f"CREATE EXTERNAL TABLE IF NOT EXISTS `mtls_doctor`.`alb_connection_logs_{kind}`" in out
    assert storage in out
    assert "PARTITIONED BY (`year` string, `month` string, `day` string)" in out
    template = VENDED_LOCATION + "year=${year}/month=${month}/day=${day}/"
    assert f"'storage.location.template' = '{template}'" in out
    assert "'projection.year.range' = '2026,NOW'" in out
    assert f"'mtls_doctor.table_kind' = '{kind}'" in out
    # The columns are the record fields, `time` first; JSON reads every value as a string.
    assert "`time` string," in out and "`ip_address`" in out
    assert ("`client_port` string" in out) == (kind == "json")


def test_ddl_layout_and_types_are_settings() -> None:
    code, out, _ = invoke(
        "athena", "ddl", "--kind", "parquet", "--location", "s3://logs/vended/",
        "--day-path", "${year}/${month}/${day}", "--column-type", "client_port=bigint",
        "--projection-start", "2026-08-01", "--table", "conn_pq",
    )  # fmt: skip
    assert code == 0
    assert "'storage.location.template' = 's3://logs/vended/${year}/${month}/${day}/'" in out
    assert "`client_port` bigint" in out and "`listener_port` int" in out
    assert "`mtls_doctor`.`conn_pq`" in out and "'2026-08-01'" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--kind", "json", "--column-type", "client_port=int"), 2, "for Parquet tables"),
        (("--kind", "parquet", "--column-type", "client_port=float"), 2, "not a supported"),
        (("--kind", "parquet", "--column-type", "port=int"), 2, "not a record field"),
        (("--kind", "parquet", "--column-type", "client_port"), 2, "FIELD=TYPE"),
        (("--kind", "json", "--day-path", "year=${year}/day=${day}"), 2, "--day-path"),
        (("--day-path", "${year}/${month}/${day}/"), 2, "go with --kind"),
    ],
)
def test_ddl_refuses_bad_settings(args: tuple[str, ...], code: int, message: str) -> None:
    got, out, err = invoke("athena", "ddl", "--location", VENDED_LOCATION, *args)
    assert (got, out) == (code, "")
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_ddl_refuses_a_location_that_is_not_an_s3_folder() -> None:
    code, out, err = invoke("athena", "ddl", "--kind", "json", "--location", "s3://b/it's/")
    assert code == 3 and out == "" and "hint: " in err


@pytest.fixture
def athena_tables(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The legacy table and a vended JSON table of the same connections in one stand-in;
    the estimate tells the kind the table's metadata would."""
    con = duckdb.connect()
    load_table(con, {KEY: crafted_lines()})
    spec = VendedTableSpec(VENDED_LOCATION, "json")
    load_json_table(con, spec, {KEY: json_lines(crafted_lines(), typed=True)})
    runner = DuckRunner(con)
    told: dict[str, str] = {"alb_connection_logs": "legacy", spec.table: "json"}

    def estimate(settings: Any, runner_: Any, days: Any, today: date) -> ScanEstimate:
        picked = tuple(days.days(date(2024, 4, 4), date(2024, 4, 6)))
        return ScanEstimate(picked, 2, 2**30, 0, table_kind=told[settings.table])

    monkeypatch.setattr(session, "make_runner", lambda settings: runner)
    monkeypatch.setattr(session, "estimate_partitions", estimate)
    return {"runner": runner, "table": spec.table}


def test_diagnose_a_vended_table_told_by_its_metadata(athena_tables: dict[str, Any]) -> None:
    base = ("diagnose", "--engine", "athena", *WINDOW, "--format", "json")
    code, out, err = invoke(*base)
    assert code == 1, err
    legacy = json.loads(out)
    code, out, err = invoke(*base, "--athena-table", athena_tables["table"])
    assert code == 1, err
    assert "alb_connection_logs_json (vended json): 3 partition(s)" in err
    vended = json.loads(out)
    for result in (legacy, vended):
        result.pop("generated_at")
    assert vended["failures"] and vended == legacy
    assert "concat" in athena_tables["runner"].sqls[-1].lower()


def test_report_on_a_vended_table(athena_tables: dict[str, Any]) -> None:
    pages = []
    for table in ("alb_connection_logs", athena_tables["table"]):
        code, page, err = invoke(
            "report", "--engine", "athena", "--athena-table", table, *WINDOW, "-o", "-"
        )
        assert code == 1, err
        pages.append([ln for ln in page.splitlines() if "generated" not in ln.lower()])
    assert "ClientCertExpired" in "\n".join(pages[1]) and pages[1] == pages[0]


def test_a_kind_that_contradicts_the_table_runs_nothing(athena_tables: dict[str, Any]) -> None:
    code, out, err = invoke(
        "diagnose", "--engine", "athena", "--athena-table", athena_tables["table"],
        "--athena-table-kind", "parquet",
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "is a json table (its metadata), not parquet" in err
    assert athena_tables["runner"].sqls == []
    # Near miss: naming the kind the table has runs the query.
    code, _, err = invoke(
        "diagnose", "--engine", "athena", "--athena-table", athena_tables["table"],
        "--athena-table-kind", "json",
    )  # fmt: skip
    assert code == 1, err


@pytest.mark.parametrize(
    ("parameters", "kind"),
    [
        ({"mtls_doctor.table_kind": "parquet"}, "parquet"),
        ({"serde.serialization.lib": "org.openx.data.jsonserde.JsonSerDe"}, "json"),
        (
            {"inputformat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"},
            "parquet",
        ),
        ({"serde.serialization.lib": "org.apache.hadoop.hive.serde2.RegexSerDe"}, "legacy"),
        ({"serde.serialization.lib": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"}, None),
    ],
)
def test_kind_of_a_table_from_its_metadata(parameters: dict[str, str], kind: str | None) -> None:
    assert kind_of(parameters) == kind


def _client(service: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )


def test_table_info_and_estimate_follow_the_hive_day_folders() -> None:
    athena, s3 = _client("athena"), _client("s3")
    spec = VendedTableSpec(VENDED_LOCATION, "parquet", projection_start=date(2026, 8, 1))
    params = {
        "storage.location.template": spec.base + spec.day_path,
        "projection.year.range": "2026,NOW",
        "projection.day.range": "1,31",
        "mtls_doctor.table_kind": "parquet",
        "mtls_doctor.projection_start": "2026-08-01",
        "inputformat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    }
    with Stubber(athena) as stub:
        stub.add_response(
            "get_table_metadata",
            {"TableMetadata": {"Name": spec.table, "Parameters": params}},
            {"CatalogName": "AwsDataCatalog", "DatabaseName": "d", "TableName": "t"},
        )
        info = table_info(athena, "d", "t")
    assert info.location == VENDED_LOCATION and info.start == date(2026, 8, 1)
    assert info.day_format == "year=%Y/month=%m/day=%d/"
    assert kind_of(info.parameters) == "parquet"
    prefix = VENDED_LOCATION.removeprefix("s3://logs-bucket/")
    with Stubber(s3) as stub:
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": prefix + "year=2026/month=08/day=02/a.parquet", "Size": 7}]},
            {"Bucket": "logs-bucket", "Prefix": prefix + "year=2026/month=08/day=02/"},
        )
        scan = estimate_scan(s3, info.location, [date(2026, 8, 2)], day_format=info.day_format)
    assert (scan.objects, scan.bytes) == (1, 7)


def test_ddl_takes_a_timestamp_time_and_nothing_else_as_timestamp() -> None:
    base = ("athena", "ddl", "--kind", "parquet", "--location", VENDED_LOCATION)
    code, out, _ = invoke(*base, "--column-type", "time=timestamp")
    assert code == 0 and "`time` timestamp," in out
    code, out, err = invoke(*base, "--column-type", "client_port=timestamp")
    assert code == 2 and out == "" and "not a supported type" in err


def test_setup_creates_the_vended_table_and_checks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from mtls_doctor.aws import athena as aws_athena
    from mtls_doctor.aws.athena import QueryResult

    sent: list[str] = []

    class Runner:
        def __init__(self, client: Any, workgroup: str, **kwargs: Any) -> None:
            self.workgroup = workgroup

        def run(self, sql: str) -> QueryResult:
            sent.append(sql)
            return QueryResult([("row",)] if sql.startswith("SELECT") else [], 0, "q1")

    monkeypatch.setattr(aws_athena, "AthenaRunner", Runner)
    args = ("--kind", "json", "--location", VENDED_LOCATION)
    code, out, err = invoke("athena", "setup", *args, "--region", "eu-west-1", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["kind"], result["table"], result["check_rows"]) == (
        "json",
        "alb_connection_logs_json",
        1,
    )
    _, ddl, _ = invoke("athena", "ddl", *args)
    assert [f"{s};" for s in sent[:2]] == ddl.strip().split("\n\n")
    assert sent[2].startswith('SELECT * FROM "mtls_doctor"."alb_connection_logs_json"')
