"""Amazon Athena: the connection-log table and the diagnosis of it, at one scan.

- :mod:`.ddl`: the table (DDL, partition projection); :mod:`.dialect`: the derived rows and
  DuckDB -> Trino text;
- :mod:`.prepare`: the diagnosis' prepared tables in one Athena query, asked locally;
- :mod:`.target`: queries counted against a scan budget; :mod:`.session`: settings, estimate,
  plan and cost, and ``diagnose_on_athena`` (the Python twin of ``diagnose --engine athena``).

The boto3 calls that run the SQL live in :mod:`mtls_doctor.aws.athena` (a layer below).
"""
