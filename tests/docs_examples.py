"""The example commands of README.md and docs/*.md, and the folder they run in.

Every ``mtls-doctor ...`` line of a shell block (no language, sh, console) is an example. A
line with ``[`` or ``…`` is a synopsis, not an example. Every example is either run, with the
exit code the docs give it, or skipped with a reason here: a new example in the docs fails the
test until it is listed.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```", re.S | re.M)
_SHELL = {"", "sh", "shell", "bash", "console"}


@dataclass(frozen=True)
class Example:
    doc: str  # README.md or docs/x.md
    command: str  # as written, continuations joined, prompt and comment dropped

    @property
    def id(self) -> str:
        return f"{self.doc}: {self.command}"[:120]

    @property
    def needs_shell(self) -> bool:
        return bool(re.search(r"\$\(|\$[A-Z_]|[|<>]", self.command))


def _strip(line: str) -> str:
    text = line.strip().removeprefix("$ ").removeprefix(".venv/bin/")
    return re.sub(r"\s+#\s.*$", "", text).strip()


def examples() -> list[Example]:
    found = []
    for doc in DOCS:
        name = str(doc.relative_to(ROOT))
        for match in _FENCE.finditer(doc.read_text(encoding="utf-8")):
            if match.group(1) not in _SHELL:
                continue
            body = re.sub(r"\\\n\s*", " ", match.group(2))
            for line in body.splitlines():
                text = _strip(line)
                if text.startswith("mtls-doctor ") and "[" not in text and "…" not in text:
                    found.append(Example(name, re.sub(r" {2,}", " ", text)))
    return found


AWS = "needs AWS (tests/aws and tests/athena run it against moto or a stand-in)"
NETWORK = "reaches a host on the internet (tests/probe runs probe against the sandbox)"
FOREVER = "runs until Ctrl-C (tests/web and tests/sandbox start and stop it)"

# Examples that are not run here, and why: by the words they contain.
SKIP_RULES: tuple[tuple[str, str], ...] = (
    ("mtls-doctor serve ", FOREVER),
    ("mtls-doctor sandbox ", FOREVER),
    ("mtls-doctor demo --out demo-out", "the session fixture demo_out runs it"),
    ("mtls-doctor probe https://", NETWORK),
    ("--url https://", NETWORK),
    ("s3://my-log-bucket/prefix", AWS),
    ("s3://alb-logs/", AWS),
    ("cloudwatch:", AWS),
    (" arn:", AWS),
    ("--engine athena", AWS),
    ("athena setup", AWS),
    ("mtls-doctor aws ", AWS),
    ("--live", AWS),
)


def skip_reason(example: Example) -> str | None:
    for words, reason in SKIP_RULES:
        if words in example.command:
            return reason
    if "| jq " in example.command and shutil.which("jq") is None:
        return "jq is not installed"
    return None


def build_workdir(demo: Path, work: Path) -> Path:
    """The files the examples name, made from the demo's PKI, logs and store."""
    work.mkdir(parents=True, exist_ok=True)
    pki = demo / "pki"
    (work / "demo-out").symlink_to(demo)
    logs = work / "logs"
    logs.mkdir()
    for path in sorted((demo / "logs").rglob("conn_log*")):  # flat, so logs/*.log.gz works
        shutil.copy(path, logs / path.name)
    _vended(logs, work / "vended")
    first = sorted(logs.iterdir())[0]
    shutil.copy(first, work / "conn.log.gz")
    (work / "sandbox-logs").symlink_to(logs)
    for name in ("incident.duckdb", "fleet.duckdb"):
        shutil.copy(demo / "connections.duckdb", work / name)
    for name in ("bundle.pem",):
        shutil.copy(pki / "trust-store.pem", work / name)
    for name in ("revoked.pem", "crl.pem", "ca.crl.pem"):
        shutil.copy(pki / "crl.pem", work / name)
    (work / "clients").symlink_to(pki / "clients")
    expired = pki / "clients" / "expired"
    for name in ("client-chain.pem", "chain.pem"):
        shutil.copy(expired / "chain.pem", work / name)
    shutil.copy(expired / "key.pem", work / "key.pem")
    _der(expired / "cert.pem", work / "client.der")
    value = quote((expired / "chain.pem").read_text(), safe="+=/")
    (work / "captured-value.txt").write_text(value + "\n")
    (work / "headers.txt").write_text(f"X-Amzn-Mtls-Clientcert: {value}\n")
    return work


def _vended(logs: Path, out: Path) -> None:
    """The demo's logs as a vended JSON-lines object (docs/vended-logs.md)."""
    import gzip

    from tests.logs.vended.records import json_lines

    out.mkdir()
    lines = [
        x
        for p in sorted(logs.iterdir())
        for x in gzip.decompress(p.read_bytes()).decode().splitlines()
    ]
    (out / "part-00000.json.gz").write_bytes(gzip.compress(json_lines(lines).encode()))


def _der(pem: Path, out: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    out.write_bytes(x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(Encoding.DER))


def header_value(work: Path) -> str:
    return (work / "captured-value.txt").read_text().strip()
