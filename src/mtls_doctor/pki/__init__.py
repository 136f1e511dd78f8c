"""Certificates: load, inspect, predict the ALB's verdict, and lint a trust store.

In Python::

    from mtls_doctor.pki import TrustStore, check_chain
    store = TrustStore.from_files(Path("bundle.pem"), [Path("crl.pem")])
    verdict = check_chain(ders, store, at=datetime.now(UTC))
"""

from mtls_doctor.pki.findings import Finding
from mtls_doctor.pki.inspect import CertificateSummary, describe_certificate, format_serial
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.load import (
    LoadedCertificates,
    LoadedCrl,
    LoadedCrls,
    load_certificates,
    load_certificates_from_bytes,
    load_crls,
)
from mtls_doctor.pki.verdict import ChainVerdict, TrustStore, check_chain, check_chain_certificates

__all__ = [
    "AlbLimits",
    "CertificateSummary",
    "ChainVerdict",
    "Finding",
    "LoadedCertificates",
    "LoadedCrl",
    "LoadedCrls",
    "TrustStore",
    "check_chain",
    "check_chain_certificates",
    "describe_certificate",
    "format_serial",
    "load_certificates",
    "load_certificates_from_bytes",
    "load_crls",
]
