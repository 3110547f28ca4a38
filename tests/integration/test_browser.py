"""End to end in headless Chromium: the dashboard (real server) and report.html from disk.

Screenshots go to the test's tmp dir; with NETRCA_SCREENSHOTS_DIR set (``make screenshots``
sets it to ``docs/screenshots``) they are copied there for review, so an ordinary test run
leaves the working tree clean.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from netrca.cli import main

SHOTS = (
    Path(os.environ["NETRCA_SCREENSHOTS_DIR"]) if os.environ.get("NETRCA_SCREENSHOTS_DIR") else None
)
SECTIONS = (
    "summary",
    "timeline",
    "incidents",
    "breakdowns",
    "top-entities",
    "evaluation",
    "fidelity",
)


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SHOTS / name)
    return path


def _watch(page: Any) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {"dialogs": [], "errors": [], "requests": []}

    def on_dialog(d: Any) -> None:
        seen["dialogs"].append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: seen["requests"].append(r.url))
    return seen


def test_dashboard_incident_drilldown(
    browser: Any, dashboard: str, runs_root: Path, tmp_path: Path
) -> None:
    page = browser.new_page()
    seen = _watch(page)
    page.goto(f"{dashboard}/")
    page.click("a.run-link >> text=sim")
    page.wait_for_selector("#incidents-table")
    assert page.inner_text("h1") == "Run sim"
    analyses = json.loads((runs_root / "sim" / "root_cause_analyses.json").read_text())
    category = analyses[0]["category"]
    page.select_option("#category", category)
    page.click("#apply")
    page.wait_for_url(f"**category={category}**")
    rows = page.locator("tr.incident-row")
    expected = sum(a["category"] == category for a in analyses)
    assert rows.count() == expected
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.category)")) == {category}
    _shot(page, tmp_path, "dashboard-run.png")

    page.locator("a.incident-link").first.click()
    page.wait_for_selector("table.evidence")
    shown_id = page.locator("h2").first.inner_text().split("·")[-1].strip()
    a = next(x for x in analyses if x["incident_id"] == shown_id)
    assert a["category"] == category
    assert page.inner_text("p.root-cause") == a["root_cause"]
    assert page.locator("table.evidence tr").count() == len(a["evidence"]) + 1
    assert page.locator("ol.remediation li").count() == len(a["remediation_steps"])
    flow_rows = page.locator("#flows table.flows tr")
    assert flow_rows.count() == min(50, a["flow_count"]) + 1
    assert f"of {a['flow_count']}" in page.inner_text(".pager")
    _shot(page, tmp_path, "dashboard-incident.png")
    assert not seen["dialogs"] and not seen["errors"], seen
    assert all(u.startswith(dashboard) for u in seen["requests"]), seen["requests"]


def test_dashboard_shows_hostile_log_text_as_text(browser: Any, dashboard: str) -> None:
    page = browser.new_page()
    seen = _watch(page)
    page.goto(f"{dashboard}/runs/hostile?category=port_scan")
    page.locator("a.incident-link").first.click()
    page.wait_for_selector("#flows table.flows")
    assert "<SCRIPT>ALERT(1)</SCRIPT>" in page.inner_text("#flows")
    assert page.locator("img").count() == 0
    page.goto(f"{dashboard}/runs/hostile/report.html")
    page.locator("details.incident > summary").first.click()
    page.wait_for_timeout(200)
    assert not seen["dialogs"], seen["dialogs"]


def test_report_opens_offline_with_every_section(
    browser: Any, runs_root: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs_root / "sim", run)
    (run / "fidelity.json").write_text(
        json.dumps(
            {
                "metrics": {"mean_ks_statistic": 0.071, "discriminator_auc": 0.58},
                "columns": {
                    "bytes_sent": {
                        "kind": "continuous",
                        "bin_edges": [0, 2, 4, 6, 8, 10],
                        "real": [10, 40, 30, 15, 5],
                        "synthetic": [12, 35, 33, 14, 6],
                    },
                    "protocol": {
                        "kind": "categorical",
                        "categories": ["HTTPS", "HTTP", "DNS", "SSH"],
                        "real": [50, 20, 25, 5],
                        "synthetic": [48, 22, 24, 6],
                    },
                },
            }
        )
    )
    main(["report", str(run)])
    page = browser.new_page()
    seen = _watch(page)
    page.goto((run / "report.html").as_uri())
    for sid in SECTIONS:
        assert page.locator(f"section#{sid}").is_visible(), sid
    n = page.locator("details.incident").count()
    analyses = json.loads((run / "root_cause_analyses.json").read_text())
    assert n == len(analyses) > 0
    assert page.inner_text("#f-count") == f"{n} of {n} shown"  # the inline script ran
    assert page.locator("section#timeline svg line.threshold").count() == 1
    assert page.locator("section#timeline svg rect.incident-band").count() == n
    assert "ROC-AUC" in page.inner_text("section#evaluation")
    assert page.locator("section#evaluation table.cm").count() == 1
    assert page.locator("section#fidelity svg").count() == 2
    first = page.locator("details.incident").first
    first.locator("summary").click()
    assert first.get_attribute("open") is not None
    assert first.locator("table.evidence").is_visible()
    assert first.locator("ol.remediation li").count() >= 1
    assert first.locator("table.flows tr").count() >= 4
    page.fill("#f-text", analyses[-1]["incident_id"].lower())
    assert page.inner_text("#f-count") == f"1 of {n} shown"
    page.fill("#f-text", "")
    _shot(page, tmp_path, "report.png")
    assert not seen["dialogs"] and not seen["errors"], seen
    assert all(u.startswith(("file://", "data:")) for u in seen["requests"]), seen["requests"]
