"""``GET /api/v1/admin/health``: the operator's live figures as JSON, for the dashboard.

The figures of ``GET /admin/stats`` plus cumulative counters (commands by type, trades,
rejections) and the acknowledgement latency histogram, as ``/metrics`` counts them. A
client that polls it derives rates (orders/s, trades/s) and latency percentiles of each
interval from the differences between two answers, so the server keeps no history.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
from fastapi import APIRouter

from matchbook.api import views
from matchbook.api.deps import AdminUser, State
from matchbook.api.routes.admin import stats_view
from matchbook.api.views import respond, schema
from matchbook.runtime import metrics

router = APIRouter(prefix="/admin", tags=["administration"])


def _version() -> str:
    try:
        return version("matchbook")
    except PackageNotFoundError:  # running from a tree that was not installed
        return "unknown"


def _totals(counter: Any, label: str) -> dict[str, int]:
    """A labelled counter's ``_total`` samples as ``{label value: count}``."""
    return {s.labels[label]: int(s.value) for family in counter.collect()
            for s in family.samples if s.name.endswith("_total")}


@router.get("/health", response_model=schema(views.AdminHealth))
async def health(admin: AdminUser, state: State) -> views.ViewResponse:
    """The admin stats with cumulative counters and the ack latency histogram."""
    figures = await stats_view(state)
    buckets = [views.LatencyBucket(le=s.labels["le"], count=int(s.value))
               for family in metrics.LATENCY.collect() for s in family.samples
               if s.name.endswith("_bucket")]
    return respond(views.AdminHealth(
        **msgspec.structs.asdict(figures),
        version=_version(),
        commands_by_type=_totals(metrics.COMMANDS, "type"),
        trades_by_symbol=_totals(metrics.TRADES, "symbol"),
        rejections_by_code=_totals(metrics.REJECTS, "code"),
        ack_latency_seconds=views.LatencyHistogram(buckets=buckets),
        websocket_dropped=state.ws_hub.dropped if state.ws_hub is not None else 0))
