"""mtls-doctor: find out why clients fail mutual TLS on an AWS Application Load Balancer."""

# The one place the version is written (pyproject reads it from here).
__version__ = "0.1.0"

__all__ = ["__version__"]
