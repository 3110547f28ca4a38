"""Inline SVG charts drawn in Python: no JavaScript library, no network, text escaped."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from netrca.report.markup import Markup, el, fmt_num, join

__all__ = [
    "CATEGORY_COLORS",
    "SEVERITY_COLORS",
    "distribution_compare_svg",
    "hbar_svg",
    "histogram_svg",
    "timeline_svg",
]

#: Severity → colour (also used by the CSS badges).
SEVERITY_COLORS: dict[str, str] = {
    "critical": "#b91c1c",
    "high": "#ea580c",
    "medium": "#ca8a04",
    "low": "#2563eb",
}

#: Category → colour, one per taxonomy value.
CATEGORY_COLORS: dict[str, str] = {
    "port_scan": "#7c3aed",
    "dos_flood": "#dc2626",
    "brute_force": "#ea580c",
    "data_exfiltration": "#db2777",
    "c2_beaconing": "#0891b2",
    "service_outage": "#65a30d",
    "network_congestion": "#ca8a04",
    "protocol_violation": "#4f46e5",
    "unknown": "#6b7280",
}

_REAL = "#2563eb"
_SYNTH = "#ea580c"
_AXIS = "#6b7280"
_GRID = "#e5e7eb"


def _svg(width: int, height: int, label: str, *children: object) -> Markup:
    return el(
        "svg",
        el("title", label),
        *children,
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {width} {height}",
        width=width,
        height=height,
        role="img",
        aria_label=label,
        class_="chart",
    )


def _text(x: float, y: float, text: object, anchor: str = "start", size: int = 11) -> Markup:
    return el(
        "text",
        text if isinstance(text, str) else fmt_num(text),
        x=round(x, 1),
        y=round(y, 1),
        font_size=size,
        text_anchor=anchor,
        fill="#374151",
    )


def _fmt_time(epoch: float, span: float) -> str:
    t = time.gmtime(epoch)
    if span > 3 * 86400:
        return time.strftime("%m-%d %H:%M", t)
    if span > 600:
        return time.strftime("%H:%M", t)
    return time.strftime("%H:%M:%S", t)


def timeline_svg(
    starts: Sequence[float],
    bin_seconds: float,
    max_score: Sequence[float],
    flows: Sequence[int],
    anomalies: Sequence[int],
    threshold: float,
    incidents: Sequence[tuple[str, str, str, float, float]],
    *,
    width: int = 900,
    height: int = 260,
) -> Markup:
    """Score over time: max score per bin (line), flow volume (grey bars), anomalous
    flows (red ticks), the threshold (dashed) and incidents as coloured bands.

    ``incidents`` holds ``(incident_id, category, severity, start_epoch, end_epoch)``.
    """
    label = "Anomaly score over time"
    if not starts:
        return _svg(width, 60, label, _text(10, 30, "no flows"))
    left, right, top, bottom = 44, 12, 14, 34
    pw, ph = width - left - right, height - top - bottom
    t0 = float(starts[0])
    t1 = float(starts[-1]) + bin_seconds
    span = max(t1 - t0, 1e-9)

    def x(t: float) -> float:
        return left + (t - t0) / span * pw

    def y(score: float) -> float:
        return top + (1.0 - min(max(score, 0.0), 1.0)) * ph

    parts: list[Markup] = []
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(el("line", x1=left, x2=left + pw, y1=y(v), y2=y(v), stroke=_GRID))
        parts.append(_text(left - 6, y(v) + 4, f"{v:.2f}", "end", 10))
    for inc_id, cat, sev, s, e in incidents:
        xs, xe = x(max(s, t0)), x(min(max(e, s), t1))
        parts.append(
            el(
                "rect",
                el("title", f"{inc_id} {cat} ({sev})"),
                x=round(xs, 1),
                y=top,
                width=round(max(xe - xs, 2.0), 1),
                height=ph,
                fill=SEVERITY_COLORS.get(sev, "#6b7280"),
                fill_opacity="0.18",
                class_="incident-band",
                data_incident=inc_id,
            )
        )
    peak = max(*flows, 1)
    bw = max(pw / len(starts) - 0.5, 0.5)
    for s, n, a in zip(starts, flows, anomalies, strict=True):
        h = n / peak * ph * 0.35
        parts.append(
            el(
                "rect",
                x=round(x(s), 1),
                y=round(top + ph - h, 1),
                width=round(bw, 2),
                height=round(h, 1),
                fill="#d1d5db",
            )
        )
        if a:
            ha = a / peak * ph * 0.35
            parts.append(
                el(
                    "rect",
                    x=round(x(s), 1),
                    y=round(top + ph - ha, 1),
                    width=round(bw, 2),
                    height=round(ha, 1),
                    fill="#f87171",
                )
            )
    pts = " ".join(
        f"{x(s + bin_seconds / 2):.1f},{y(v):.1f}" for s, v in zip(starts, max_score, strict=True)
    )
    parts.append(el("polyline", points=pts, fill="none", stroke="#111827", stroke_width="1.4"))
    parts.append(
        el(
            "line",
            x1=left,
            x2=left + pw,
            y1=y(threshold),
            y2=y(threshold),
            stroke="#b91c1c",
            stroke_dasharray="6 4",
            stroke_width="1.4",
            class_="threshold",
        )
    )
    parts.append(_text(left + pw - 4, y(threshold) - 5, f"threshold {threshold:.3f}", "end", 10))
    for i in range(6):
        t = t0 + span * i / 5
        anchor = "start" if i == 0 else "end" if i == 5 else "middle"
        parts.append(_text(x(t), height - 16, _fmt_time(t, span), anchor, 10))
    parts.append(
        _text(left, height - 3, time.strftime("%Y-%m-%d UTC", time.gmtime(t0)), "start", 10)
    )
    parts.append(
        _text(
            left + pw,
            height - 3,
            "line: max score per bin · grey: flows · red: anomalous",
            "end",
            10,
        )
    )
    return _svg(width, height, label, *parts)


def hbar_svg(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    color: str | Sequence[str] = "#2563eb",
    width: int = 430,
    bar_height: int = 18,
) -> Markup:
    """Horizontal bar chart of ``(label, value)`` pairs, largest first as given."""
    if not items:
        return _svg(width, 40, title, _text(8, 24, "none"))
    label_w, value_w = 150, 60
    pw = width - label_w - value_w - 8
    peak = max(*(v for _, v in items), 1e-12)
    height = len(items) * (bar_height + 6) + 6
    colors = [color] * len(items) if isinstance(color, str) else list(color)
    parts: list[Markup] = []
    for i, ((name, value), c) in enumerate(zip(items, colors, strict=True)):
        top = 4 + i * (bar_height + 6)
        shown = name if len(name) <= 24 else name[:23] + "…"
        parts.append(
            el(
                "text",
                el("title", name),
                shown,
                x=label_w - 6,
                y=top + bar_height - 5,
                font_size=11,
                text_anchor="end",
                fill="#374151",
            )
        )
        w = max(value / peak * pw, 1.0 if value > 0 else 0.0)
        parts.append(
            el("rect", x=label_w, y=top, width=round(w, 1), height=bar_height, fill=c, rx=2)
        )
        parts.append(_text(label_w + w + 4, top + bar_height - 5, fmt_num(value), "start", 11))
    return _svg(width, height, title, *parts)


def histogram_svg(
    edges: Sequence[float],
    counts: Sequence[int],
    *,
    threshold: float | None = None,
    title: str = "Score distribution",
    width: int = 430,
    height: int = 200,
) -> Markup:
    """Histogram with a log-scaled count axis and an optional threshold marker."""
    if not counts:
        return _svg(width, 40, title, _text(8, 24, "none"))
    left, right, top, bottom = 40, 8, 10, 28
    pw, ph = width - left - right, height - top - bottom
    lo, hi = float(edges[0]), float(edges[-1])
    span = max(hi - lo, 1e-12)
    peak = math.log1p(max(counts))

    def x(v: float) -> float:
        return left + (v - lo) / span * pw

    parts: list[Markup] = []
    for a, b, n in zip(edges[:-1], edges[1:], counts, strict=True):
        h = math.log1p(n) / peak * ph if peak else 0.0
        parts.append(
            el(
                "rect",
                el("title", f"{fmt_num(a)}–{fmt_num(b)}: {n:,} flows"),
                x=round(x(a), 1),
                y=round(top + ph - h, 1),
                width=round(max(x(b) - x(a) - 1, 0.5), 1),
                height=round(h, 1),
                fill="#60a5fa",
            )
        )
    if threshold is not None and lo <= threshold <= hi:
        parts.append(
            el(
                "line",
                x1=x(threshold),
                x2=x(threshold),
                y1=top,
                y2=top + ph,
                stroke="#b91c1c",
                stroke_dasharray="5 3",
            )
        )
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(_text(x(v), height - 12, fmt_num(round(v, 3)), "middle", 10))
    parts.append(_text(left - 4, top + 8, fmt_num(max(counts)), "end", 10))
    parts.append(_text(left - 4, top + ph, "0", "end", 10))
    parts.append(_text(left + pw, height - 1, "count axis is logarithmic", "end", 9))
    return _svg(width, height, title, *parts)


def _proportions(values: Sequence[float]) -> list[float]:
    total = float(sum(values))
    return [float(v) / total if total > 0 else 0.0 for v in values]


def distribution_compare_svg(
    name: str,
    real: Sequence[float],
    synthetic: Sequence[float],
    *,
    edges: Sequence[float] | None = None,
    categories: Sequence[str] | None = None,
    width: int = 430,
    height: int = 190,
) -> Markup:
    """Real vs synthetic distribution of one column (shares, not counts).

    Continuous columns (``edges`` given) are drawn as two step lines over the bins;
    categorical columns (``categories`` given) as paired bars.
    """
    title = f"{name}: real vs synthetic"
    left, right, top, bottom = 40, 8, 22, 30
    pw, ph = width - left - right, height - top - bottom
    pr, ps = _proportions(real), _proportions(synthetic)
    peak = max([*pr, *ps, 1e-12])

    def y(p: float) -> float:
        return top + (1 - p / peak) * ph

    parts: list[Markup] = [
        el("rect", x=left, y=4, width=10, height=10, fill=_REAL),
        _text(left + 14, 13, "real", "start", 10),
        el("rect", x=left + 60, y=4, width=10, height=10, fill=_SYNTH),
        _text(left + 74, 13, "synthetic", "start", 10),
        _text(left - 4, top + 8, f"{peak:.0%}", "end", 10),
        _text(left - 4, top + ph, "0%", "end", 10),
    ]
    if edges is not None:
        lo, hi = float(edges[0]), float(edges[-1])
        span = max(hi - lo, 1e-12)

        def x(v: float) -> float:
            return left + (float(v) - lo) / span * pw

        for shares, color in ((pr, _REAL), (ps, _SYNTH)):
            pts: list[str] = []
            for a, b, p in zip(edges[:-1], edges[1:], shares, strict=True):
                pts += [f"{x(a):.1f},{y(p):.1f}", f"{x(b):.1f},{y(p):.1f}"]
            parts.append(
                el("polyline", points=" ".join(pts), fill="none", stroke=color, stroke_width="1.6")
            )
        for v in (lo, (lo + hi) / 2, hi):
            parts.append(_text(x(v), height - 14, fmt_num(round(v, 3)), "middle", 10))
    else:
        cats = list(categories or [])
        n = max(len(cats), 1)
        slot = pw / n
        bw = max(slot / 2 - 2, 1.0)
        for i, cat in enumerate(cats):
            x0 = left + i * slot + 1
            for j, (shares, color) in enumerate(((pr, _REAL), (ps, _SYNTH))):
                p = shares[i] if i < len(shares) else 0.0
                parts.append(
                    el(
                        "rect",
                        el("title", f"{cat}: {p:.1%}"),
                        x=round(x0 + j * bw, 1),
                        y=round(y(p), 1),
                        width=round(bw, 1),
                        height=round(top + ph - y(p), 1),
                        fill=color,
                    )
                )
            shown = cat if len(cat) <= 8 else cat[:7] + "…"
            parts.append(_text(x0 + slot / 2, height - 14, shown, "middle", 9))
    return _svg(width, height, title, join(parts))
