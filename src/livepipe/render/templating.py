"""Jinja2 templates: built-in ones in ``templates/<renderer>/``, a site's own ones sandboxed.

Templates format, Python decides: every value a template sees is computed before it renders.
StrictUndefined turns a typo into a RenderError; HTML and XML templates autoescape.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from ..errors import RenderError

# A site's templates are the site's code: they run sandboxed and bounded. No `range` over
# 10,000, no string or list repeated past 100,000 items, no power over 2**64, and no render
# longer than this (a nested loop of loops ends with a RenderError, not a hung build).
SITE_TEMPLATE_SECONDS = 5.0
_MAX_REPEAT = 100_000


def builtin_dir() -> Path:
    """Templates shipped in the wheel (livepipe/_templates) or, in a checkout, templates/."""
    packaged = Path(str(resources.files("livepipe"))) / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "templates"


class _SiteLoader(jinja2.FileSystemLoader):
    """A site's templates folder: a template (or an include) that resolves outside it (a
    symlink to /etc/passwd) is refused."""

    def __init__(self, folder: Path) -> None:
        super().__init__(str(folder), followlinks=False)
        self._root = os.path.realpath(folder)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        real = os.path.realpath(filename)
        if not real.startswith(self._root + os.sep):
            raise RenderError(
                f"template {template} resolves outside the site's templates folder",
                template=template,
            )
        return source, filename, uptodate


_MAX_RANGE = 10_000


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > _MAX_RANGE:
        raise SecurityError(f"range over {_MAX_RANGE:,} items is not allowed in site templates")
    return r


class _BoundedSandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = _range

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise SecurityError("a power over 64 is not allowed in site templates")
            return left**right
        count = right if isinstance(left, str | list | tuple) else left
        if isinstance(count, int) and count > _MAX_REPEAT:
            raise SecurityError(f"repeating more than {_MAX_REPEAT:,} times is not allowed")
        return left * right


class TemplateTimeout(Exception):
    """Raised inside a thread whose site template ran past its time."""


class _Watchdog:
    """One thread per process that interrupts renders past their deadline (the exception is
    raised inside the rendering thread: templates are Python code, so any loop stops)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[int, float] = {}
        self._pid = 0
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self._deadlines = {}
        self._pid = 0

    @contextlib.contextmanager
    def limit(self, seconds: float) -> Iterator[None]:
        ident = threading.get_ident()
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._watch, name="livepipe-templates", daemon=True).start()
            self._deadlines[ident] = time.monotonic() + seconds
        try:
            yield
        finally:
            with self._lock:
                self._deadlines.pop(ident, None)

    def _watch(self) -> None:
        pid = os.getpid()
        while pid == os.getpid():
            time.sleep(0.05)
            now = time.monotonic()
            with self._lock:
                for ident, deadline in list(self._deadlines.items()):
                    if now > deadline:
                        del self._deadlines[ident]
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(ident), ctypes.py_object(TemplateTimeout)
                        )


_WATCHDOG = _Watchdog()


def _env(cls: type[jinja2.Environment], folder: Path) -> jinja2.Environment:
    site = issubclass(cls, SandboxedEnvironment)
    return cls(
        loader=_SiteLoader(folder) if site else jinja2.FileSystemLoader(str(folder)),
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
            _env(_BoundedSandbox, site_dir)
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
            if template.environment is not self._site:
                return template.render(**values)
            try:
                with _WATCHDOG.limit(SITE_TEMPLATE_SECONDS):
                    return template.render(**values)
            except TemplateTimeout:
                raise RenderError(
                    f"{template.name}: took more than {SITE_TEMPLATE_SECONDS:g} s to render",
                    template=template.name or name,
                ) from None
            except (jinja2.TemplateError, RenderError):
                raise
            except Exception as exc:  # a site template's own error: its problem, not a crash
                raise RenderError(
                    f"{template.name}: {type(exc).__name__}: {exc}", template=template.name or name
                ) from exc
        except jinja2.TemplateError as exc:
            raise RenderError(f"{template.name}: {exc}", template=template.name or name) from exc
