"""The questions diagnose asks of the rows, written once as SQL.

Each query is a template over ``{rel}`` (the relation of valid rows) and ``{where}`` (the
user's filters), using only SQL that DuckDB and Trino (Athena) both understand, so that a
second engine can run the very same text. Every ORDER BY breaks ties down to the grouped
columns: two engines must agree on the order, not just on the rows.
"""

from __future__ import annotations

from mtls_doctor.knowledge.codes import DOCUMENTED_CODES

TOP_N = 5
EVIDENCE_ROWS = 50
_KNOWN = ", ".join(f"'{code}'" for code in DOCUMENTED_CODES)
UNKNOWN_CODE = f"(verify_result = 'failed' AND coalesce(error_code, '') NOT IN ({_KNOWN}))"

# The questions over every selected row take their counting from a shape: over rows, a row
# counts once; over pre-counted rows (diagnose of files, see diagnose/stream.py), a row
# stands for ``n`` connections seen between ``first_seen`` and ``last_seen`` in the minute
# ``bucket``. Both shapes give the same answers, to the minute that the timelines need.
ROW_SHAPE = {
    "n": "count(*)",
    "first": "min(timestamp)",
    "last": "max(timestamp)",
    "at": "timestamp",
}
COUNT_SHAPE = {"n": "sum(n)", "first": "min(first_seen)", "last": "max(last_seen)", "at": "bucket"}

SUMMARY = f"""
SELECT {{n}},
       {{n}} FILTER (WHERE verify_result <> 'not_tls'),
       {{n}} FILTER (WHERE verify_result = 'success'),
       {{n}} FILTER (WHERE verify_result = 'failed'),
       {{n}} FILTER (WHERE verify_result = 'not_tls'),
       {{n}} FILTER (WHERE {UNKNOWN_CODE}),
       {{first}}, {{last}}
FROM {{rel}} WHERE {{where}}"""

BY_STATUS = """
SELECT tls_verify_status, {n} AS n FROM {rel} WHERE {where}
GROUP BY tls_verify_status ORDER BY n DESC, tls_verify_status"""

# What the per-code questions read of a failed row.
FAILURE_COLUMNS = (
    "error_code, client_ip, timestamp, serial_key, leaf_client_cert_serial_number, "
    "leaf_client_cert_subject, not_before, not_after, verify_result"
)

# The failed rows counted per code, client, certificate and load balancer: the per-code
# questions (all but the timeline) ask these groups, with COUNT_SHAPE, rather than every
# failed row again. They sum over ``elb``, which only FAILING_LOAD_BALANCERS reads: the load
# balancers a change point's failures came through scope its causes (diagnose/causes.py).
FAILURE_GROUPS = """
SELECT error_code, verify_result, client_ip, serial_key, leaf_client_cert_serial_number,
       leaf_client_cert_subject, not_before, not_after, elb,
       count(*) AS n, min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM {rel} WHERE {where} AND verify_result = 'failed'
GROUP BY error_code, verify_result, client_ip, serial_key, leaf_client_cert_serial_number,
         leaf_client_cert_subject, not_before, not_after, elb"""

# The selection's rows counted per status and minute (COUNT_SHAPE), and who used each
# certificate that worked and expires before $horizon, when last: what a target read for one
# diagnosis keeps (diagnose/target.py, diagnose/stream.py).
STATUS_MINUTES = """
SELECT tls_verify_status, date_trunc('minute', timestamp) AS bucket, count(*) AS n,
       min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM {rel} WHERE {where} GROUP BY ALL"""

EXPIRING_CLIENTS = """
SELECT leaf_client_cert_serial_number, leaf_client_cert_subject, not_after, client_ip,
       max(timestamp) AS timestamp
FROM {rel}
WHERE {where} AND verify_result = 'success' AND not_after < $horizon
GROUP BY ALL"""

# Who presented which certificate, with which outcome: the dashboard's client and certificate
# pages (a store read for one of them; see diagnose/target.py).
PRESENTED = """
SELECT client_ip, leaf_client_cert_serial_number, leaf_client_cert_subject, tls_verify_status,
       min(not_before) AS not_before, max(not_after) AS not_after, count(*) AS n,
       min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM {rel} WHERE {where}
GROUP BY client_ip, leaf_client_cert_serial_number, leaf_client_cert_subject, tls_verify_status"""

# Every TLS handshake (a connection with a tls_protocol) counted per client, protocol, cipher
# and key exchange: what the policy questions ask (diagnose/tls.py), read when a Scope asks.
TLS_HANDSHAKES = """
SELECT client_ip, tls_protocol, tls_cipher, tls_keyexchange, count(*) AS n,
       min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM {rel} WHERE {where} AND tls_protocol IS NOT NULL
GROUP BY client_ip, tls_protocol, tls_cipher, tls_keyexchange"""

PER_CODE = """
SELECT coalesce(error_code, '') AS code, {n} AS n, count(DISTINCT client_ip),
       count(DISTINCT coalesce(serial_key, '') || '|' || coalesce(leaf_client_cert_subject, '')),
       {first}, {last}
FROM {rel} WHERE {where} AND verify_result = 'failed'
GROUP BY coalesce(error_code, '') ORDER BY n DESC, code"""

TOP_CLIENTS = f"""
SELECT code, client_ip, n, first_seen, last_seen FROM (
  SELECT coalesce(error_code, '') AS code, client_ip, {{n}} AS n,
         {{first}} AS first_seen, {{last}} AS last_seen,
         row_number() OVER (PARTITION BY coalesce(error_code, '')
                            ORDER BY {{n}} DESC, client_ip) AS rn
  FROM {{rel}} WHERE {{where}} AND verify_result = 'failed'
  GROUP BY coalesce(error_code, ''), client_ip) ranked
WHERE rn <= {TOP_N} ORDER BY code, n DESC, client_ip"""

# count(DISTINCT client_ip) per group is slow on millions of rows; grouping by client first
# and counting the groups gives the same number two to three times faster.
TOP_CERTIFICATES = f"""
SELECT code, serial, subject, not_before, not_after, n, clients, first_seen, last_seen FROM (
  SELECT code, serial, subject, min(not_before) AS not_before, max(not_after) AS not_after,
         sum(n) AS n, count(client_ip) AS clients, min(first_seen) AS first_seen,
         max(last_seen) AS last_seen,
         row_number() OVER (PARTITION BY code ORDER BY sum(n) DESC, serial, subject) AS rn
  FROM (
    SELECT coalesce(error_code, '') AS code, leaf_client_cert_serial_number AS serial,
           leaf_client_cert_subject AS subject, client_ip, min(not_before) AS not_before,
           max(not_after) AS not_after, {{n}} AS n, {{first}} AS first_seen,
           {{last}} AS last_seen
    FROM {{rel}} WHERE {{where}} AND verify_result = 'failed'
    GROUP BY coalesce(error_code, ''), leaf_client_cert_serial_number,
             leaf_client_cert_subject, client_ip
  ) per_client
  GROUP BY code, serial, subject
) ranked
WHERE rn <= {TOP_N} ORDER BY code, n DESC, serial, subject"""

# Each code's failing load balancers (the logs' elb, app/NAME/ID) and when each last failed:
# a change point's failures are those seen from it on.
FAILING_LOAD_BALANCERS = """
SELECT coalesce(error_code, '') AS code, elb, {last}
FROM {rel} WHERE {where} AND verify_result = 'failed' AND elb IS NOT NULL
GROUP BY coalesce(error_code, ''), elb ORDER BY code, elb"""

TIMELINE = """
SELECT coalesce(error_code, '') AS code, date_trunc('{unit}', {at}) AS bucket, {n}
FROM {rel} WHERE {where} AND verify_result = 'failed'
GROUP BY coalesce(error_code, ''), date_trunc('{unit}', {at}) ORDER BY code, bucket"""

TLS_TIMELINE = """
SELECT date_trunc('{unit}', {at}) AS bucket, {n} FROM {rel}
WHERE {where} AND verify_result <> 'not_tls'
GROUP BY date_trunc('{unit}', {at}) ORDER BY bucket"""

# Certificates behind each code, with their validity: the evidence for time-related codes.
# One query for every code (the EVIDENCE_ROWS most used per code), not one per code.
CODE_CERTIFICATES = f"""
SELECT code, serial, subject, not_before, not_after, n, clients, first_seen, last_seen FROM (
  SELECT code, serial, subject, not_before, not_after, sum(n) AS n, count(client_ip) AS clients,
         min(first_seen) AS first_seen, max(last_seen) AS last_seen,
         row_number() OVER (PARTITION BY code ORDER BY sum(n) DESC, serial, subject,
                                                       not_before, not_after) AS rn
  FROM (
    SELECT coalesce(error_code, '') AS code, leaf_client_cert_serial_number AS serial,
           leaf_client_cert_subject AS subject, not_before, not_after, client_ip,
           {{n}} AS n, {{first}} AS first_seen, {{last}} AS last_seen
    FROM {{rel}} WHERE {{where}} AND verify_result = 'failed'
    GROUP BY coalesce(error_code, ''), leaf_client_cert_serial_number,
             leaf_client_cert_subject, not_before, not_after, client_ip
  ) per_client
  GROUP BY code, serial, subject, not_before, not_after
) ranked
WHERE rn <= {EVIDENCE_ROWS}
ORDER BY code, n DESC, serial, subject, not_before, not_after"""

# Certificates that worked and whose NotAfter comes before the horizon, in two kinds: those
# seen after their NotAfter (the listener ignores expiry) and the others (a countdown). Per
# kind: the EVIDENCE_ROWS that expire first, and how many certificates and distinct clients
# there are in all (a client counts once per kind, at its first certificate: each CTE is read
# once, so the rows are scanned once).
EXPIRING = f"""
WITH per_client AS (
  SELECT leaf_client_cert_serial_number AS serial, leaf_client_cert_subject AS subject,
         not_after, client_ip, max(timestamp) AS last_seen
  FROM {{rel}} WHERE {{where}} AND verify_result = 'success' AND not_after IS NOT NULL
    AND not_after < $horizon
  GROUP BY leaf_client_cert_serial_number, leaf_client_cert_subject, not_after, client_ip
), tagged AS (
  SELECT serial, subject, not_after, client_ip, last_seen,
         CASE WHEN not_after < max(last_seen) OVER (PARTITION BY serial, subject, not_after)
              THEN 'expired_but_accepted' ELSE 'expiring_soon' END AS kind
  FROM per_client
), first_use AS (
  SELECT *, CASE WHEN client_ip IS NOT NULL AND row_number() OVER (
                 PARTITION BY kind, client_ip ORDER BY serial, subject, not_after) = 1
            THEN 1 ELSE 0 END AS new_client
  FROM tagged
), per_cert AS (
  SELECT kind, serial, subject, not_after, count(client_ip) AS clients,
         max(last_seen) AS last_seen, sum(new_client) AS new_clients
  FROM first_use GROUP BY kind, serial, subject, not_after
)
SELECT kind, serial, subject, not_after, clients, last_seen, certificates, kind_clients
FROM (
  SELECT kind, serial, subject, not_after, clients, last_seen,
         row_number() OVER (PARTITION BY kind ORDER BY not_after, serial, subject) AS rn,
         count(*) OVER (PARTITION BY kind) AS certificates,
         sum(new_clients) OVER (PARTITION BY kind) AS kind_clients
  FROM per_cert
) ranked
WHERE rn <= {EVIDENCE_ROWS}
ORDER BY kind, not_after, serial, subject"""


def timeline_unit(span_seconds: float) -> str:
    """Buckets fine enough to see a change, few enough to read: minute, hour or day."""
    if span_seconds <= 3 * 3600:
        return "minute"
    if span_seconds <= 3 * 86400:
        return "hour"
    return "day"
