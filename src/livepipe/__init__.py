"""livepipe: Hugo event pages → calendars, feeds, WeChat and newsletters, published on time.

The public front; everything else is importable but not promised. Importing the package is
cheap (``livepipe --help`` and every module import it first): the names below are loaded
when first used.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from .version import __version__

_WHERE = {
    "Settings": "config",
    "load_settings": "config",
    "ConfigError": "errors",
    "ContentError": "errors",
    "LivepipeError": "errors",
    "PermanentPublishError": "errors",
    "PublishError": "errors",
    "RenderError": "errors",
    "TransientPublishError": "errors",
    "QA": "models",
    "Event": "models",
    "Problem": "models",
    "Section": "models",
    "Severity": "models",
    "Speaker": "models",
    "Status": "models",
    "LoadResult": "site",
    "Site": "site",
    "load": "site",
    "load_path": "site",
}


def __getattr__(name: str) -> _typing.Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'livepipe' has no attribute {name!r}")
    return getattr(_importlib.import_module(f".{module}", __name__), name)


if _typing.TYPE_CHECKING:
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


def __dir__() -> list[str]:
    return sorted(__all__)


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
