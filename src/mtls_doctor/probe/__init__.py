"""Probe a live mTLS endpoint: what the handshake and the first request show.

In Python::

    from mtls_doctor.probe import ProbeOptions, probe
    result = probe(ProbeOptions("https://api.example.com", cert=..., key=...), now=now)
    result.conclusion.side   # "none", "client", "server" or "unknown"
"""

from mtls_doctor.probe.client import probe
from mtls_doctor.probe.identity import KeyPasswordRequired, key_needs_password, parse_endpoint
from mtls_doctor.probe.model import ProbeOptions, ProbeResult

__all__ = [
    "KeyPasswordRequired",
    "ProbeOptions",
    "ProbeResult",
    "key_needs_password",
    "parse_endpoint",
    "probe",
]
