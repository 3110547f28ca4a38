"""The dashboard's ASGI app (FastAPI) and ``serve()`` (uvicorn): pages plus ``/api/``."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from netrca import __version__
from netrca.errors import ConfigError, InputError
from netrca.report.html import REPORT_HTML, asset
from netrca.schema import Analysis, Category, Entities, Severity, TimeWindow
from netrca.web import pages
from netrca.web.store import (
    IncidentFilter,
    RunStore,
    UnknownItemError,
    filter_incidents,
    parse_time,
)

__all__ = ["FlowPage", "IncidentList", "IncidentSummary", "RunInfo", "create_app", "serve"]

_EXTRA_HINT = "the dashboard needs the 'web' extra: pip install 'netrca[web]'"

#: Pages run no script and load only our stylesheet.
_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class RunInfo(BaseModel):
    """One run folder."""

    id: str
    written_at: str | None = None
    rows: int | None = None
    anomalies: int | None = None
    incidents: int | None = None
    input: str | None = None
    format: str | None = None
    mode: str | None = None
    analyzer: str | None = None
    has_evaluation: bool = False
    has_fidelity: bool = False
    has_report: bool = False


class IncidentSummary(BaseModel):
    """An incident without its flow ids, evidence or remediation (see the detail route)."""

    incident_id: str
    category: Category
    severity: Severity
    confidence: float
    root_cause: str
    flow_count: int
    time_window: TimeWindow
    entities: Entities
    analyzer: str


class IncidentList(BaseModel):
    """A page of filtered incidents, most severe first."""

    total: int
    offset: int
    limit: int
    items: list[IncidentSummary]


class FlowPage(BaseModel):
    """A page of an incident's flows (all columns of the predictions table)."""

    total: int
    offset: int
    limit: int
    columns: list[str]
    rows: list[dict[str, Any]] = Field(description="One object per flow, keyed by column.")


def _run_info(store: RunStore, run_id: str) -> RunInfo:
    run = store.run(run_id)
    meta = run.summary.get("run") or {}
    m = run.manifest
    return RunInfo(
        id=run_id,
        written_at=m.get("written_at"),
        rows=m.get("rows"),
        anomalies=m.get("anomalies"),
        incidents=m.get("incidents"),
        input=meta.get("input"),
        format=meta.get("format"),
        mode=meta.get("mode"),
        analyzer=meta.get("analyzer"),
        has_evaluation=(run.path / "evaluation.json").exists(),
        has_fidelity=(run.path / "fidelity.json").exists(),
        has_report=(run.path / REPORT_HTML).exists(),
    )


def create_app(root: str | Path, *, allowed_hosts: list[str] | None = None) -> Any:
    """The dashboard for the run folders at ``root`` (a run folder or a folder of them).

    ``allowed_hosts`` limits the HTTP ``Host`` header (``serve`` passes the loopback
    names when bound to loopback, which defeats DNS-rebinding from web pages).
    """
    try:
        from fastapi import FastAPI, HTTPException, Query, Request
        from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
        from starlette.middleware.trustedhost import TrustedHostMiddleware
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError(_EXTRA_HINT) from exc

    store = RunStore(root)
    app = FastAPI(
        title="netrca dashboard API",
        version=__version__,
        description="Runs, incidents and flows of netrca run folders (read-only).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )

    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if not request.url.path.endswith("/" + REPORT_HTML):
            response.headers["Content-Security-Policy"] = _CSP
        return response

    def _not_found(exc: Exception) -> HTTPException:
        return HTTPException(status_code=404, detail=str(exc))

    # -- JSON API -------------------------------------------------------------------------
    @app.get("/api/runs", response_model=list[RunInfo], tags=["runs"])
    def api_runs() -> list[RunInfo]:
        """All complete runs under the dashboard's folder."""
        return [_run_info(store, r) for r in store.run_ids()]

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def api_run(run_id: str) -> dict[str, Any]:
        """A run's summary (``analysis_summary.json``) and manifest info."""
        try:
            info = _run_info(store, run_id)
            return {"run": info.model_dump(), "summary": store.run(run_id).summary}
        except UnknownItemError as exc:
            raise _not_found(exc) from exc

    @app.get("/api/runs/{run_id}/evaluation", tags=["runs"])
    def api_evaluation(run_id: str) -> dict[str, Any]:
        """``evaluation.json`` of a run (404 without ground truth)."""
        try:
            ev = store.run(run_id).evaluation
        except UnknownItemError as exc:
            raise _not_found(exc) from exc
        if ev is None:
            raise HTTPException(status_code=404, detail=f"run {run_id!r} has no evaluation")
        return ev

    @app.get("/api/runs/{run_id}/incidents", response_model=IncidentList, tags=["incidents"])
    def api_incidents(
        run_id: str,
        category: Category | None = None,
        severity: Severity | None = None,
        entity: str | None = Query(None, description="Substring of an IP, port or incident id."),
        start: str | None = Query(None, description="Incidents ending at or after (ISO 8601)."),
        end: str | None = Query(None, description="Incidents starting at or before (ISO 8601)."),
        offset: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=1000),
    ) -> IncidentList:
        """Incidents of a run, filtered, most severe first."""
        try:
            f = IncidentFilter(
                category=category.value if category else None,
                severity=severity.value if severity else None,
                entity=entity,
                start=parse_time(start, "start"),
                end=parse_time(end, "end"),
            )
            found = filter_incidents(store.run(run_id).analyses, f)
        except UnknownItemError as exc:
            raise _not_found(exc) from exc
        except InputError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        items = [
            IncidentSummary.model_validate(
                a.model_dump(exclude={"flow_ids"}), from_attributes=False
            )
            for a in found[offset : offset + limit]
        ]
        return IncidentList(total=len(found), offset=offset, limit=limit, items=items)

    @app.get(
        "/api/runs/{run_id}/incidents/{incident_id}", response_model=Analysis, tags=["incidents"]
    )
    def api_incident(run_id: str, incident_id: str) -> Analysis:
        """One incident's full analysis (evidence, remediation, flow ids)."""
        try:
            return store.incident(run_id, incident_id)
        except UnknownItemError as exc:
            raise _not_found(exc) from exc

    @app.get(
        "/api/runs/{run_id}/incidents/{incident_id}/flows",
        response_model=FlowPage,
        tags=["incidents"],
    )
    def api_flows(
        run_id: str,
        incident_id: str,
        offset: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=5000),
    ) -> FlowPage:
        """A page of an incident's flows with every column."""
        try:
            total, cols, rows = store.incident_flows(
                run_id, incident_id, offset=offset, limit=limit
            )
        except UnknownItemError as exc:
            raise _not_found(exc) from exc
        return FlowPage(total=total, offset=offset, limit=limit, columns=cols, rows=rows)

    # -- pages ----------------------------------------------------------------------------
    @app.get("/static/netrca.css", include_in_schema=False)
    def css() -> Response:
        return Response(asset("report.css"), media_type="text/css")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> HTMLResponse:
        runs = [_run_info(store, r).model_dump() for r in store.run_ids()]
        return HTMLResponse(pages.runs_page(runs, str(store.root)))

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def run_view(
        run_id: str,
        category: str = "",
        severity: str = "",
        entity: str = "",
        start: str = "",
        end: str = "",
    ) -> HTMLResponse:
        raw = {"entity": entity, "start": start, "end": end}
        error = None
        try:
            try:
                f = IncidentFilter(
                    category=category if category in Category.__members__.values() else None,
                    severity=severity if severity in Severity.__members__.values() else None,
                    entity=entity or None,
                    start=parse_time(start, "from"),
                    end=parse_time(end, "to"),
                )
            except InputError as exc:
                error = str(exc)
                f = IncidentFilter(
                    category=category or None, severity=severity or None, entity=entity or None
                )
            found = filter_incidents(store.run(run_id).analyses, f)
            view = store.view(run_id)
        except UnknownItemError as exc:
            return HTMLResponse(pages.error_page(404, str(exc)), status_code=404)
        return HTMLResponse(
            pages.run_page(run_id, view, found, f, raw, error), status_code=400 if error else 200
        )

    @app.get("/runs/{run_id}/report.html", include_in_schema=False)
    def report(run_id: str) -> Response:
        try:
            path = store.run(run_id).path / REPORT_HTML
        except UnknownItemError as exc:
            return HTMLResponse(pages.error_page(404, str(exc)), status_code=404)
        if not path.exists():
            return HTMLResponse(
                pages.error_page(404, f"run {run_id!r} has no {REPORT_HTML}"), status_code=404
            )
        return FileResponse(path, media_type="text/html")

    @app.get(
        "/runs/{run_id}/incidents/{incident_id}",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    def incident_view(run_id: str, incident_id: str, offset: int = 0) -> HTMLResponse:
        offset = max(offset, 0)
        try:
            analysis = store.incident(run_id, incident_id)
            total, cols, rows = store.incident_flows(run_id, incident_id, offset=offset, limit=50)
        except UnknownItemError as exc:
            return HTMLResponse(pages.error_page(404, str(exc)), status_code=404)
        return HTMLResponse(pages.incident_page(run_id, analysis, total, cols, rows, offset, 50))

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    return app


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    root: str | Path, *, host: str = "127.0.0.1", port: int = 8050, quiet: bool = False
) -> None:
    """Serve the dashboard with uvicorn until interrupted.

    Binds to 127.0.0.1 by default; any other address exposes the run data to the network.
    ``port=0`` takes a free port; the URL actually served is printed on stderr first.
    """
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError(_EXTRA_HINT) from exc
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {port}")
    # Starlette's host check cannot parse "[::1]:port", so it guards IPv4/name binds only
    guard = _is_loopback(host) and ":" not in host
    app = create_app(root, allowed_hosts=["127.0.0.1", "localhost"] if guard else None)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    sys.stderr.write(f"netrca dashboard: http://{shown}:{actual}/ (Ctrl-C to stop)\n")
    if not _is_loopback(host):
        sys.stderr.write(
            f"warning: bound to {host}, not loopback: anyone who can reach this address "
            "can read these runs\n"
        )
    sys.stderr.flush()
    config = uvicorn.Config(app, log_level="warning" if quiet else "info", access_log=not quiet)
    uvicorn.Server(config).run(sockets=[sock])
