"""``header decode`` as readable text: ``cert inspect``'s layout plus what the header said."""

from __future__ import annotations

from mtls_doctor.headers import DecodedClientCert
from mtls_doctor.pki.inspect import describe_chain
from mtls_doctor.pki.render import inspect_text, verdict_text
from mtls_doctor.pki.verdict import ChainVerdict


def decoded_text(decoded: DecodedClientCert, verdict: ChainVerdict | None = None) -> str:
    """How the value was read, the certificates, any header mismatch, and the verdict."""
    how = decoded.form + (", repaired" if decoded.repaired else "")
    if decoded.header_block:
        how += ", from pasted header lines"
    summaries = describe_chain(decoded.certificates, decoded.ders)
    lines = [inspect_text([(f"header value ({how})", summaries)])]
    if decoded.header_block:
        checked = len(decoded.headers)
        if decoded.mismatches:
            lines.append(f"header cross-check: {len(decoded.mismatches)} mismatch(es)")
            lines += [
                f"  {m.header}: header says {m.header_value!r}, certificate says "
                f"{m.certificate_value!r}"
                for m in decoded.mismatches
            ]
        else:
            lines.append(f"header cross-check: {checked} other header(s) match the certificate")
    if verdict is not None:
        lines.append(verdict_text(verdict))
    return "\n".join(lines)
