"""The REST service and web UI (``facescope serve``): FastAPI over the galleries."""

from facescope.service.app import create_app
from facescope.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
