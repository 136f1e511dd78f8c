"""--changes scoped by the logs' elb: only the failing load balancer's changes are causes.

Two load balancers write to the same logs; ClientCertUntrusted starts on one of them (web)
at 12:20 while the other (api) keeps succeeding. Both had their listener and trust store
changed just before. The failing connections' elb (carried in the failure groups by every
source) leaves out the api listener, and the api trust store that the api listener's own
event ties to it; web's trust store is in scope because web's ModifyListener names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mtls_doctor.diagnose.causes import attach_causes, change_window
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.model import Diagnosis
from mtls_doctor.diagnose.target import Scope, open_target
from mtls_doctor.logs import native
from mtls_doctor.logs.query import Filters
from mtls_doctor.trail.files import read_folder
from mtls_doctor.trail.select import Scope as ChangeScope
from tests.diagnose.corpus import entry, write_corpus
from tests.trail.records import (
    ACCOUNT,
    LISTENER,
    OTHER_LISTENER,
    REGION,
    TRUST_STORE,
    modify_listener,
    modify_trust_store,
    write_trail,
)

T0 = datetime(2024, 4, 5, 12, 0, tzinfo=UTC)
CHANGE = T0 + timedelta(minutes=20)
NOW = T0 + timedelta(hours=2)
WEB = "app/web/50dc6c495c0c9188"  # LISTENER's load balancer
API = "app/api/1111111111111111"  # OTHER_LISTENER's
API_STORE = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:truststore/api-ts/0000000000"
EXPECTED = {("ModifyTrustStore", TRUST_STORE), ("ModifyListener", LISTENER)}


def api_store_changed(at: datetime) -> dict[str, object]:
    event = modify_trust_store(at, "pki-artifacts", "api-bundle.pem", "v2")
    event["requestParameters"]["trustStoreArn"] = API_STORE  # type: ignore[index]
    return event


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("two-lbs")
    lines = []
    for minute in range(40):
        for n in range(10):
            at = T0 + timedelta(minutes=minute, seconds=5 * n)
            failing = minute >= 20 and n % 2 == 0
            status = "Failed:ClientCertUntrusted" if failing else "Success"
            lines.append(entry(at, f"10.0.0.{n + 1}", status, elb=WEB))
            lines.append(entry(at, f"10.1.0.{n + 1}", "Success", elb=API))
    logs = root / "logs"
    write_corpus(logs, lines)
    trail = root / "trail"
    write_trail(
        trail,
        [
            modify_listener(CHANGE - timedelta(minutes=12), LISTENER, trustStoreArn=TRUST_STORE),
            modify_listener(CHANGE - timedelta(minutes=9), OTHER_LISTENER, trustStoreArn=API_STORE),
            modify_trust_store(CHANGE - timedelta(minutes=6), "pki-artifacts", "web.pem", "v2"),
            api_store_changed(CHANGE - timedelta(minutes=3)),
        ],
        CHANGE + timedelta(minutes=3),
    )
    return logs, trail


@contextmanager
def pure(on: bool) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        if on:
            patch.setenv("MTLS_DOCTOR_PURE", "1")
        yield


def diagnosed(inputs: list[str], db: Path | None) -> Diagnosis:
    options = DiagnoseOptions(NOW, 30)
    scope = Scope.of(Filters(), options.now, options.warn_days)
    with open_target(inputs, db=db, scope=scope) as target:
        return diagnose(target, Filters(), options)


def causes_of(result: Diagnosis, trail: Path, given: ChangeScope = ChangeScope()) -> set[tuple]:
    window = change_window(result)
    assert window is not None
    explained = attach_causes(result, read_folder(trail, *window), None, given)
    (group,) = [g for g in explained.failures if g.code == "ClientCertUntrusted"]
    assert group.change is not None and group.change.causes is not None
    found = {(c.event.event_name, c.event.resource_arn) for c in group.change.causes}
    if found == EXPECTED:  # the failing connections' load balancers scoped them
        assert group.change.load_balancers == (WEB,)
    return found


@pytest.mark.parametrize("reader", ["compiled", "pure"])
def test_files_leave_out_the_other_load_balancers_changes(
    incident: tuple[Path, Path], reader: str
) -> None:
    if reader == "compiled" and not native.available():
        pytest.skip("the compiled scanner was not built")
    logs, trail = incident
    with pure(reader == "pure"):
        result = diagnosed([str(logs)], None)
    assert causes_of(result, trail) == EXPECTED


def test_a_store_leaves_out_the_other_load_balancers_changes(
    incident: tuple[Path, Path], tmp_path: Path
) -> None:
    from mtls_doctor.logs.ingest import ingest_inputs

    logs, trail = incident
    db = tmp_path / "logs.duckdb"
    ingest_inputs([str(logs)], db)
    assert causes_of(diagnosed([], db), trail) == EXPECTED


def test_the_elb_adds_no_group_and_changes_no_count(incident: tuple[Path, Path]) -> None:
    # The failure groups sum over elb: the per-code answers are those of one load balancer.
    logs, _ = incident
    (group,) = diagnosed([str(logs)], None).failures
    assert (group.count, group.clients, group.certificates) == (100, 5, 1)
    assert group.top_clients[0]["count"] == 20


def test_a_trust_store_nothing_ties_is_kept_and_said_to_be_of_unknown_scope(
    incident: tuple[Path, Path], tmp_path: Path
) -> None:
    logs, _ = incident
    trail = tmp_path / "trail"
    write_trail(
        trail,
        [api_store_changed(CHANGE - timedelta(minutes=3))],
        CHANGE + timedelta(minutes=3),
    )
    result = diagnosed([str(logs)], None)
    window = change_window(result)
    assert window is not None
    explained = attach_causes(result, read_folder(trail, *window), None)
    (group,) = explained.failures
    assert group.change is not None and group.change.causes is not None
    (cause,) = group.change.causes
    assert cause.event.resource_arn == API_STORE
    assert cause.details["scope"] == f"scope unknown: nothing read ties this trust store to {WEB}"
    assert cause.summary.endswith(f"(scope unknown: nothing read ties this trust store to {WEB})")


def test_the_listener_given_outranks_the_logs(incident: tuple[Path, Path]) -> None:
    # --listener-arn names the api listener: the user's word scopes the causes, not the elb.
    logs, trail = incident
    result = diagnosed([str(logs)], None)
    given = ChangeScope(listeners=frozenset({OTHER_LISTENER}))
    assert causes_of(result, trail, given) == {
        ("ModifyListener", OTHER_LISTENER),
        ("ModifyTrustStore", API_STORE),
    }
