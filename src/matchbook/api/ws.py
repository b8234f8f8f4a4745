"""WebSocket endpoints (being built): ``/ws`` and ``/ws/market``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
