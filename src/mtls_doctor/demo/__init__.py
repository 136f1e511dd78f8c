"""``mtls-doctor demo``: a scenario PKI, the sandbox, a realistic incident, its report."""

from mtls_doctor.demo.run import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
