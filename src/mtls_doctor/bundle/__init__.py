"""The support bundle: one zip with what AWS support (or a colleague) asks for.

In Python::

    from mtls_doctor.bundle import BundleSpec, build_support_bundle
    result = build_support_bundle(BundleSpec(out=Path("case.zip"), now=now, cert=Path("c.pem")))
"""

from mtls_doctor.bundle.archive import build_support_bundle
from mtls_doctor.bundle.model import BundleFile, BundleResult, BundleSpec

__all__ = ["BundleFile", "BundleResult", "BundleSpec", "build_support_bundle"]
