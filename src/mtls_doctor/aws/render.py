"""Plain-text renderings of the AWS results (the CLI prints them; JSON is ``to_dict()``)."""

from __future__ import annotations

from mtls_doctor.aws.delivery import DeliveryReport, EnablePlan
from mtls_doctor.aws.findings import AwsFinding
from mtls_doctor.aws.listener import ListenerSettings
from mtls_doctor.aws.truststore import FetchedTrustStore
from mtls_doctor.aws.vended_delivery import LOG_TYPE, VendedState
from mtls_doctor.aws.vended_enable import VendedPlan
from mtls_doctor.timeutil import iso_z


def finding_lines(findings: tuple[AwsFinding, ...]) -> list[str]:
    lines = []
    for f in findings:
        lines.append(f"  {f.severity:7} {f.code}: {f.message}")
        if f.fix:
            lines.append(f"          fix: {f.fix}")
    return lines or ["  no findings"]


def listener_text(s: ListenerSettings) -> str:
    lines = [
        f"listener {s.arn}",
        f"  protocol/port:                  {s.protocol}:{s.port}",
        f"  security policy:                {s.ssl_policy}"
        + (f" ({', '.join(s.ssl_policy_protocols)})" if s.ssl_policy_protocols else ""),
        f"  mTLS mode:                      {s.mode}",
        f"  trust store:                    {s.trust_store_arn or '-'}",
    ]
    if s.trust_store is not None:
        t = s.trust_store
        lines.append(
            f"    name {t.name}, status {t.status}, {t.ca_certificates} CA(s), "
            f"{t.revoked_entries} revoked entries"
        )
    lines += [
        f"  IgnoreClientCertificateExpiry:  {s.ignore_client_certificate_expiry}",
        f"  AdvertiseTrustStoreCaNames:     {s.advertise_trust_store_ca_names or '-'}",
        f"  TrustStoreAssociationStatus:    {s.trust_store_association_status or '-'}",
        "  headers:",
    ]
    lines += [f"    {default} -> {used}" for default, used in s.headers.items()] or [
        "    (not read)"
    ]
    lines.append("findings:")
    return "\n".join(lines + finding_lines(s.findings))


def fetched_text(f: FetchedTrustStore) -> str:
    lines = [
        f"trust store {f.info.arn} ({f.info.name}, {f.info.status})",
        f"  wrote {f.bundle.path} ({f.bundle.size} bytes)",
    ]
    lines += [
        f"  wrote {c.path} (revocation {c.revocation_id}, {c.revoked_entries} entries)"
        for c in f.crls
    ]
    lines.append(f"  manifest {f.out_dir / 'manifest.json'}")
    return "\n".join(lines)


def delivery_text(r: DeliveryReport) -> str:
    lines = [
        f"load balancer {r.lb_arn}",
        f"  connection logs: {'on' if r.enabled else 'off'}",
    ]
    b = r.bucket
    if b is not None:
        where = f"s3://{b.bucket}/{b.prefix + '/' if b.prefix else ''}AWSLogs/{r.account}/"
        lines += [
            f"  destination:     {where}",
            f"  bucket region:   {b.region or 'unknown'} (load balancer: {r.region})",
            f"  encryption:      {b.encryption or 'unknown'}",
            f"  bucket policy:   {b.policy or 'unknown'}",
            f"  test file:       {_yes_no(b.test_file)}",
            f"  newest log file: {iso_z(b.newest_at) or '-'} {b.newest_key or ''}".rstrip(),
        ]
    lines += vended_lines(r.vended)
    lines.append("findings:")
    return "\n".join(lines + finding_lines(r.findings))


def vended_lines(v: VendedState | None) -> list[str]:
    """The CloudWatch Logs deliveries of a report (``ALB_CONNECTION_LOGS``)."""
    if v is None:
        return ["  vended delivery: not checked"]
    if not v.sources:
        return ["  vended delivery: none (no ALB_CONNECTION_LOGS delivery source)"]
    lines = [f"  vended delivery: source(s) {', '.join(n for n, _ in v.sources)}"]
    for d in v.deliveries:
        fields = ", ".join(d.record_fields) if d.record_fields else "(all, by default)"
        lines += [
            f"    delivery {d.delivery_id} from {d.source_name}",
            f"      destination:   {d.destination_type or '?'} "
            f"{d.destination_resource or d.destination_arn}",
            f"      output format: {d.output_format or 'unknown'}"
            + (f", delimiter {d.field_delimiter!r}" if d.field_delimiter else "")
            + (", Hive-compatible paths" if d.hive_paths else ""),
            f"      record fields: {fields}",
        ]
    return lines


def vended_plan_text(p: VendedPlan) -> str:
    lines = [f"load balancer {p.lb_arn}: planned CloudWatch Logs delivery of {LOG_TYPE}"]
    for action, params in p.calls():
        lines.append(f"  logs:{action}")
        lines += [f"    {key}: {value}" for key, value in params.items()]
    if p.already is not None:
        lines.append(
            f"already delivered to {p.destination_resource} (delivery {p.already.delivery_id})"
        )
    lines.append("findings:")
    return "\n".join(lines + finding_lines(p.findings))


def plan_text(p: EnablePlan) -> str:
    lines = [f"load balancer {p.lb_arn}: planned attribute changes"]
    lines += [f"  {key}: {current or '-'} -> {new or '-'}" for key, current, new in p.changes]
    lines.append(f"target bucket s3://{p.bucket.bucket} (region {p.bucket.region or 'unknown'}):")
    return "\n".join(lines + finding_lines(p.findings))


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("present" if value else "missing")
