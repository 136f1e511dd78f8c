"""What changed: CloudTrail records of ELB configuration writes, and their link to failures.

- :mod:`~mtls_doctor.trail.event`: one CloudTrail record as a :class:`ChangeEvent`.
- :mod:`~mtls_doctor.trail.files`: trail files from a folder (day pruning, damaged files skipped).
- :mod:`~mtls_doctor.trail.select`: which events can be causes (writes, in scope, in the look-back).
- :mod:`~mtls_doctor.trail.link`: the evidence that links an event to failing connections.

No boto3 here: ``mtls_doctor.aws.cloudtrail`` reads S3 and ``LookupEvents`` and fetches S3
object versions; the CLI builds those readers and passes them in (:class:`ObjectFetcher`).
"""
