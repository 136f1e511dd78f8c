"""A standing differential test: the verdict engine against ``openssl verify``.

Random chains (tests/pki/chaingen.py; ``MTLS_DOCTOR_DIFF_CHAINS`` of them, 300 by default,
seed ``MTLS_DOCTOR_DIFF_SEED``) are judged by both, as::

    openssl verify -CAfile BUNDLE -untrusted SENT -CRLfile CRLS -crl_check_all \\
        -purpose sslclient -attime T LEAF

Every CA has a CRL, so ``-crl_check_all`` never fails for a missing one: the ALB does not
demand a CRL from each CA, and with one for each both judge the same thing. They must agree
on accept/reject, and on the reason class of the *first* error OpenSSL reports (expired, not
yet valid, untrusted, revoked, CRL error, purpose) when both reject.

With the default settings no difference is lawful (``LAWFUL_AT_DEFAULTS`` is empty). Each
setting that departs from OpenSSL is listed in ``SETTING_DIFFERENCES`` with its reason and
the scenarios where it may change the answer; a difference anywhere else fails the suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.verdict import ChainVerdict, TrustStore, check_chain
from tests.pki.chaingen import AT, Generator, Scenario
from tests.pki.pkihelpers import loaded_crl

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")

CHAINS = int(os.environ.get("MTLS_DOCTOR_DIFF_CHAINS", "300"))
SEED = int(os.environ.get("MTLS_DOCTOR_DIFF_SEED", "22"))

CLASS_OF_CODE = {
    "Success": "ok",
    "ClientCertExpired": "expired",
    "ClientCertNotYetValid": "not yet valid",
    "ClientCertUntrusted": "untrusted",
    "ClientCertCrlHit": "revoked",
    "ClientCertCrlProcessingError": "CRL error",
    "ClientCertPurposeInvalid": "purpose",
}
# OpenSSL's error strings (X509_verify_cert_error_string) -> reason class; first match wins
_OPENSSL_CLASSES = (
    ("crl", "CRL error"),
    ("certificate revoked", "revoked"),
    ("not yet valid", "not yet valid"),
    ("has expired", "expired"),
    ("certificate purpose", "purpose"),
    ("unable to get issuer certificate", "untrusted"),
    ("unable to get local issuer certificate", "untrusted"),
    ("unable to verify the first certificate", "untrusted"),
    ("self-signed certificate", "untrusted"),
    ("self signed certificate", "untrusted"),
    ("certificate signature failure", "untrusted"),
    ("invalid ca certificate", "untrusted"),
    ("path length constraint exceeded", "untrusted"),
    ("key usage does not include certificate signing", "untrusted"),
)
_ERROR_LINE = re.compile(r"error (\d+) at (\d+) depth lookup: (.*)")


def openssl_class(output: str, returncode: int) -> str:
    """The reason class of the first error ``openssl verify`` printed, or "ok"."""
    match = _ERROR_LINE.search(output)
    if match is None:
        return "ok" if returncode == 0 else f"unparsed: {output.strip()[:200]}"
    text = match.group(3).lower()
    return next((c for mark, c in _OPENSSL_CLASSES if mark in text), f"other: {text}")


@dataclass(frozen=True)
class Judged:
    scenario: Scenario
    store: TrustStore
    openssl: str
    output: str

    def ours(self, limits: AlbLimits = AlbLimits()) -> ChainVerdict:
        ders = [c.public_bytes(Encoding.DER) for c in self.scenario.sent]
        return check_chain(ders, self.store, at=AT, limits=limits)

    def describe(self, verdict: ChainVerdict) -> str:
        messages = "; ".join(f.message for f in verdict.findings if f.severity == "error")
        return (
            f"scenario {self.scenario.number} (seed {SEED}) tags={sorted(self.scenario.tags)}\n"
            f"  openssl: {self.openssl}: {self.output.strip()}\n"
            f"  ours:    {verdict.verdict}: {messages}"
        )


def _pem(path: Path, items: list[bytes]) -> str:
    path.write_bytes(b"".join(items))
    return str(path)


def _judge(scenario: Scenario, folder: Path) -> Judged:
    args = ["openssl", "verify", "-purpose", "sslclient", "-attime", str(int(AT.timestamp()))]
    args += [
        "-CAfile",
        _pem(folder / "ca.pem", [c.public_bytes(Encoding.PEM) for c in scenario.bundle]),
    ]
    if len(scenario.sent) > 1:
        sent = [c.public_bytes(Encoding.PEM) for c in scenario.sent[1:]]
        args += ["-untrusted", _pem(folder / "sent.pem", sent)]
    crls = [c.public_bytes(Encoding.PEM) for c in scenario.crls]
    args += ["-CRLfile", _pem(folder / "crl.pem", crls), "-crl_check_all"]
    args.append(_pem(folder / "leaf.pem", [scenario.sent[0].public_bytes(Encoding.PEM)]))
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    output = done.stdout + done.stderr
    store = TrustStore(tuple(scenario.bundle), tuple(loaded_crl(c) for c in scenario.crls))
    return Judged(scenario, store, openssl_class(output, done.returncode), output)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Judged]:
    folder = tmp_path_factory.mktemp("differential")
    generator = Generator(SEED)
    return [_judge(generator.scenario(n), folder) for n in range(CHAINS)]


@dataclass(frozen=True)
class Lawful:
    """A known difference: the setting (and value) that causes it, why, and where."""

    setting: str
    value: str
    reason: str
    where: Callable[[Scenario], bool]


def _tagged(*marks: str) -> Callable[[Scenario], bool]:
    return lambda s: any(mark in tag for tag in s.tags for mark in marks)


def _faults(scenario: Scenario) -> int:
    harmless = ("key_ids", "several_crls", "in_bundle", "sent_out_of_order", "root_sent")
    return sum(
        1
        for tag in scenario.tags
        if not tag.startswith("depth:") and not any(h in tag for h in harmless)
    )


def _depth(scenario: Scenario) -> int:
    return next(int(t[6:]) for t in scenario.tags if t.startswith("depth:"))


# Differences with every setting at its default (an OpenSSL-family ALB): none are known.
LAWFUL_AT_DEFAULTS: tuple[Lawful, ...] = ()

SETTING_DIFFERENCES: tuple[Lawful, ...] = (
    Lawful(
        "not_after_inclusive",
        "true",
        "RFC 5280 keeps a certificate valid at its notAfter second; OpenSSL calls it expired",
        _tagged(":not_after_at"),
    ),
    Lawful(
        "crl_next_update_inclusive",
        "true",
        "a CRL stays usable at its nextUpdate second; OpenSSL calls it expired",
        _tagged(":next_update_at"),
    ),
    Lawful(
        "crl_check_next_update",
        "false",
        "a CRL past nextUpdate stays usable; OpenSSL reports 'CRL has expired'",
        _tagged(":stale", ":next_update_at"),
    ),
    Lawful(
        "root_without_basic_constraints",
        "false",
        "x509_strict: an anchor without basicConstraints is refused; OpenSSL 3.0 accepts it",
        _tagged("root:no_bc"),
    ),
    Lawful(
        "crl_selection",
        "all",
        "every CRL of an issuer must be usable and any may revoke; OpenSSL uses the newest",
        _tagged("several_crls", "same_name_root"),
    ),
    Lawful(
        "issuer_by_signature",
        "true",
        "of same-named issuers the one whose key verifies is taken; OpenSSL takes the first",
        _tagged("same_name_root", "bad_signature"),
    ),
    Lawful(
        "crl_issuer_in_bundle",
        "true",
        "a CRL signed by a CA the client sent is unusable; OpenSSL uses the CA on the path",
        lambda s: _depth(s) > 0,
    ),
    Lawful(
        "crl_check_intermediates",
        "false",
        "only the leaf is checked against CRLs; -crl_check_all checks every certificate",
        lambda s: _depth(s) > 0,
    ),
    Lawful(
        "partial_chain",
        "true",
        "a path may end at a CA of the bundle that is not self-signed",
        _tagged("in_bundle"),
    ),
    Lawful(
        "check_leaf_key_usage",
        "false",
        "a leaf keyUsage without digitalSignature is accepted; sslclient refuses it",
        _tagged("leaf:ku_enc_only"),
    ),
    Lawful(
        "check_ca_extended_key_usage",
        "false",
        "a CA's EKU without clientAuth is accepted; sslclient refuses it",
        _tagged(":eku_server"),
    ),
    Lawful(
        "check_order",
        "precedence",
        "a fixed code order instead of OpenSSL's, so a chain with two faults may differ",
        lambda s: _faults(s) >= 2 or "same_name_root" in s.tags,
    ),
)


def _disagrees(judged: Judged, verdict: ChainVerdict) -> bool:
    return CLASS_OF_CODE.get(verdict.verdict, verdict.verdict) != judged.openssl


def test_the_corpus_covers_every_reason_class(corpus: list[Judged]) -> None:
    seen = Counter(j.openssl for j in corpus)
    assert set(seen) <= set(CLASS_OF_CODE.values()), seen  # every OpenSSL error is classed
    if CHAINS >= 300:
        assert set(CLASS_OF_CODE.values()) <= set(seen), seen
        assert seen["ok"] >= CHAINS // 5, seen


def test_engine_agrees_with_openssl(corpus: list[Judged]) -> None:
    unexplained = []
    for judged in corpus:
        verdict = judged.ours()
        if _disagrees(judged, verdict) and not any(
            lawful.where(judged.scenario) for lawful in LAWFUL_AT_DEFAULTS
        ):
            unexplained.append(judged.describe(verdict))
    assert not unexplained, f"{len(unexplained)} of {len(corpus)} differ:\n" + "\n".join(
        unexplained[:10]
    )


@pytest.mark.parametrize("lawful", SETTING_DIFFERENCES, ids=lambda item: item.setting)
def test_each_setting_differs_only_where_listed(corpus: list[Judged], lawful: Lawful) -> None:
    limits = AlbLimits().with_overrides({lawful.setting: lawful.value})
    unexplained = []
    for judged in corpus:
        verdict = judged.ours(limits)
        if _disagrees(judged, verdict) and not lawful.where(judged.scenario):
            unexplained.append(judged.describe(verdict))
    assert not unexplained, f"{lawful.setting}={lawful.value}: " + "\n".join(unexplained[:5])


def test_every_setting_that_departs_from_openssl_is_listed() -> None:
    listed = {lawful.setting for lawful in SETTING_DIFFERENCES}
    assumptions = {
        "crl_check_next_update",
        "crl_check_intermediates",
        "crl_selection",
        "crl_next_update_inclusive",
        "crl_issuer_in_bundle",
        "not_after_inclusive",
        "root_without_basic_constraints",
        "issuer_by_signature",
        "check_order",
        "partial_chain",
        "check_leaf_key_usage",
        "check_ca_extended_key_usage",
    }
    assert assumptions <= listed
    assert assumptions <= set(AlbLimits.__dataclass_fields__)
