"""Page sources: file discovery, front matter, and one adapter per page schema.

``SCHEMAS`` is the registry, in detection order; a page can force one with
``livepipe: {schema: NAME}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import Draft, PageContext, PageSchema, RawPage
from .files import discover, is_section_page, read_page
from .kubesphere import KubeSphereSchema
from .native import NativeSchema

SCHEMAS: dict[str, PageSchema] = {s.name: s for s in (KubeSphereSchema(), NativeSchema())}


def forced_schema(meta: Mapping[str, object]) -> str | None:
    opts = meta.get("livepipe")
    if isinstance(opts, dict):
        name = opts.get("schema")
        return str(name) if name is not None else None
    return None


def detect_schema(meta: Mapping[str, object]) -> PageSchema | None:
    for schema in SCHEMAS.values():
        if schema.detect(meta):
            return schema
    return None


__all__ = [
    "SCHEMAS",
    "Draft",
    "PageContext",
    "PageSchema",
    "RawPage",
    "detect_schema",
    "discover",
    "forced_schema",
    "is_section_page",
    "read_page",
]
