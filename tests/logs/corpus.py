"""Test corpora: the AWS example lines, the quirks, and small generated ALB-like files."""

from __future__ import annotations

from pathlib import Path

from benchmarks.gen import write_corpus

# The two AWS example entries as single lines (spec §1.5), 12 fields each.
AWS_SUCCESS = (
    "2023-10-04T17:05:15.514108Z 203.0.113.1 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 4.036 "
    '"CN=amazondomains.com,O=endEntity,L=Seattle,ST=Washington,C=US" '
    "NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z FEF257372D5C14D4 Success "
    "TID_3180a73013c8ca4bac2f731159d4b0fe"
)
AWS_FAILED = (
    "2023-10-04T17:05:15.514108Z 203.0.113.1 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 - "
    '"CN=amazondomains.com,O=endEntity,L=Seattle,ST=Washington,C=US" '
    "NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z FEF257372D5C14D4 "
    "Failed:ClientCertUntrusted TID_1c71a68d70587445ad5127ff8b2687d7"
)
# Third-party 15-field lines (spec §1.6): TLS without mTLS, and plain HTTP.
TLS_NO_MTLS = (
    "2026-09-23T07:11:27.691358Z 49.36.71.40 64326 443 TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 "
    '0.337 "-" - - Success TID_9f39d9aa6a47774d97089313f949866b secp256r1 '
    "app/k8s-tileserver-617dd1df30/98e3a879de9d6b42 3.228.177.57"
)
PLAIN_HTTP = (
    '2026-09-23T07:11:32.882572Z 147.185.132.159 61814 80 - - - "-" - - - '
    "TID_14bdaac20df9aa4ca3139b3168e4e071 - app/k8s-tileserver-617dd1df30/98e3a879de9d6b42 "
    "3.228.177.57"
)


def line(
    *,
    ts: str = "2024-04-05T18:00:01.000001Z",
    ip: str = "203.0.113.9",
    port: str = "443",
    subject: str = '"CN=client one,O=Example, Inc.,OU=a=b"',
    serial: str = "00AB12",
    status: str = "Failed:ClientCertExpired",
    tail: str = " x25519 app/lb/1 10.0.0.1",
) -> str:
    """A connection-log line with the parts a test cares about replaced."""
    return (
        f"{ts} {ip} 50000 {port} TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 - {subject} "
        f"NotBefore=2024-01-01T00:00:00Z;NotAfter=2025-01-01T00:00:00Z {serial} {status} "
        f"TID_0123456789abcdef0123456789abcdef{tail}"
    )


def small_corpus(folder: Path, *, lines: int = 600, files: int = 3, seed: int = 3) -> list[Path]:
    """A few ALB-named .log.gz files (fast to make: well under a second)."""
    return write_corpus(folder, lines=lines, files=files, seed=seed, clients=50)
