"""Jinja2 templates: built-in ones in ``templates/<renderer>/``, a site's own ones sandboxed.

Templates format, Python decides: every value a template sees is computed before it renders.
StrictUndefined turns a typo into a RenderError; HTML and XML templates autoescape.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from ..errors import RenderError


def builtin_dir() -> Path:
    """Templates shipped in the wheel (livepipe/_templates) or, in a checkout, templates/."""
    packaged = Path(str(resources.files("livepipe"))) / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "templates"


def _env(cls: type[jinja2.Environment], folder: Path) -> jinja2.Environment:
    return cls(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Templates:
    """Finds ``<renderer>/<name>.<lang>.<ext>`` (then ``<name>.<ext>``), site first."""

    def __init__(self, site_dir: Path | None = None) -> None:
        builtin = builtin_dir()
        self._builtin = _env(jinja2.Environment, builtin)
        self._site = (
            _env(SandboxedEnvironment, site_dir)
            if site_dir is not None and site_dir.is_dir() and site_dir.resolve() != builtin
            else None
        )
        self._cache: dict[tuple[str, str, str], jinja2.Template] = {}

    def get(self, renderer: str, name: str, lang: str) -> jinja2.Template:
        key = (renderer, name, lang)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        stem, _, ext = name.rpartition(".")
        candidates = [
            f"{renderer}/{stem}.{lang}.{ext}",
            f"{renderer}/{stem}.en.{ext}",
            f"{renderer}/{name}",
        ]
        for env in (self._site, self._builtin):
            if env is None:
                continue
            try:
                template = env.select_template(candidates)
            except jinja2.TemplatesNotFound:
                continue
            except jinja2.TemplateError as exc:
                raise RenderError(f"template error: {exc}", template=name) from exc
            self._cache[key] = template
            return template
        raise RenderError(f"no template {candidates[0]} (or a fallback)", template=name)

    def render(self, renderer: str, name: str, lang: str, **values: object) -> str:
        template = self.get(renderer, name, lang)
        try:
            return template.render(**values)
        except jinja2.TemplateError as exc:
            raise RenderError(f"{template.name}: {exc}", template=template.name or name) from exc
