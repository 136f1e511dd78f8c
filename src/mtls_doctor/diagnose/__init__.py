"""From connection logs (and optionally PKI files) to a :class:`Diagnosis`."""
