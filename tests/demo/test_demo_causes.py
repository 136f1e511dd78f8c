"""`make demo` tells the whole story offline: its trust-store change, recorded as CloudTrail
records it, is named with proof as the cause of both outbreaks (issue #21)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mtls_doctor.demo import DemoResult, run_demo
from mtls_doctor.diagnose.model import ChangePoint

NOW = datetime(2026, 5, 20, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(tmp_path_factory.mktemp("demo"), now=NOW)


def change(demo: DemoResult, code: str) -> ChangePoint:
    [group] = [g for g in demo.diagnosis.failures if g.code == code]
    assert group.change is not None and group.change.causes
    return group.change


def test_the_removed_intermediate_is_named_for_client_cert_untrusted(demo: DemoResult) -> None:
    top = change(demo, "ClientCertUntrusted").causes[0]  # type: ignore[index]
    assert (top.event.event_name, top.evidence) == ("ModifyTrustStore", "ca-removed")
    [removed] = top.details["removed"]
    assert "intermediate CA" in removed["subject"] and len(removed["sha256"]) == 64
    assert top.details["added"] == []
    # The demo's --certs (its clients folder): the verdict engine on both bundles.
    assert top.details["verdicts"] and all(v["only_new_rejects"] for v in top.details["verdicts"])


def test_the_crl_is_named_for_client_cert_crl_hit(demo: DemoResult) -> None:
    [group] = [g for g in demo.diagnosis.failures if g.code == "ClientCertCrlHit"]
    top = change(demo, "ClientCertCrlHit").causes[0]  # type: ignore[index]
    assert (top.event.event_name, top.evidence) == ("AddTrustStoreRevocations", "revoked-serials")
    assert set(top.matched_serials) == {c["serial"] for c in group.top_certificates}


def test_read_only_calls_and_other_listeners_are_never_causes(demo: DemoResult) -> None:
    for code in ("ClientCertUntrusted", "ClientCertCrlHit"):
        names = {c.event.event_name for c in change(demo, code).causes or ()}
        assert names <= {"ModifyTrustStore", "AddTrustStoreRevocations"}


def test_the_demo_knows_its_trust_store_so_no_cause_is_of_unknown_scope(demo: DemoResult) -> None:
    for code in ("ClientCertUntrusted", "ClientCertCrlHit"):
        for cause in change(demo, code).causes or ():
            assert "scope unknown" not in cause.summary, cause.summary


def test_the_report_and_the_json_carry_the_causes(demo: DemoResult) -> None:
    page = demo.report.read_text()
    assert "Likely cause [ca-removed]" in page and "Likely cause [revoked-serials]" in page
    # The event, the actor and the diff, not only the line.
    assert "Configuration changes before it" in page
    assert "assumed-role/PlatformDeploy/jenkins-release-2231" in page
    assert "CA removed: CN=mtls-doctor intermediate CA" in page
    failures = json.loads(demo.diagnosis_json.read_text())["failures"]
    evidence = {f["code"]: f["change"]["causes"][0]["evidence"] for f in failures if f["change"]}
    assert evidence["ClientCertUntrusted"] == "ca-removed"
    assert evidence["ClientCertCrlHit"] == "revoked-serials"
    assert len(demo.to_dict()["causes"]) == len(evidence)


def test_the_bundle_versions_are_kept(demo: DemoResult) -> None:
    listing = (
        demo.out_dir / "s3-versions/demo-pki-artifacts/trust-store/ca-bundle.pem/_versions.txt"
    )
    assert len(listing.read_text().split()) == 2
