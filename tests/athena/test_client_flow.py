"""The Athena client flow against botocore's Stubber (responses checked against the model)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from mtls_doctor.athena.dialect import render
from mtls_doctor.aws.athena import AthenaQueryError, AthenaRunner, convert, table_location

SQL = "SELECT 1"


@pytest.fixture
def athena() -> Any:
    return boto3.client(
        "athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )


def _execution(qid: str, state: str, scanned: int = 0, reason: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    return {
        "QueryExecution": {
            "QueryExecutionId": qid,
            "Status": status,
            "Statistics": {"DataScannedInBytes": scanned},
        }
    }


def _page(rows: list[list[str | None]], token: str | None = None) -> dict[str, Any]:
    cols = [("code", "varchar"), ("n", "bigint"), ("first", "timestamp")]
    page: dict[str, Any] = {
        "ResultSet": {
            "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in r]} for r in rows],
            "ResultSetMetadata": {
                "ColumnInfo": [{"Name": n, "Type": t, "Nullable": "UNKNOWN"} for n, t in cols]
            },
        }
    }
    if token:
        page["NextToken"] = token
    return page


def _start(stub: Stubber, qid: str, output: str | None = None) -> None:
    params: dict[str, Any] = {"QueryString": SQL, "WorkGroup": "wg"}
    if output:
        params["ResultConfiguration"] = {"OutputLocation": output}
    stub.add_response("start_query_execution", {"QueryExecutionId": qid}, params)


def test_start_poll_with_backoff_and_paginate(athena: Any) -> None:
    sleeps: list[float] = []
    runner = AthenaRunner(athena, "wg", output_location="s3://out/r/", sleep=sleeps.append)
    with Stubber(athena) as stub:
        _start(stub, "q1", "s3://out/r/")
        for state in ("QUEUED", "RUNNING", "RUNNING"):
            stub.add_response(
                "get_query_execution", _execution("q1", state), {"QueryExecutionId": "q1"}
            )
        stub.add_response(
            "get_query_execution", _execution("q1", "SUCCEEDED", 12345), {"QueryExecutionId": ANY}
        )
        header = ["code", "n", "first"]
        stub.add_response(
            "get_query_results",
            _page([header, ["ClientCertExpired", "12", "2024-04-05 13:01:00.123456"]], "t2"),
            {"QueryExecutionId": "q1", "MaxResults": 1000},
        )
        stub.add_response(
            "get_query_results",
            _page([["", "3", None]]),
            {"QueryExecutionId": "q1", "MaxResults": 1000, "NextToken": "t2"},
        )
        result = runner.run(SQL)
        stub.assert_no_pending_responses()
    assert result.rows == [
        ("ClientCertExpired", 12, datetime(2024, 4, 5, 13, 1, 0, 123456)),
        ("", 3, None),  # an empty string stays a string; a missing value is NULL
    ]
    assert result.scanned_bytes == 12345 and result.query_id == "q1"
    assert sleeps == [0.25, 0.4, pytest.approx(0.64)]  # growing pauses between polls


def test_failed_query_raises_with_the_reason(athena: Any) -> None:
    runner = AthenaRunner(athena, "wg", sleep=lambda _: None)
    with Stubber(athena) as stub:
        _start(stub, "q2")
        stub.add_response(
            "get_query_execution",
            _execution("q2", "FAILED", reason="TABLE_NOT_FOUND: line 1:15"),
            {"QueryExecutionId": "q2"},
        )
        with pytest.raises(AthenaQueryError, match="q2 failed: TABLE_NOT_FOUND") as info:
            runner.run(SQL)
    assert info.value.exit_code == 4


def test_access_denied_is_an_aws_access_error(athena: Any) -> None:
    runner = AthenaRunner(athena, "wg")
    with Stubber(athena) as stub:
        stub.add_client_error("start_query_execution", "AccessDeniedException", "not allowed", 400)
        with pytest.raises(AthenaQueryError.__mro__[1], match="access denied"):
            runner.run(SQL)


def test_ctrl_c_stops_the_running_queries(athena: Any) -> None:
    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    runner = AthenaRunner(athena, "wg", sleep=interrupt)
    with Stubber(athena) as stub:
        _start(stub, "q3")
        stub.add_response(
            "get_query_execution", _execution("q3", "RUNNING"), {"QueryExecutionId": ANY}
        )
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q3"})
        with pytest.raises(KeyboardInterrupt):
            runner.run(SQL)
        stub.assert_no_pending_responses()


def test_convert_by_column_type() -> None:
    assert convert("42", "integer") == 42 and convert("1.5", "double") == 1.5
    assert convert("2024-04-05 13:01:00.123", "timestamp(3)") == datetime(
        2024, 4, 5, 13, 1, 0, 123000
    )
    assert convert("2024-04-05", "date") == date(2024, 4, 5)
    assert convert("true", "boolean") is True and convert(None, "bigint") is None
    # Near miss: a varchar that looks like a number stays text.
    assert convert("42", "varchar") == "42"


def test_array_columns_travel_as_json() -> None:
    """GetQueryResults writes an array as "[a, b]"; render() casts result arrays to JSON."""
    sql = render(
        "SELECT client_ip, list(DISTINCT error_code ORDER BY error_code) AS codes FROM t "
        "WHERE list_contains($ips, client_ip) GROUP BY client_ip",
        {"ips": ["203.0.113.1"]},
    )
    assert 'CAST(ARRAY_AGG(DISTINCT "error_code" ORDER BY "error_code") AS JSON) AS "codes"' in sql
    # Near miss: an array inside the query (the IPv6 candidates) stays an array.
    assert "CONTAINS(ARRAY['203.0.113.1'], \"client_ip\")" in sql
    assert convert('["ClientCertExpired", "odd, code"]', "json") == [
        "ClientCertExpired",
        "odd, code",
    ]
    assert convert("[ClientCertExpired, odd, code]", "array(varchar)") == (
        "[ClientCertExpired, odd, code]"
    )


def test_table_location_from_metadata(athena: Any) -> None:
    base = "s3://b/AWSLogs/123456789012/elasticloadbalancing/us-east-1/"
    with Stubber(athena) as stub:
        stub.add_response(
            "get_table_metadata",
            {
                "TableMetadata": {
                    "Name": "alb_connection_logs",
                    "Parameters": {
                        "storage.location.template": base + "${day}",
                        "projection.day.range": "2024/02/01,NOW",
                    },
                }
            },
            {"CatalogName": "AwsDataCatalog", "DatabaseName": "d", "TableName": "t"},
        )
        assert table_location(athena, "d", "t") == (base, date(2024, 2, 1))
