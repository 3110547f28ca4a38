"""The local dashboard: browse runs, filter incidents, read their flows (extra ``web``)."""

from __future__ import annotations

from netrca.web.store import IncidentFilter, RunStore, filter_incidents

__all__ = ["IncidentFilter", "RunStore", "create_app", "filter_incidents", "serve"]


def __getattr__(name: str) -> object:
    # FastAPI and uvicorn are optional: import the app module only when asked for it.
    if name in ("create_app", "serve"):
        from netrca.web import app

        return getattr(app, name)
    raise AttributeError(name)
