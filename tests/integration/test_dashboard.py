"""The dashboard's JSON API and pages over HTTP, served by a real ``netrca serve``."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.conftest import EVIL_HOST


def get(url: str, **params: object) -> httpx.Response:
    return httpx.get(url, params=params, trust_env=False, timeout=30)


def test_api_runs_and_openapi(dashboard: str) -> None:
    runs = get(f"{dashboard}/api/runs").json()
    assert [r["id"] for r in runs] == ["hostile", "sim"]
    sim = next(r for r in runs if r["id"] == "sim")
    assert sim["has_report"] and sim["has_evaluation"] and sim["incidents"] > 0
    spec = get(f"{dashboard}/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {
        "/api/runs",
        "/api/runs/{run_id}/incidents",
        "/api/runs/{run_id}/incidents/{incident_id}",
        "/api/runs/{run_id}/incidents/{incident_id}/flows",
    } <= set(spec["paths"])
    assert get(f"{dashboard}/api/runs/sim/evaluation").json()["roc_auc"] is not None
    assert get(f"{dashboard}/api/runs/nope").status_code == 404


def test_api_incident_filters(dashboard: str, runs_root: Path) -> None:
    analyses = json.loads((runs_root / "sim" / "root_cause_analyses.json").read_text())
    allr = get(f"{dashboard}/api/runs/sim/incidents").json()
    assert allr["total"] == len(analyses)
    cat = analyses[0]["category"]
    by_cat = get(f"{dashboard}/api/runs/sim/incidents", category=cat).json()
    assert by_cat["total"] == sum(a["category"] == cat for a in analyses)
    assert {i["category"] for i in by_cat["items"]} == {cat}
    src = analyses[0]["entities"]["sources"][0]
    by_entity = get(f"{dashboard}/api/runs/sim/incidents", entity=src).json()
    assert analyses[0]["incident_id"] in {i["incident_id"] for i in by_entity["items"]}
    late = max(a["time_window"]["start"] for a in analyses)
    after = get(f"{dashboard}/api/runs/sim/incidents", start=late).json()
    assert 1 <= after["total"] < len(analyses)
    page = get(f"{dashboard}/api/runs/sim/incidents", limit=2, offset=1).json()
    assert [i["incident_id"] for i in page["items"]] == [
        i["incident_id"] for i in allr["items"][1:3]
    ]
    assert get(f"{dashboard}/api/runs/sim/incidents", category="nonsense").status_code == 422
    bad = get(f"{dashboard}/api/runs/sim/incidents", start="yesterday")
    assert bad.status_code == 422 and "ISO 8601" in bad.json()["detail"]


def test_api_incident_and_flows(dashboard: str, runs_root: Path) -> None:
    a = json.loads((runs_root / "sim" / "root_cause_analyses.json").read_text())[0]
    base = f"{dashboard}/api/runs/sim/incidents/{a['incident_id']}"
    assert get(base).json() == a
    flows = get(f"{base}/flows", limit=3, offset=1).json()
    assert flows["total"] == a["flow_count"] and len(flows["rows"]) == min(3, a["flow_count"] - 1)
    assert [r["flow_id"] for r in flows["rows"]] == a["flow_ids"][1:4]
    assert get(f"{dashboard}/api/runs/sim/incidents/INC-9999").status_code == 404


def test_pages_escape_log_text_and_send_a_csp(dashboard: str) -> None:
    home = get(f"{dashboard}/")
    assert home.status_code == 200 and 'href="/runs/sim"' in home.text
    csp = home.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "default-src 'none'" in csp
    incidents = get(f"{dashboard}/api/runs/hostile/incidents").json()["items"]
    scan = next(i for i in incidents if i["category"] == "port_scan")
    page = get(f"{dashboard}/runs/hostile/incidents/{scan['incident_id']}")
    assert page.status_code == 200
    assert "<script" not in page.text and "<img" not in page.text
    assert "&lt;SCRIPT&gt;ALERT(1)&lt;/SCRIPT&gt;" in page.text
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page.text
    flows = get(f"{dashboard}/api/runs/hostile/incidents/{scan['incident_id']}/flows").json()
    assert flows["rows"][0]["hostname"] == EVIL_HOST  # the API returns data as it is (JSON)
    report = get(f"{dashboard}/runs/hostile/report.html")
    assert report.status_code == 200 and "content-security-policy" not in report.headers
    assert get(f"{dashboard}/runs/sim", start="yesterday").status_code == 400
    assert get(f"{dashboard}/runs/nope").status_code == 404


def test_foreign_host_header_is_refused(dashboard: str) -> None:
    """A page on another origin that rebinds its DNS name to 127.0.0.1 gets nothing."""
    r = httpx.get(f"{dashboard}/api/runs", headers={"Host": "attacker.example"}, trust_env=False)
    assert r.status_code == 400
    assert get(f"{dashboard}/api/runs").status_code == 200


def _non_loopback_ipv4() -> str | None:
    """This machine's outward IPv4 address (no packet is sent), or None if it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 9))
        except OSError:
            return None
        ip = str(s.getsockname()[0])
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def test_default_bind_is_loopback_only(dashboard: str) -> None:
    """`netrca serve` without --host answers on 127.0.0.1 and not on the machine's LAN address."""
    port = urlsplit(dashboard).port
    ip = _non_loopback_ipv4()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address to probe")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{ip}:{port}/api/runs", trust_env=False, timeout=5)
    assert get(f"{dashboard}/api/runs").status_code == 200
