"""The web UI: server-rendered pages over the same service layer as the API."""

from __future__ import annotations

from fastapi import FastAPI

from phasegate.settings import Settings


def mount_web(app: FastAPI, settings: Settings) -> None:
    """Add the web pages, their session middleware and static files to the application."""
