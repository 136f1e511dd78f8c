"""AWS access: connection logs in S3, listener and trust-store settings, log delivery.

boto3 is imported only inside the modules of this package, never at package import time,
so the commands that do not touch AWS start fast. :mod:`.options` is import-light on purpose:
the log readers name its :class:`~.options.RemoteOptions` without loading boto3.
"""
