"""Amazon Athena: the connection-log table (DDL) and diagnose's queries rendered as Trino SQL.

Pure text work, no boto3: the client flow that runs the SQL lives in
:mod:`mtls_doctor.aws.athena`.
"""
