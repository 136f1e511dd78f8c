"""A local ALB-like HTTPS listener with mTLS that writes real connection logs.

In Python::

    from mtls_doctor.sandbox import Sandbox, SandboxConfig
    sandbox = Sandbox(SandboxConfig(log_dir=Path("logs"), trust_store=Path("bundle.pem"), port=0))
    url = sandbox.start()
    summary = sandbox.stop()
"""

from mtls_doctor.sandbox.config import SandboxConfig
from mtls_doctor.sandbox.server import Sandbox, SandboxSummary

__all__ = ["Sandbox", "SandboxConfig", "SandboxSummary"]
