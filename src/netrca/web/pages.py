"""Server-rendered pages of the dashboard (no JavaScript; every value escaped)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from netrca import __version__
from netrca.report.charts import CATEGORY_COLORS, SEVERITY_COLORS, hbar_svg
from netrca.report.html import confusion_tables, flows_table, incident_body, timeline_chart
from netrca.report.markup import Markup, el, fmt_num, join
from netrca.report.view import SEVERITY_ORDER
from netrca.schema import CATEGORY_VALUES, Analysis
from netrca.web.store import IncidentFilter

__all__ = ["error_page", "incident_page", "run_page", "runs_page"]


def _u(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


def _page(title: str, crumbs: list[tuple[str, str | None]], *body: object) -> str:
    nav = el(
        "div",
        join([el("a", t, href=h) if h else el("span", t) for t, h in crumbs], " › "),
        class_="sub",
    )
    page = el(
        "html",
        el(
            "head",
            el("meta", charset="utf-8"),
            el("meta", name="viewport", content="width=device-width, initial-scale=1"),
            el("title", f"{title} · netrca"),
            el("link", rel="stylesheet", href="/static/netrca.css"),
            el("link", rel="icon", href="data:,"),
        ),
        el(
            "body",
            el("header", el("h1", title), nav, class_="top"),
            el("main", *body),
            el(
                "footer",
                f"netrca {__version__} dashboard · JSON API: ",
                el("a", "/api/runs", href="/api/runs"),
                " · ",
                el("a", "OpenAPI", href="/api/openapi.json"),
            ),
        ),
        lang="en",
    )
    return "<!DOCTYPE html>\n" + page + "\n"


def error_page(status: int, message: str) -> str:
    """A plain error page."""
    return _page(f"Error {status}", [("runs", "/")], el("section", el("p", message)))


def runs_page(runs: list[dict[str, Any]], root: str) -> str:
    """The list of runs."""
    head = el(
        "tr",
        [
            el("th", h)
            for h in (
                "run",
                "written",
                "flows",
                "anomalous",
                "incidents",
                "input",
                "mode",
                "report",
            )
        ],
    )
    rows = [
        el(
            "tr",
            el("td", el("a", r["id"], href=_u("runs", r["id"]), class_="run-link")),
            el("td", r.get("written_at") or ""),
            el("td", fmt_num(r.get("rows")), class_="num"),
            el("td", fmt_num(r.get("anomalies")), class_="num"),
            el("td", fmt_num(r.get("incidents")), class_="num"),
            el("td", r.get("input") or "", class_="mono"),
            el("td", r.get("mode") or ""),
            el(
                "td",
                el("a", "report.html", href=_u("runs", r["id"], "report.html"))
                if r.get("has_report")
                else "–",
            ),
        )
        for r in runs
    ]
    body = (
        el("table", head, rows, class_="runs")
        if runs
        else el(
            "p", "No complete run folders here (a run folder has a manifest.json).", class_="note"
        )
    )
    return _page(
        "netrca runs", [("runs", None)], el("section", el("h2", f"Runs under {root}"), body)
    )


def _filter_form(run_id: str, f: IncidentFilter, entity: str, start: str, end: str) -> Markup:
    def opts(values: tuple[str, ...], chosen: str | None, label: str) -> list[Markup]:
        return [
            el("option", label, value=""),
            *[el("option", v, value=v, selected=(v == chosen)) for v in values],
        ]

    return el(
        "form",
        el(
            "label",
            "category ",
            el("select", opts(CATEGORY_VALUES, f.category, "any"), name="category", id="category"),
        ),
        el(
            "label",
            "severity ",
            el("select", opts(SEVERITY_ORDER, f.severity, "any"), name="severity", id="severity"),
        ),
        el(
            "label",
            "entity ",
            el(
                "input",
                type="search",
                name="entity",
                id="entity",
                value=entity,
                placeholder="IP, port or incident id",
            ),
        ),
        el(
            "label",
            "from ",
            el(
                "input",
                type="text",
                name="start",
                id="start",
                value=start,
                placeholder="2024-03-04T00:00",
            ),
        ),
        el(
            "label",
            "to ",
            el(
                "input",
                type="text",
                name="end",
                id="end",
                value=end,
                placeholder="2024-03-05T00:00",
            ),
        ),
        el("button", "filter", type="submit", id="apply"),
        el("a", "clear", href=_u("runs", run_id)),
        method="get",
        action=_u("runs", run_id),
        class_="filters",
    )


def run_page(
    run_id: str,
    view: dict[str, Any],
    incidents: list[Analysis],
    f: IncidentFilter,
    raw_filters: dict[str, str],
    error: str | None = None,
) -> str:
    """A run: summary, timeline, breakdowns and the filtered incident table."""
    n, a = view["flows_analysed"], view["anomalous_flows"]
    run = view["run"]
    cards = el(
        "div",
        [
            el(
                "div",
                el("div", f"{n:,}", class_="v"),
                el("div", "flows", class_="k"),
                class_="card",
            ),
            el(
                "div",
                el("div", f"{a:,}", class_="v"),
                el("div", "anomalous flows", class_="k"),
                class_="card",
            ),
            el(
                "div",
                el("div", f"{view['incidents_total']:,}", class_="v"),
                el("div", "incidents", class_="k"),
                class_="card",
            ),
            el(
                "div",
                el("div", fmt_num(view["threshold"]), class_="v"),
                el("div", "threshold", class_="k"),
                class_="card",
            ),
        ],
        class_="cards",
    )
    head = el(
        "tr",
        [
            el("th", h)
            for h in (
                "severity",
                "incident",
                "category",
                "root cause",
                "flows",
                "confidence",
                "start",
                "end",
            )
        ],
    )
    rows = [
        el(
            "tr",
            el("td", el("span", i.severity.value, class_=f"badge sev-{i.severity.value}")),
            el(
                "td",
                el(
                    "a",
                    i.incident_id,
                    href=_u("runs", run_id, "incidents", i.incident_id),
                    class_="incident-link mono",
                ),
            ),
            el("td", i.category.value, class_="cat"),
            el("td", i.root_cause),
            el("td", fmt_num(i.flow_count), class_="num"),
            el("td", fmt_num(i.confidence), class_="num"),
            el("td", i.time_window.start, class_="mono"),
            el("td", i.time_window.end, class_="mono"),
            class_="incident-row",
            data_category=i.category.value,
            data_severity=i.severity.value,
        )
        for i in incidents
    ]
    by_cat = [(c, float(view["incidents_by_category"].get(c, 0))) for c in CATEGORY_VALUES]
    by_sev = [(s, float(view["incidents_by_severity"].get(s, 0))) for s in SEVERITY_ORDER]
    table = (
        el("table", head, rows, id="incidents-table")
        if incidents
        else el("p", "No incident matches these filters.", class_="note")
    )
    evaluation = view.get("evaluation")
    return _page(
        f"Run {run_id}",
        [("runs", "/"), (run_id, None)],
        el(
            "section",
            el("h2", "Summary"),
            cards,
            el(
                "p",
                f"input: {run.get('input', '')} · mode: {run.get('mode', '')} · analyzer: "
                f"{run.get('analyzer', '')} · ",
                el("a", "full report", href=_u("runs", run_id, "report.html")),
                " · ",
                el("a", "JSON", href=_u("api", "runs", run_id)),
                class_="note",
            ),
            id="summary",
        ),
        el(
            "section",
            el("h2", "Anomaly score timeline"),
            el("div", timeline_chart(view), class_="scroll"),
            id="timeline",
        ),
        el(
            "section",
            el("h2", f"Incidents ({len(incidents)} of {view['incidents_total']})"),
            _filter_form(
                run_id,
                f,
                raw_filters.get("entity", ""),
                raw_filters.get("start", ""),
                raw_filters.get("end", ""),
            ),
            el("p", error, class_="note error") if error else "",
            el("div", table, class_="scroll"),
            id="incidents",
        ),
        el(
            "section",
            el("h2", "Breakdowns"),
            el(
                "div",
                el(
                    "div",
                    hbar_svg(
                        by_cat,
                        title="Incidents by category",
                        color=[CATEGORY_COLORS[c] for c, _ in by_cat],
                    ),
                ),
                el(
                    "div",
                    hbar_svg(
                        by_sev,
                        title="Incidents by severity",
                        color=[SEVERITY_COLORS[s] for s, _ in by_sev],
                    ),
                ),
                class_="grid2",
            ),
            id="breakdowns",
        ),
        el("section", el("h2", "Detection metrics"), confusion_tables(evaluation), id="evaluation")
        if evaluation
        else "",
    )


def incident_page(
    run_id: str,
    analysis: Analysis,
    total: int,
    columns: list[str],
    rows: list[dict[str, Any]],
    offset: int,
    limit: int,
) -> str:
    """One incident: its analysis and a page of its flows."""
    record = analysis.model_dump(mode="json", exclude={"flow_ids"})
    base = _u("runs", run_id, "incidents", analysis.incident_id)
    pager = []
    if offset > 0:
        pager.append(
            el("a", "‹ previous", href=f"{base}?{urlencode({'offset': max(offset - limit, 0)})}")
        )
    pager.append(
        el("span", f"flows {offset + 1 if total else 0}–{min(offset + limit, total)} of {total}")
    )
    if offset + limit < total:
        pager.append(
            el(
                "a",
                "next ›",
                href=f"{base}?{urlencode({'offset': offset + limit})}",
                id="next-page",
            )
        )
    table = flows_table(columns, [[r.get(c) for c in columns] for r in rows])
    return _page(
        f"{analysis.incident_id}: {analysis.category.value}",
        [("runs", "/"), (run_id, _u("runs", run_id)), (analysis.incident_id, None)],
        el(
            "section",
            el(
                "h2",
                el("span", analysis.severity.value, class_=f"badge sev-{analysis.severity.value}"),
                " ",
                analysis.category.value,
                " · ",
                analysis.incident_id,
            ),
            incident_body(record),
            id="analysis",
        ),
        el(
            "section",
            el("h2", "Flows"),
            el("div", pager, class_="pager"),
            table,
            el(
                "p",
                el(
                    "a",
                    "as JSON",
                    href=_u("api", "runs", run_id, "incidents", analysis.incident_id, "flows"),
                ),
                class_="note",
            ),
            id="flows",
        ),
    )
