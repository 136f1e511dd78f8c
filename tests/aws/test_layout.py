"""The S3 key layout: names, day folders for a window, the window test on end-times."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mtls_doctor.aws.layout import (
    ConnLogName,
    S3Url,
    day_range,
    in_window,
    lb_matches,
    split_after_awslogs,
)
from mtls_doctor.aws.s3fetch import cache_path
from mtls_doctor.errors import InputError

AWS_EXAMPLE = (
    "conn_log_123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.1234567890abcdef_"
    "20220215T2340Z_172.160.001.192_20sg8hgm.log.gz"
)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_aws_example_name_parses_in_both_spellings() -> None:
    for name in (AWS_EXAMPLE, AWS_EXAMPLE.replace("conn_log_", "conn_log.", 1)):
        parsed = ConnLogName.parse(name)
        assert parsed == ConnLogName(
            "123456789012",
            "us-east-2",
            "app.my-loadbalancer.1234567890abcdef",
            t("2022-02-15T23:40"),
        )
    # Near miss: an access-log name (no conn_log prefix) is not a connection log.
    assert ConnLogName.parse(AWS_EXAMPLE.replace("conn_log_", "", 1)) is None
    assert ConnLogName.parse(AWS_EXAMPLE.replace("T2340Z", "T2399Z")) is None


def test_day_range_includes_the_next_delivery_day() -> None:
    days = day_range(t("2024-05-01T23:50"), t("2024-05-02T00:10"))
    assert days == [date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 3)]
    assert date(2024, 4, 30) not in days


def test_in_window_uses_the_interval_and_slack() -> None:
    since, until = t("2024-05-02T10:00"), t("2024-05-02T11:00")
    assert in_window(t("2024-05-02T10:05"), since, until)
    assert in_window(t("2024-05-02T09:55"), since, until)  # within the slack
    assert not in_window(t("2024-05-02T09:54"), since, until)
    assert in_window(t("2024-05-02T11:05"), since, until)  # starts 11:00, slack reaches back
    assert not in_window(t("2024-05-02T11:11"), since, until)
    assert in_window(t("2024-05-02T09:54"), since, until, slack_minutes=10)


def test_lb_matching_accepts_name_id_and_arn() -> None:
    lb = "app.web.1234567890abcdef"
    for wanted in (
        "web",
        "app/web/1234567890abcdef",
        lb,
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/1234567890abcdef",
    ):
        assert lb_matches(lb, wanted), wanted
    assert not lb_matches(lb, "we")
    assert not lb_matches(lb, "app/web/ffff")


def test_s3_url_and_awslogs_split() -> None:
    assert S3Url.parse("s3://alb-logs/web") == S3Url("alb-logs", "web")
    root, parts = split_after_awslogs("web/AWSLogs/123456789012/elasticloadbalancing/")
    assert root == "web/AWSLogs/" and parts == ["123456789012", "elasticloadbalancing"]
    with pytest.raises(InputError, match="not an S3 location"):
        S3Url.parse("s3://")
    with pytest.raises(InputError):
        S3Url.parse("s3://Bad_Bucket/x")


def test_cache_path_stays_inside_the_cache(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = cache_path(tmp_path, "b", "a/../../etc/passwd")
    assert tmp_path in path.parents and ".." not in path.parts
    assert cache_path(tmp_path, "b", "x/y.log.gz") == tmp_path / "b" / "x" / "y.log.gz"
