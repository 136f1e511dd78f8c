"""The dashboard as a WSGI application: routes, JSON twins under ``/api/``, error pages.

Every page reads a snapshot of the store (see :mod:`mtls_doctor.web.source`). Malformed
parameters answer 400 with a message; a busy store with no snapshot yet answers 503.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mtls_doctor.diagnose.correlate import Correlator
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.model import Diagnosis
from mtls_doctor.diagnose.overview import overview
from mtls_doctor.diagnose.source import Scope, Source
from mtls_doctor.diagnose.target import StoreRows, resolve_candidates
from mtls_doctor.diagnose.tls import tls_mix
from mtls_doctor.errors import InputError, MtlsDoctorError, StoreError, UsageError
from mtls_doctor.knowledge.catalogue import get_entry
from mtls_doctor.knowledge.codes import DOCUMENTED_CODES, FAILED_PREFIX
from mtls_doctor.knowledge.fields import OUTPUT_COLUMNS
from mtls_doctor.logs.query import Filters, normalize_serial, parse_client, parse_status
from mtls_doctor.pki.verdict import check_chain
from mtls_doctor.timeutil import iso_z
from mtls_doctor.web import pages
from mtls_doctor.web import queries as q
from mtls_doctor.web.params import (
    BadRequest,
    FilterBuilder,
    filter_values,
    filters_from,
    paging_from,
    parse_query,
)
from mtls_doctor.web.server import SECURITY_HEADERS
from mtls_doctor.web.source import DataState, StoreSource

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_CSV_CHUNK = 5000


@dataclass
class Request:
    """One request, parsed: path, parameters, filters, the snapshot it reads."""

    path: str
    params: dict[str, str]
    filters: Filters
    target: StoreRows
    state: DataState
    now: datetime

    @property
    def shown(self) -> dict[str, str]:
        return filter_values(self.params)


class Response:
    def __init__(self, status: str, body: bytes | Iterable[bytes], content_type: str) -> None:
        self.status, self.body, self.content_type = status, body, content_type


def _json(data: dict[str, Any], status: str = "200 OK") -> Response:
    payload = json.dumps({"schema_version": 1, **data}, indent=2, default=str)
    return Response(status, payload.encode(), "application/json")


def _html(text: str, status: str = "200 OK") -> Response:
    return Response(status, text.encode(), "text/html; charset=utf-8")


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: Response | None = None
        self.error: BaseException | None = None


class _Flights:
    """Identical requests that arrive while one is being answered share its answer.

    When several people open the dashboard at once they ask for the same pages; a burst of
    200 ``/api/overview`` costs one diagnosis per round of workers instead of 200. Nothing is
    kept once answered: a request shares only an answer still being computed when it came.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flying: dict[tuple[str, str], _Flight] = {}

    def run(self, key: tuple[str, str], answer: Callable[[], Response]) -> Response:
        with self._lock:
            flight = self._flying.get(key)
            lead = flight is None
            if flight is None:
                flight = self._flying[key] = _Flight()
        if not lead:
            flight.done.wait()
            if flight.response is None:
                raise RuntimeError("the shared answer failed") from flight.error
            return flight.response
        try:
            flight.response = answer()
            return flight.response
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                del self._flying[key]
            flight.done.set()


class DashboardApp:
    """``app(environ, start_response)``: the whole dashboard."""

    def __init__(
        self,
        source: StoreSource,
        build_filters: FilterBuilder,
        *,
        correlator: Correlator | None = None,
        warn_days: int = 30,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        explain: Callable[[Diagnosis], Diagnosis] | None = None,
    ) -> None:
        self.source = source
        self.build_filters = build_filters
        self.correlator = correlator
        # serve --changes: the configuration changes behind each change point (docs/changes.md)
        self.explain = explain or (lambda d: d)
        self.warn_days = warn_days
        self.clock = clock
        self._flights = _Flights()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        query = environ.get("QUERY_STRING", "")
        if method not in ("GET", "HEAD"):
            api = path.startswith("/api/")
            response = self._error("405 Method Not Allowed", "only GET is served", api)
        elif path.endswith(".csv"):  # streamed: each download reads the store itself
            response = self._answer(path, query)
        else:
            response = self._flights.run((path, query), lambda: self._answer(path, query))
        return self._send(response, method, start_response)

    def _answer(self, path: str, query: str) -> Response:
        api = path.startswith("/api/")
        try:
            return self._dispatch(path, query)
        except BadRequest as error:
            response = self._error("400 Bad Request", error.message, api)
        except StoreError as error:  # the store, not the request, is at fault
            response = self._error("503 Service Unavailable", error.message, api)
        except (InputError, UsageError) as error:
            response = self._error("400 Bad Request", error.message, api)
        except MtlsDoctorError as error:
            response = self._error("503 Service Unavailable", error.message, api)
        return response

    def _send(
        self, response: Response, method: str, start_response: StartResponse
    ) -> list[bytes] | Iterable[bytes]:
        headers = [("Content-Type", response.content_type), ("Cache-Control", "no-store"),
                   *SECURITY_HEADERS]  # fmt: skip
        if response.content_type.startswith("text/csv"):
            headers.append(("Content-Disposition", 'attachment; filename="connections.csv"'))
        if response.status.startswith("405"):
            headers.append(("Allow", "GET, HEAD"))
        body = response.body
        if isinstance(body, bytes):
            headers.append(("Content-Length", str(len(body))))
        start_response(response.status, headers)
        if method == "HEAD":  # the headers a GET would have, and no body (RFC 9110 §9.3.2)
            return []
        return [body] if isinstance(body, bytes) else body

    def _error(self, status: str, message: str, api: bool) -> Response:
        if api:
            return _json({"error": message, "status": int(status.split()[0])}, status)
        return _html(pages.error_page(status, message), status)

    def _dispatch(self, path: str, query: str) -> Response:
        params = parse_query(query)
        now = self.clock()
        filters = filters_from(params, now, self.build_filters)
        api = path.startswith("/api/")
        route = path[4:] if api else path
        if route == "/connections.csv":
            return self._csv(params, filters, now)
        with self.source.target() as (target, state):
            request = Request(
                route, params, resolve_candidates(target, filters), target, state, now
            )
            return self._route(request, api)

    def _route(self, r: Request, api: bool) -> Response:
        name, _, rest = r.path.strip("/").partition("/")
        handlers: dict[str, Callable[[Request, bool, str], Response]] = {
            "": self.overview,
            "overview": self.overview,
            "connections": self.connections,
            "code": self.code,
            "client": self.client,
            "cert": self.cert,
        }
        handler = handlers.get(name)
        if handler is None or (name in ("code", "client", "cert")) != bool(rest):
            return self._error("404 Not Found", f"no page at {r.path}", api)
        return handler(r, api, rest)

    # --- pages -----------------------------------------------------------------------------

    def _diagnose(self, r: Request, filters: Filters | None = None) -> Diagnosis:
        return self.explain(diagnose(*self._prepare(r, filters or r.filters)))

    def _prepare(
        self, r: Request, filters: Filters, *, presented: bool = False, tls: bool = False
    ) -> tuple[Source, Filters, DiagnoseOptions]:
        """The store read for one diagnosis of ``filters`` (its prepared tables; with
        ``tls`` the TLS handshakes too, for the overview's TLS panel)."""
        options = DiagnoseOptions(r.now, self.warn_days, self.correlator)
        scope = Scope.of(filters, r.now, self.warn_days, tls=tls)
        return r.target.prepare(scope, presented=presented), filters, options

    def overview(self, r: Request, api: bool, _rest: str) -> Response:
        source, filters, options = self._prepare(r, r.filters, tls=True)
        d = self.explain(diagnose(source, filters, options))
        tops, mix = overview(source), tls_mix(source)
        if api:
            return _json({"data_state": r.state.to_dict(), "diagnosis": d.to_dict(),
                          **tops.to_dict(), "tls": mix.to_dict()})  # fmt: skip
        form = self._form(r, "/")
        return _html(pages.overview_page(d, tops, form, r.shown, r.state, tls=mix))

    def _form(self, r: Request, action: str, hidden: dict[str, str] | None = None) -> str:
        ports = q.distinct(r.target, "listener_port")
        codes = [c or "" for c in q.distinct(r.target, "error_code")]
        known = [c for c in DOCUMENTED_CODES if c in codes] + [
            c for c in codes if c and c not in DOCUMENTED_CODES
        ]
        return pages.filter_form(
            action, r.shown, ports, ["failed", "success", "not-tls", *known], hidden
        )

    def connections(self, r: Request, api: bool, _rest: str) -> Response:
        p = paging_from(r.params)
        page = q.connections_page(r.target, r.filters, sort=p.sort, descending=p.descending,
                                  page=p.page, per_page=p.per_page)  # fmt: skip
        if api:
            return _json({"data_state": r.state.to_dict(), "filters": r.shown, **page.to_dict()})
        hidden = {"sort": p.sort, "order": "desc" if p.descending else "asc",
                  "per_page": str(p.per_page)}  # fmt: skip
        form = self._form(r, "/connections", hidden)
        return _html(pages.connections_page(page, form, r.shown, r.state))

    def code(self, r: Request, api: bool, code: str) -> Response:
        try:
            column, value = parse_status(code)
        except UsageError:
            # The dashboard links every code the logs hold, bare. A code AWS added later,
            # spelled close to a documented one, is read as logged rather than as a typo.
            column, value = parse_status(f"{FAILED_PREFIX}{code}")
        if column != "tls_verify_status" or not value.startswith("Failed:"):
            raise BadRequest(f"{code!r} is not a failure code")
        entry = get_entry(value)
        code = value[len("Failed:") :]
        # Diagnosed over all statuses: change detection needs the other connections too.
        d = self._diagnose(r)
        group = next((g for g in d.failures if g.code == code), None)
        if api:
            return _json({"data_state": r.state.to_dict(), "code": code,
                          "catalogue": entry.to_dict(), "summary": d.summary.to_dict(),
                          "failure": group.to_dict() if group else None})  # fmt: skip
        return _html(pages.code_page(entry, group, r.shown, r.state))

    def client(self, r: Request, api: bool, ip: str) -> Response:
        try:
            net = parse_client(ip)
        except (InputError, UsageError) as error:
            raise BadRequest(error.message) from None
        filters = resolve_candidates(r.target, replace(r.filters, client=net))
        source, filters, options = self._prepare(r, filters, presented=True, tls=True)
        d = diagnose(source, filters, options)
        certs, mix = q.certificates_of(source), tls_mix(source)
        recent = q.connections_page(r.target, filters, sort="timestamp", descending=True,
                                    page=1, per_page=20)  # fmt: skip
        if api:
            return _json({"data_state": r.state.to_dict(), "client_ip": str(net),
                          "diagnosis": d.to_dict(), "certificates": [q.plain(c) for c in certs],
                          "recent": list(recent.rows), "tls": mix.to_dict()})  # fmt: skip
        return _html(pages.client_page(str(net), d, certs, recent, r.shown, r.state, tls=mix))

    def cert(self, r: Request, api: bool, serial: str) -> Response:
        try:
            key = normalize_serial(serial)
        except (InputError, UsageError) as error:
            raise BadRequest(error.message) from None
        filters = replace(r.filters, serial=key)
        source, filters, options = self._prepare(r, filters, presented=True)
        d = diagnose(source, filters, options)
        certs = q.certificates_of(source)
        clients = q.clients_by_status(source)
        verdict = self._verdict(key, r.now)
        if api:
            return _json(
                {
                    "data_state": r.state.to_dict(),
                    "serial": key,
                    "diagnosis": d.to_dict(),
                    "certificates": [q.plain(c) for c in certs],
                    "clients": [q.plain(c) for c in clients],
                    "verdict": verdict,
                }
            )
        return _html(pages.cert_page(key, d, certs, clients, verdict, r.shown, r.state))

    def _verdict(self, serial: str, now: datetime) -> dict[str, Any] | None:
        c = self.correlator
        if c is None or c.certs is None or c.trust_store is None:
            return None
        found = c.certs.find(serial, None)
        if found is None:
            return None
        path, chain = found
        result = check_chain(chain, c.trust_store, at=now, ignore_expiry=c.ignore_expiry)
        return {"certificate_file": path, "verdict": result.verdict, "checked_at": iso_z(now),
                "findings": [f.message for f in result.findings]}  # fmt: skip

    # --- CSV -------------------------------------------------------------------------------

    def _csv(self, params: dict[str, str], filters: Filters, now: datetime) -> Response:
        p = paging_from(params)
        with self.source.target() as (target, _state):
            resolve_candidates(target, filters)  # fail before the 200 when the store is unusable
        return Response("200 OK", self._csv_chunks(filters, p.sort, p.descending),
                        "text/csv; charset=utf-8")  # fmt: skip

    def _csv_chunks(self, filters: Filters, sort: str, descending: bool) -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(OUTPUT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        with self.source.target() as (target, _state):
            filters = resolve_candidates(target, filters)
            page = 1
            while True:
                chunk = q.connections_page(target, filters, sort=sort, descending=descending,
                                           page=page, per_page=_CSV_CHUNK)  # fmt: skip
                writer.writerows(chunk.rows)
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
                if page >= chunk.pages:
                    return
                page += 1
