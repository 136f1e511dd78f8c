"""Vended (CloudWatch Logs-delivered) connection logs, read as legacy lines.

See docs/vended-logs.md: ``detect`` tells the format by content, ``lines`` converts records.
"""
