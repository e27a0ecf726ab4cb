"""The Grafana dashboard loads, has the panels a SOC needs, and queries only metrics that exist."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.test_prometheus_rules import PROMETHEUS_SERIES, exported_names, metric_names

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboard.json"
REQUIRED_PANELS = {"Decisions over time", "Top block reasons", "Findings by detector",
                   "DNS decisions", "Pending escalations", "Inspection latency"}


def panels() -> list[dict[str, object]]:
    return list(json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"])


def test_the_required_panels_are_there() -> None:
    assert {str(panel["title"]) for panel in panels()} >= REQUIRED_PANELS


def test_panel_ids_and_positions_are_unique() -> None:
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids))


def test_every_query_reads_only_exported_metrics() -> None:
    exported = exported_names() | PROMETHEUS_SERIES
    for panel in panels():
        targets = panel["targets"]
        assert isinstance(targets, list) and targets, panel["title"]
        for target in targets:
            used = metric_names(target["expr"])
            assert used, (panel["title"], target["expr"])
            assert used <= exported, (panel["title"], used - exported)


def test_template_queries_read_exported_metrics() -> None:
    templating = json.loads(DASHBOARD.read_text(encoding="utf-8"))["templating"]["list"]
    exported = exported_names()
    for variable in templating:
        if variable["type"] == "query":
            assert "glassbreak_build_info" in variable["query"] and \
                "glassbreak_build_info" in exported
