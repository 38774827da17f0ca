"""The HTTP memory API (FastAPI). Only this layer speaks HTTP."""

from jarvis.api.app import create_app

__all__ = ["create_app"]
