"""End to end on the demo's logs: `diagnose --since 30m` makes no false "appeared" claim.

The demo runs 30 simulated minutes with every client (and so every steady failure code)
from the first minute, then changes the trust store: ClientCertUntrusted and
ClientCertCrlHit start. A 30-minute window starts 20 minutes into phase 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.demo import run_demo

NOW = datetime(2026, 5, 20, 6, 0, tzinfo=UTC)
CHANGED_AT = NOW - timedelta(minutes=20)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    run_demo(out, now=NOW)
    return out / "logs"


def diagnose(logs: Path, *args: str) -> dict[str, dict[str, object]]:
    at = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    result = CliRunner().invoke(cli, ["diagnose", str(logs), "--at", at, *args, "--format", "json"])
    assert result.exit_code == 1, result.stderr
    return {g["code"]: g for g in json.loads(result.stdout)["failures"]}


def test_since_30m_claims_no_appearance_and_reports_the_real_change_with_how_sure(
    logs: Path,
) -> None:
    groups = diagnose(logs, "--since", "30m")
    changes = {code: g["change"] for code, g in groups.items() if g["change"]}
    # Earlier rows are not read: nothing can be shown to have "appeared".
    assert all(c["kind"] != "appeared" for c in changes.values()), changes
    # The codes failing from the first minute claim nothing.
    for code in ("ClientCertExpired", "ClientCertPurposeInvalid"):
        assert groups[code]["change"] is None
    # The trust-store change is there, as a significant rise at the minute it happened.
    rise = changes["ClientCertUntrusted"]
    assert rise["kind"] == "jumped" and rise["at"] == CHANGED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rise["p_value"] < 0.0005 and rise["failures_before"] == 0
    assert "after correcting for the" in rise["message"]


def test_the_whole_logs_show_the_new_codes_appearing_at_the_change(logs: Path) -> None:
    groups = diagnose(logs)
    for code in ("ClientCertUntrusted", "ClientCertCrlHit"):
        change = groups[code]["change"]
        assert change is not None and change["kind"] == "appeared"
        assert (
            CHANGED_AT <= datetime.fromisoformat(change["at"]) < CHANGED_AT + timedelta(minutes=2)
        )
        assert "were expected at its later rate" in change["message"]
    assert groups["ClientCertExpired"]["change"] is None
