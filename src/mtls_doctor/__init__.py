"""mtls-doctor: find out why clients fail mutual TLS on an AWS Application Load Balancer."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mtls-doctor")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
