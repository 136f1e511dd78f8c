"""The client-certificate header as a backend receives it: decode, repair, cross-check.

In passthrough mode the ALB sends the client's whole chain in ``X-Amzn-Mtls-Clientcert``
(verify mode: the leaf in ``X-Amzn-Mtls-Clientcert-Leaf``) as URL-encoded PEM with ``+=/``
left as they are (spec §3; AWS's own example escapes ``=`` as ``%3D``: both are accepted).
:func:`decode_client_cert` takes the value in any form a backend or a proxy may hand on:

- raw, URL-encoded (decoded with ``unquote``, never ``unquote_plus``);
- already URL-decoded PEM;
- damaged by a form decoder that turned every ``+`` into a space: a space cannot occur inside
  a base64 line, so it is turned back into ``+`` (``repaired`` is then True);
- a pasted block of ``X-Amzn-Mtls-*: value`` lines: the serial, subject, issuer and validity
  headers are then checked against the certificate (a mismatch means something rewrote them).

A value holding a private key is refused without being decoded or echoed. This module loads
neither DuckDB nor boto3, so a backend can depend on it cheaply::

    from mtls_doctor.headers import decode_client_cert
    chain = decode_client_cert(environ["HTTP_X_AMZN_MTLS_CLIENTCERT"]).certificates

It does not verify the chain: in passthrough mode that is the backend's job.
"""

from __future__ import annotations

from mtls_doctor.headers.block import decode_block, header_lines
from mtls_doctor.headers.model import (
    ISSUER_HEADER,
    LEAF_HEADER,
    MAX_VALUE_CHARS,
    PASSTHROUGH_HEADER,
    SERIAL_HEADER,
    SUBJECT_HEADER,
    VALIDITY_HEADER,
    DecodedClientCert,
    HeaderDecodeError,
    HeaderMismatch,
    PrivateKeyRefused,
)
from mtls_doctor.headers.value import as_text, decode_value, refuse_private_key

__all__ = [
    "ISSUER_HEADER",
    "LEAF_HEADER",
    "MAX_VALUE_CHARS",
    "PASSTHROUGH_HEADER",
    "SERIAL_HEADER",
    "SUBJECT_HEADER",
    "VALIDITY_HEADER",
    "DecodedClientCert",
    "HeaderDecodeError",
    "HeaderMismatch",
    "PrivateKeyRefused",
    "decode_client_cert",
]


def decode_client_cert(value: str | bytes) -> DecodedClientCert:
    """The certificates (leaf first) in a client-certificate header value, in any form.

    Raises :class:`HeaderDecodeError` (an :class:`~mtls_doctor.errors.InputError`) with one
    line saying what is wrong, and :class:`PrivateKeyRefused` when the value holds a key.
    """
    text = as_text(value)
    refuse_private_key(text)
    warnings: list[str] = []
    headers = header_lines(text)
    if headers is not None:
        return decode_block(headers, warnings)
    return decode_value(text, warnings)
