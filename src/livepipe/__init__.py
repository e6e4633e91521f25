"""livepipe: Hugo event pages → calendars, feeds, WeChat and newsletters, published on time.

The public front; everything else is importable but not promised.
"""

from __future__ import annotations

__version__ = "0.2.0"  # first: modules imported below may read it

from .config import Settings, load_settings
from .errors import (
    ConfigError,
    ContentError,
    LivepipeError,
    PermanentPublishError,
    PublishError,
    RenderError,
    TransientPublishError,
)
from .models import QA, Event, Problem, Section, Severity, Speaker, Status
from .site import LoadResult, Site, load, load_path

__all__ = [
    "QA",
    "ConfigError",
    "ContentError",
    "Event",
    "LivepipeError",
    "LoadResult",
    "PermanentPublishError",
    "Problem",
    "PublishError",
    "RenderError",
    "Section",
    "Settings",
    "Severity",
    "Site",
    "Speaker",
    "Status",
    "TransientPublishError",
    "__version__",
    "load",
    "load_path",
    "load_settings",
]
