"""The self-contained HTML report (``report.html``): inline CSS, SVG and a little JS.

The page loads nothing from the network: styles and script are inlined and pinned by
a Content-Security-Policy (``default-src 'none'`` plus their SHA-256 hashes), charts
are SVG drawn in Python, and every log-derived value goes through
:mod:`netrca.report.markup`, which escapes it.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from netrca import __version__
from netrca.io.writers import write_json, write_text
from netrca.report.charts import (
    CATEGORY_COLORS,
    SEVERITY_COLORS,
    distribution_compare_svg,
    hbar_svg,
    histogram_svg,
    timeline_svg,
)
from netrca.report.markup import Markup, el, fmt_num, join, raw
from netrca.report.outputs import RunWriter
from netrca.report.runfolder import RunFolder
from netrca.report.view import FIDELITY_FILE, SEVERITY_ORDER, build_view, load_fidelity
from netrca.schema import CATEGORY_VALUES, Analysis

__all__ = [
    "REPORT_HTML",
    "REPORT_JSON",
    "asset",
    "confusion_tables",
    "evidence_table",
    "flows_table",
    "incident_body",
    "rebuild_report",
    "render_report",
    "timeline_chart",
    "write_report",
]

REPORT_HTML = "report.html"
REPORT_JSON = "report.json"

_SECTIONS = (
    ("summary", "Run summary"),
    ("timeline", "Timeline"),
    ("incidents", "Incidents"),
    ("breakdowns", "Breakdowns"),
    ("top-entities", "Top entities"),
    ("evaluation", "Detection metrics"),
    ("fidelity", "GAN fidelity"),
)


def asset(name: str) -> str:
    """A packaged stylesheet or script from ``report/templates``."""
    return resources.files("netrca.report").joinpath("templates", name).read_text("utf-8")


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _card(value: object, label: str) -> Markup:
    return el("div", el("div", value, class_="v"), el("div", label, class_="k"), class_="card")


def _dl(rows: Sequence[tuple[str, object]]) -> Markup:
    return el(
        "dl", [[el("dt", k), el("dd", v)] for k, v in rows if v not in (None, "")], class_="meta"
    )


def _section(sid: str, title: str, *body: object) -> Markup:
    return el("section", el("h2", title), *body, id=sid)


def _badge(severity: str) -> Markup:
    return el("span", severity, class_=f"badge sev-{severity}")


# -- shared pieces (also used by the dashboard) ------------------------------------------
def evidence_table(evidence: Sequence[dict[str, Any]]) -> Markup:
    """The facts behind an analysis: metric, value, baseline, description."""
    head = el(
        "tr",
        el("th", "metric"),
        el("th", "value", class_="num"),
        el("th", "baseline", class_="num"),
        el("th", "description"),
    )
    rows = [
        el(
            "tr",
            el("td", e.get("metric"), class_="mono"),
            el("td", e.get("value"), class_="num"),
            el("td", e.get("baseline"), class_="num"),
            el("td", e.get("description")),
        )
        for e in evidence
    ]
    return el("table", head, rows, class_="evidence")


def flows_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Markup:
    """A table of flow rows (values already JSON-able)."""
    head = el("tr", [el("th", c) for c in columns])
    body = [el("tr", [el("td", "" if v is None else v) for v in row]) for row in rows]
    return el("div", el("table", head, body, class_="flows"), class_="scroll")


def incident_body(
    record: dict[str, Any],
    sample_columns: Sequence[str] | None = None,
    *,
    sample_heading: bool = True,
) -> Markup:
    """Root cause, entities, evidence, remediation, alternatives and the flow sample."""
    ent = record.get("entities") or {}
    tw = record.get("time_window") or {}
    meta = _dl(
        [
            ("category", record.get("category")),
            ("severity", record.get("severity")),
            ("confidence", fmt_num(record.get("confidence"))),
            ("flows", fmt_num(record.get("flow_count"))),
            ("time window", f"{tw.get('start', '')} → {tw.get('end', '')}"),
            ("sources", ", ".join(map(str, ent.get("sources") or [])) or "–"),
            ("destinations", ", ".join(map(str, ent.get("destinations") or [])) or "–"),
            ("ports", ", ".join(map(str, ent.get("ports") or [])) or "–"),
            ("analyzer", record.get("analyzer")),
            ("fallback reason", record.get("fallback_reason")),
        ]
    )
    parts: list[object] = [el("p", record.get("root_cause"), class_="root-cause"), meta]
    parts += [el("h4", "Evidence"), evidence_table(record.get("evidence") or [])]
    steps = record.get("remediation_steps") or []
    parts += [
        el("h4", "Remediation"),
        el("ol", [el("li", s) for s in steps], class_="remediation")
        if steps
        else el("p", "none given", class_="note"),
    ]
    alts = record.get("alternatives") or []
    if alts:
        parts += [
            el("h4", "Alternatives considered"),
            el(
                "p",
                ", ".join(f"{a.get('category')} ({fmt_num(a.get('score'))})" for a in alts),
                class_="note",
            ),
        ]
    sample = record.get("flow_sample")
    if sample is not None and sample_columns is not None:
        if sample_heading:
            parts.append(
                el(
                    "h4",
                    f"Member flows ({len(sample)} of {record.get('flow_count')} "
                    "shown; all in network_logs_with_predictions.csv)",
                )
            )
        parts.append(flows_table(sample_columns, sample))
    return el("div", parts, class_="body")


def timeline_chart(view: dict[str, Any]) -> Markup:
    """The score timeline of a view, with its incidents as bands."""
    tl = view["timeline"]
    windows = [r.get("time_window") or {} for r in view["incidents"]]

    def every(key: str) -> pd.Series:
        """The windows' ``key`` times in one conversion (one call each cost 0.4 ms);
        feature tables have no time: their windows are row ranges (NaT), not drawn."""
        values = pd.Series([tw.get(key) for tw in windows], dtype=object)
        return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")

    starts, ends = every("start"), every("end")

    def one(value: Any, parsed: Any) -> Any:
        """A value the ISO reading missed, read on its own as before (text netrca does
        not write: another date format); a row range stays missing."""
        if not pd.isna(parsed) or value is None:
            return parsed
        if isinstance(value, str) and value.startswith("row "):
            return parsed
        return pd.to_datetime(value, utc=True, errors="coerce")

    bands = []
    for r, tw, start, end in zip(view["incidents"], windows, starts, ends, strict=True):
        start, end = one(tw.get("start"), start), one(tw.get("end"), end)
        s = None if pd.isna(start) else start.timestamp()
        e = s if pd.isna(end) else end.timestamp()
        if s is not None and e is not None:
            bands.append((r["incident_id"], r["category"], r["severity"], s, e))
    return timeline_svg(
        tl["start"],
        tl["bin_seconds"] or 1.0,
        tl["max_score"],
        tl["flows"],
        tl["anomalies"],
        view["threshold"],
        bands,
    )


def _heat(value: int, peak: int) -> str:
    return f"h{min(5, (5 * value + peak - 1) // peak) if peak and value else 0}"


def confusion_tables(evaluation: dict[str, Any]) -> Markup:
    """Detection 2x2 matrix and the root-cause confusion matrix (truth x predicted)."""
    c = evaluation.get("confusion") or {}
    det = el(
        "table",
        el(
            "tr",
            el("th", "truth \\ flagged"),
            el("th", "anomalous", class_="num"),
            el("th", "normal", class_="num"),
        ),
        el(
            "tr",
            el("th", "anomalous"),
            el("td", fmt_num(c.get("tp", 0)), class_="num"),
            el("td", fmt_num(c.get("fn", 0)), class_="num"),
        ),
        el(
            "tr",
            el("th", "normal"),
            el("td", fmt_num(c.get("fp", 0)), class_="num"),
            el("td", fmt_num(c.get("tn", 0)), class_="num"),
        ),
        class_="cm-detection",
    )
    parts: list[object] = [el("h3", "Detection confusion matrix (flows)"), det]
    rca = evaluation.get("root_cause") or {}
    cm = rca.get("confusion_matrix") or {}
    if cm:
        cols = sorted({k for row in cm.values() for k in row})
        peak = max([v for row in cm.values() for v in row.values()] + [1])
        head = el("tr", el("th", "truth \\ predicted"), [el("th", k, class_="num") for k in cols])
        rows = []
        for t in sorted(cm):
            cells = []
            for p in cols:
                v = int(cm[t].get(p, 0))
                cls = _heat(v, peak) + (" diag" if t == p else "")
                cells.append(el("td", fmt_num(v), class_=cls))
            rows.append(el("tr", el("th", t), cells))
        parts += [
            el("h3", "Root-cause confusion matrix (flows flagged or truly anomalous)"),
            el("div", el("table", head, rows, class_="cm"), class_="scroll"),
        ]
    return join(parts)


def _evaluation_body(evaluation: dict[str, Any] | None) -> Markup:
    if not evaluation:
        return el(
            "p",
            "No ground truth in this run's flows (no label or root_cause column), "
            "so there are no detection metrics.",
            class_="note",
        )
    rca = evaluation.get("root_cause") or {}
    cards = el(
        "div",
        [
            _card(
                fmt_num(
                    evaluation.get("roc_auc") if evaluation.get("roc_auc") is not None else "–"
                ),
                "ROC-AUC",
            ),
            _card(
                fmt_num(evaluation.get("pr_auc") if evaluation.get("pr_auc") is not None else "–"),
                "PR-AUC",
            ),
            _card(fmt_num(evaluation.get("precision")), "precision"),
            _card(fmt_num(evaluation.get("recall")), "recall"),
            _card(fmt_num(evaluation.get("f1")), "F1"),
            _card(fmt_num(evaluation.get("false_positive_rate")), "false-positive rate"),
            _card(
                fmt_num(rca["accuracy"]) if rca.get("accuracy") is not None else "–",
                "root-cause accuracy",
            ),
        ],
        class_="cards",
    )
    per = rca.get("per_category") or {}
    per_table = (
        el(
            "table",
            el(
                "tr",
                el("th", "category"),
                el("th", "flows", class_="num"),
                el("th", "detected", class_="num"),
                el("th", "RCA accuracy (detected)", class_="num"),
            ),
            [
                el(
                    "tr",
                    el("td", k, class_="cat"),
                    el("td", fmt_num(v.get("flows")), class_="num"),
                    el("td", fmt_num(v.get("detected")), class_="num"),
                    el("td", fmt_num(v.get("rca_accuracy_detected")), class_="num"),
                )
                for k, v in per.items()
            ],
        )
        if per
        else ""
    )
    return join(
        [
            cards,
            el(
                "p",
                f"{fmt_num(evaluation.get('n_anomalous_truth'))} truly anomalous of "
                f"{fmt_num(evaluation.get('n_flows'))} flows; "
                f"{fmt_num(evaluation.get('n_flagged'))} flagged at threshold "
                f"{fmt_num(evaluation.get('threshold'))}.",
                class_="note",
            ),
            el(
                "div",
                el("div", confusion_tables(evaluation)),
                el("div", el("h3", "Per category") if per else "", per_table),
                class_="grid2",
            ),
        ]
    )


def _flatten(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flatten(v, key + ".")
        elif isinstance(v, list):
            out.append((key, ", ".join(fmt_num(x) for x in v[:12])))
        else:
            out.append((key, fmt_num(v)))
    return out


def _fidelity_body(fidelity: dict[str, Any] | None, error: str | None) -> Markup:
    if error:
        return el("p", f"A fidelity report was found but not shown: {error}", class_="note")
    if not fidelity:
        return el("p", f"No GAN was used in this run (no {FIDELITY_FILE}).", class_="note")
    rows = _flatten(fidelity.get("metrics") or {})[:60]
    table = el(
        "table",
        el("tr", el("th", "metric"), el("th", "value", class_="num")),
        [el("tr", el("td", k, class_="mono"), el("td", v, class_="num")) for k, v in rows],
    )
    charts = []
    for name, col in (fidelity.get("columns") or {}).items():
        if col.get("kind") == "continuous":
            chart = distribution_compare_svg(
                name, col["real"], col["synthetic"], edges=col["bin_edges"]
            )
        else:
            cats = col["categories"][:24]
            chart = distribution_compare_svg(
                name, col["real"][:24], col["synthetic"][:24], categories=cats
            )
        charts.append(el("div", el("h4", f"{name} ({col.get('kind')})"), chart, class_="fid-col"))
    return join(
        [
            el("h3", "Metrics"),
            table if rows else el("p", "no metrics given", class_="note"),
            el("h3", "Real vs synthetic distributions (share of rows)"),
            el("div", charts, class_="grid2"),
        ]
    )


def _summary_body(view: dict[str, Any]) -> Markup:
    run = view["run"]
    n, a = view["flows_analysed"], view["anomalous_flows"]
    cards = el(
        "div",
        [
            _card(f"{n:,}", "flows analysed"),
            _card(f"{a:,}", f"anomalous flows ({_pct(a, n)})"),
            _card(f"{view['incidents_total']:,}", "incidents"),
            _card(f"{int(run.get('rows_rejected', 0) or 0):,}", "rows rejected"),
            _card(fmt_num(view["threshold"]), "score threshold"),
        ],
        class_="cards",
    )
    timings = run.get("timings_seconds") or {}
    meta = _dl(
        [
            ("input", run.get("input")),
            ("format", run.get("format")),
            ("mode", run.get("mode")),
            ("analyzer", run.get("analyzer")),
            ("contamination", run.get("contamination")),
            ("seed", run.get("seed")),
            ("skipped", ", ".join(f"{k}: {v}" for k, v in (run.get("rows_skipped") or {}).items())),
            ("netrca version", run.get("netrca_version")),
            ("stage timings", ", ".join(f"{k} {fmt_num(v)} s" for k, v in timings.items())),
            (
                "analyzers used",
                ", ".join(f"{k}: {v}" for k, v in view["incidents_by_analyzer"].items()),
            ),
            ("fallbacks", ", ".join(f"{k}: {v}" for k, v in view["fallbacks_by_reason"].items())),
        ]
    )
    return join([cards, meta])


def _incidents_body(view: dict[str, Any]) -> Markup:
    incidents = view["incidents"]
    if not incidents:
        return el("p", "No incidents: no flow scored above the threshold.", class_="note")
    cats = sorted({r["category"] for r in incidents})
    sevs = [s for s in SEVERITY_ORDER if any(r["severity"] == s for r in incidents)]
    filters = el(
        "div",
        el(
            "input",
            type="search",
            id="f-text",
            placeholder="filter: host, port, text…",
            aria_label="filter incidents",
        ),
        el(
            "select",
            el("option", "all categories", value=""),
            [el("option", c, value=c) for c in cats],
            id="f-category",
            aria_label="category",
        ),
        el(
            "select",
            el("option", "all severities", value=""),
            [el("option", s, value=s) for s in sevs],
            id="f-severity",
            aria_label="severity",
        ),
        el("button", "expand all", type="button", id="expand-all"),
        el("button", "collapse all", type="button", id="collapse-all"),
        el("span", "", id="f-count", class_="note"),
        class_="filters",
    )
    head = el(
        "div",
        [
            el("span", h)
            for h in ("severity", "incident", "category", "root cause", "flows", "conf.", "start")
        ],
        class_="inc-head",
    )
    items = []
    for r in incidents:
        ent = r.get("entities") or {}
        searchable = " ".join(
            [
                r["incident_id"],
                r["category"],
                r["severity"],
                r["root_cause"],
                *map(str, ent.get("sources") or []),
                *map(str, ent.get("destinations") or []),
                *map(str, ent.get("ports") or []),
            ]
        ).lower()
        summary = el(
            "summary",
            el("span", _badge(r["severity"])),
            el("span", r["incident_id"], class_="mono"),
            el("span", r["category"], class_="cat"),
            el("span", r["root_cause"], class_="rc", title=r["root_cause"]),
            el("span", fmt_num(r["flow_count"]), class_="num"),
            el("span", fmt_num(r["confidence"]), class_="num"),
            el(
                "span",
                (r.get("time_window") or {}).get("start", "")[:19].replace("T", " "),
                class_="mono",
            ),
        )
        items.append(
            el(
                "details",
                summary,
                incident_body(r, view["sample_columns"]),
                class_="incident",
                id=f"inc-{r['incident_id']}",
                data_category=r["category"],
                data_severity=r["severity"],
                data_text=searchable,
            )
        )
    omitted = view.get("incidents_omitted", 0)
    note = (
        el(
            "p",
            f"{omitted:,} lower-severity incidents are not listed here; all are in "
            "root_cause_analyses.json.",
            class_="note",
        )
        if omitted
        else ""
    )
    return join(
        [
            el(
                "p",
                "Sorted by severity, then confidence. Click an incident for its evidence, "
                "remediation steps and a sample of its flows.",
                class_="note",
            ),
            filters,
            head,
            el("div", items, id="incident-list"),
            note,
        ]
    )


def _breakdowns_body(view: dict[str, Any]) -> Markup:
    by_cat = [(c, float(view["incidents_by_category"].get(c, 0))) for c in CATEGORY_VALUES]
    flows_cat = [(c, float(view["anomalous_flows_by_category"].get(c, 0))) for c in CATEGORY_VALUES]
    by_sev = [(s, float(view["incidents_by_severity"].get(s, 0))) for s in SEVERITY_ORDER]
    return el(
        "div",
        el(
            "div",
            el("h3", "Incidents by category"),
            hbar_svg(
                by_cat, title="Incidents by category", color=[CATEGORY_COLORS[c] for c, _ in by_cat]
            ),
        ),
        el(
            "div",
            el("h3", "Anomalous flows by category"),
            hbar_svg(
                flows_cat,
                title="Anomalous flows by category",
                color=[CATEGORY_COLORS[c] for c, _ in flows_cat],
            ),
        ),
        el(
            "div",
            el("h3", "Incidents by severity"),
            hbar_svg(
                by_sev, title="Incidents by severity", color=[SEVERITY_COLORS[s] for s, _ in by_sev]
            ),
        ),
        el(
            "div",
            el("h3", "Anomaly score distribution (all flows)"),
            histogram_svg(
                view["score_histogram"]["edges"],
                view["score_histogram"]["counts"],
                threshold=view["threshold"],
            ),
        ),
        class_="grid2",
    )


def _top(items: Sequence[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(str(i.get("value")), float(i.get("anomalous_flows", 0))) for i in items]


def _top_body(view: dict[str, Any]) -> Markup:
    return join(
        [
            el("p", "Counted over anomalous flows.", class_="note"),
            el(
                "div",
                el(
                    "div",
                    el("h3", "Top sources"),
                    hbar_svg(_top(view["top_sources"]), title="Top sources"),
                ),
                el(
                    "div",
                    el("h3", "Top destinations"),
                    hbar_svg(
                        _top(view["top_destinations"]), title="Top destinations", color="#0891b2"
                    ),
                ),
                el(
                    "div",
                    el("h3", "Top destination ports"),
                    hbar_svg(
                        _top(view["top_destination_ports"]),
                        title="Top destination ports",
                        color="#7c3aed",
                    ),
                ),
                class_="grid2",
            ),
        ]
    )


def render_report(view: dict[str, Any], *, generated_at: str | None = None) -> str:
    """The report page for a :func:`~netrca.report.view.build_view` result."""
    css, js = asset("report.css"), asset("report.js")
    csp = (
        f"default-src 'none'; style-src '{_csp_hash(css)}'; script-src '{_csp_hash(js)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    run = view["run"]
    when = generated_at or time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    title = f"netrca report: {run.get('input', 'run')}"
    sections = [
        _section("summary", "Run summary", _summary_body(view)),
        _section(
            "timeline",
            "Anomaly score timeline",
            el(
                "p",
                "Maximum anomaly score per time bin (line) with the threshold (dashed) "
                "and incidents as bands coloured by severity; click a band to open "
                "its incident.",
                class_="note",
            ),
            el("div", timeline_chart(view), class_="scroll"),
        ),
        _section("incidents", f"Incidents ({view['incidents_total']:,})", _incidents_body(view)),
        _section("breakdowns", "Category and severity breakdowns", _breakdowns_body(view)),
        _section("top-entities", "Top sources, destinations and ports", _top_body(view)),
        _section(
            "evaluation",
            "Detection metrics (ground truth)",
            _evaluation_body(view.get("evaluation")),
        ),
        _section(
            "fidelity",
            "GAN fidelity (real vs synthetic)",
            _fidelity_body(view.get("fidelity"), view.get("fidelity_error")),
        ),
    ]
    page = el(
        "html",
        el(
            "head",
            el("meta", charset="utf-8"),
            el("meta", http_equiv="Content-Security-Policy", content=csp),
            el("meta", name="viewport", content="width=device-width, initial-scale=1"),
            el("meta", name="generator", content=f"netrca {__version__}"),
            el("title", title),
            el("link", rel="icon", href="data:,"),
            el("style", raw(css)),
        ),
        el(
            "body",
            el(
                "header",
                el("h1", "netrca report"),
                el(
                    "div",
                    f"{run.get('input', '')} · generated {when} · netrca {__version__}",
                    class_="sub",
                ),
                class_="top",
            ),
            el(
                "nav",
                [el("a", label, href=f"#{sid}") for sid, label in _SECTIONS],
                class_="sections",
            ),
            el("main", sections),
            el("footer", "Self-contained report: no network access needed. Data: report.json."),
            el("script", raw(js)),
        ),
        lang="en",
    )
    return "<!DOCTYPE html>\n" + page + "\n"


def _fidelity_for(writer: RunWriter) -> tuple[dict[str, Any] | None, str | None]:
    staged = writer.stage / FIDELITY_FILE
    return load_fidelity(staged if staged.exists() else writer.dir / FIDELITY_FILE)


def write_report(
    writer: RunWriter,
    predictions: pd.DataFrame,
    analyses: Sequence[Analysis],
    summary: dict[str, Any],
    evaluation: dict[str, Any] | None,
) -> Path:
    """Stage ``report.html`` and its twin ``report.json`` in ``writer``.

    A ``fidelity.json`` staged in the same writer, or already in the run folder, is
    rendered too. Returns the final path of ``report.html``.
    """
    fidelity, error = _fidelity_for(writer)
    view = build_view(predictions, analyses, summary, evaluation, fidelity, error)
    write_text(writer.path(REPORT_HTML), render_report(view))
    write_json(writer.path(REPORT_JSON), view)
    return writer.dir / REPORT_HTML


def rebuild_report(run_dir: str | Path, *, evaluation: dict[str, Any] | None = None) -> Path:
    """Re-render ``report.html``/``report.json`` of a finished run from its files.

    Use it after adding ``fidelity.json`` or ``evaluation.json`` to a run folder. The
    manifest is rewritten, so the folder stays complete and checksummed.
    """
    run = RunFolder(Path(run_dir))
    preds = run.predictions()
    writer = RunWriter(run.path)
    try:
        path = write_report(
            writer,
            preds,
            run.analyses,
            run.summary,
            evaluation if evaluation is not None else run.evaluation,
        )
        keys = ("rows", "anomalies", "incidents")
        info: dict[str, Any] = {k: run.manifest[k] for k in keys if k in run.manifest}
        writer.commit(info)
    except BaseException:
        writer.abort()
        raise
    return path
