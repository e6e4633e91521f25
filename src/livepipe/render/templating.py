"""Jinja2 templates: built-in ones in ``templates/<renderer>/``, a site's own ones sandboxed.

Templates format, Python decides: every value a template sees is computed before it renders.
StrictUndefined turns a typo into a RenderError; HTML and XML templates autoescape.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

from ..errors import RenderError
from ..i18n import HtmlPhrases, Phrases, phrases
from ..limits import TimeLimitExceeded, time_limit

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


_MAX_STRING = 1_000_000  # characters any one value a site template makes may have
_MAX_WIDTH = 10_000  # a width or precision in a format, or a padding width
_MAX_OUTPUT = 8_000_000  # characters one render may produce in all
# a width/precision in a %-format ("%1500000000s") or a {}-format spec ("{:>1500000000}")
_PRINTF_WIDTH = re.compile(r"%[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")
_FORMAT_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
_DIGITS = re.compile(r"\d+")


def _no_wide(text: object) -> None:
    """Refuse a format string with a width or precision over _MAX_WIDTH (``%*s``: its
    width comes from an argument, checked when given)."""
    if not isinstance(text, str):
        return
    specs = [m.group(0) for m in _PRINTF_WIDTH.finditer(text)]
    specs += [m.group(1) for m in _FORMAT_SPEC.finditer(text)]
    for spec in specs:
        if "*" in spec or any(int(d) > _MAX_WIDTH for d in _DIGITS.findall(spec)):
            raise SecurityError(f"a format width over {_MAX_WIDTH:,} is not allowed")


def _no_bigger(size: int, what: str = "a value") -> None:
    if size > _MAX_STRING:
        raise SecurityError(f"{what} of more than {_MAX_STRING:,} characters is not allowed")


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` through ``environment.bounded_join``: the sandbox cannot intercept
    concatenation, and ``{% set s = s ~ s %}`` in a loop doubles a string each turn."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.bounded_join({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox of a site's templates, bounded in what one value and one render may
    allocate: repetition, powers, widths and padding, concatenation, replacement."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = _range
        for name in ("center", "indent", "wordwrap"):
            self.filters[name] = self._widths(self.filters[name])
        self.filters["format"] = self._printf(self.filters["format"])
        self.filters["replace"] = self._replace(self.filters["replace"])
        self.filters["join"] = self._checked(self.filters["join"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise SecurityError("a power over 64 is not allowed in site templates")
            return left**right
        if operator == "*":
            count = right if isinstance(left, str | list | tuple) else left
            item = left if isinstance(left, str | list | tuple) else right
            if isinstance(count, int):
                if count > _MAX_REPEAT:
                    raise SecurityError(f"repeating more than {_MAX_REPEAT:,} times is not allowed")
                _no_bigger(_sized(item) * count)
            return left * right
        if operator == "%":
            if isinstance(left, str):
                _no_wide(left)
            return left % right
        _no_bigger(_sized(left) + _sized(right))
        return left + right

    def bounded_join(self, join: Any, parts: tuple[Any, ...]) -> Any:
        _no_bigger(sum(len(str(p)) for p in parts))
        return join(parts)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in ("center", "ljust", "rjust", "zfill", "expandtabs"):
                width = args[0] if args else kwargs.get("width", kwargs.get("tabsize", 0))
                if isinstance(width, int) and width > _MAX_WIDTH:
                    raise SecurityError(f"a width over {_MAX_WIDTH:,} is not allowed")
                if name == "expandtabs":
                    _no_bigger(len(owner) * max(1, int(width or 8)))
            elif name == "replace" and len(args) >= 2:
                _no_bigger(_replaced(owner, args[0], args[1]))
            elif name == "join" and args:
                items = list(args[0])
                _no_bigger(sum(len(str(i)) for i in items) + len(owner) * len(items))
                return owner.join(items)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _no_wide(value.__self__)

        def bounded(*args: Any, **kwargs: Any) -> Any:
            for arg in (*args, *kwargs.values()):
                if isinstance(arg, dict):
                    for inner in arg.values():
                        _no_bigger(_sized(inner))
                _no_bigger(_sized(arg))
            return wrapped(*args, **kwargs)

        return bounded

    def _widths(self, inner: Any) -> Any:
        def bounded(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> Any:
            if isinstance(width, int) and width > _MAX_WIDTH:
                raise SecurityError(f"a width over {_MAX_WIDTH:,} is not allowed")
            return inner(value, width, *args, **kwargs)

        return bounded

    def _printf(self, inner: Any) -> Any:
        def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
            _no_wide(value)
            return inner(value, *args, **kwargs)

        return bounded

    def _replace(self, inner: Any) -> Any:
        def bounded(eval_ctx: Any, s: Any, old: Any, new: Any, *args: Any) -> Any:
            _no_bigger(_replaced(str(s), str(old), str(new)))
            return inner(eval_ctx, s, old, new, *args)

        bounded.jinja_pass_arg = getattr(inner, "jinja_pass_arg", None)  # type: ignore[attr-defined]
        return bounded

    def _checked(self, inner: Any) -> Any:
        def bounded(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
            items = list(value)
            _no_bigger(sum(len(str(i)) for i in items) + len(d) * len(items))
            return inner(eval_ctx, items, d, attribute)

        bounded.jinja_pass_arg = getattr(inner, "jinja_pass_arg", None)  # type: ignore[attr-defined]
        return bounded


def _replaced(s: str, old: str, new: str) -> int:
    """The length ``s.replace(old, new)`` would have (without making it)."""
    if not isinstance(s, str) or not isinstance(old, str) or not isinstance(new, str):
        return 0
    if not old:
        return len(s) + (len(s) + 1) * len(new)
    return len(s) + s.count(old) * (len(new) - len(old))


_E = TypeVar("_E", bound=jinja2.Environment)


def _env(cls: type[_E], folder: Path, **extra: Any) -> _E:
    site = issubclass(cls, SandboxedEnvironment)
    return cls(
        loader=_SiteLoader(folder) if site else jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        **extra,
    )


def _is_html(name: str) -> bool:
    """Is ``name`` an HTML (or XML) template: one that escapes, and whose ``t`` escapes?"""
    return name.endswith((".html", ".xml"))


Words = Phrases | HtmlPhrases
# ``t``'s methods whose answer depends on their arguments and the catalogue only
_PURE_METHODS = frozenset({"label", "line", "strong", "flag"})


class _FoldedEnvironment(jinja2.Environment):
    """livepipe's own templates compiled for one language's phrases: each ``t("key")``,
    ``t.label("when")``… whose arguments are constants is replaced by its phrase when the
    template compiles (a cold build asked the catalogue about 60 times per event, each a
    call through Jinja's runtime). The output is the same: the phrase is what the call
    would have returned, an HTML template's Markup stays Markup, and a call that fails
    (a missing key) is left to fail when it renders, as before."""

    def __init__(self, catalogue: Phrases, html: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.catalogue, self.html = catalogue, html

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        if _rebinds_t(tree):
            return tree
        folded: nodes.Template = _Fold(self.catalogue.for_template(html=self.html)).visit(tree)
        return folded


def _rebinds_t(tree: nodes.Template) -> bool:
    """Does the template give the name ``t`` another value anywhere (set, for, with, a
    macro's parameter, an import)? Then no call of it is folded."""
    for node in tree.find_all((nodes.Name, nodes.Import, nodes.FromImport)):
        if isinstance(node, nodes.Name):
            if node.name == "t" and node.ctx != "load":
                return True
        elif isinstance(node, nodes.Import):
            if node.target == "t":
                return True
        elif isinstance(node, nodes.FromImport) and any(
            (n if isinstance(n, str) else n[1]) == "t" for n in node.names
        ):
            return True
    return False


class _Fold(NodeTransformer):
    def __init__(self, words: Words) -> None:
        self.words = words

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        visited = self.generic_visit(node)  # its arguments first
        value = _constant_phrase(visited, self.words) if isinstance(visited, nodes.Call) else None
        if value is None:
            return visited
        return nodes.Const(value, lineno=node.lineno, environment=node.environment)


def _constant_phrase(call: nodes.Call, words: Words) -> str | bool | None:
    """What ``call`` returns when it is ``t(…)`` or ``t.<pure method>(…)`` of constants."""
    target = call.node
    if isinstance(target, nodes.Name) and target.name == "t":
        method: Callable[..., Any] = words
    elif (
        isinstance(target, nodes.Getattr)
        and isinstance(target.node, nodes.Name)
        and target.node.name == "t"
        and target.attr in _PURE_METHODS
    ):
        method = getattr(words, target.attr)
    else:
        return None
    if call.dyn_args is not None or call.dyn_kwargs is not None:
        return None
    if not all(isinstance(a, nodes.Const) for a in call.args):
        return None
    if not all(isinstance(k.value, nodes.Const) for k in call.kwargs):
        return None
    try:
        value = method(
            *(a.value for a in call.args),  # type: ignore[attr-defined]
            **{k.key: k.value.value for k in call.kwargs},  # type: ignore[attr-defined]
        )
    except Exception:  # a missing phrase or value: the call stays and says so when it renders
        return None
    return value if isinstance(value, str | bool) else None


def _bounded_render(template: jinja2.Template, values: dict[str, object]) -> str:
    """``template.render``, stopped once the output passes _MAX_OUTPUT characters."""
    out: list[str] = []
    size = 0
    for piece in template.generate(**values):
        size += len(piece)
        if size > _MAX_OUTPUT:
            raise SecurityError(f"the output is over {_MAX_OUTPUT:,} characters")
        out.append(piece)
    return "".join(out)


class Templates:
    """Finds ``<renderer>/<name>.<lang>.<ext>`` then ``<renderer>/<name>``, the site's first
    (a site may keep a template per language), livepipe's after. Every template gets ``t``,
    the phrases of its language (i18n: the site's ``i18n/<lang>.toml`` over livepipe's), and
    ``lang``."""

    def __init__(self, site_dir: Path | None = None, site_root: Path | None = None) -> None:
        # the site's catalogues are beside its templates folder unless said otherwise
        self.site_root = site_root or (site_dir.parent if site_dir is not None else None)
        self._folder = builtin_dir()
        self._builtin = _env(jinja2.Environment, self._folder)
        self._site = (
            _env(_BoundedSandbox, site_dir)
            if site_dir is not None and site_dir.is_dir() and site_dir.resolve() != self._folder
            else None
        )
        # livepipe's templates with the phrases folded in, per (language, HTML or not),
        # compiled again when the catalogue changed (an edit during `livepipe serve`)
        self._folded: dict[tuple[str, bool], _FoldedEnvironment] = {}
        self._cache: dict[tuple[str, str, str, jinja2.Environment], jinja2.Template] = {}
        self._globals: dict[jinja2.Template, dict[str, Any]] = {}  # ``_render_own``

    def _livepipes(self, catalogue: Phrases, html: bool) -> _FoldedEnvironment:
        """livepipe's templates, compiled for ``catalogue`` (in an HTML template's form)."""
        env = self._folded.get((catalogue.lang, html))
        if env is None or env.catalogue is not catalogue:
            env = _env(_FoldedEnvironment, self._folder, catalogue=catalogue, html=html)
            self._folded[catalogue.lang, html] = env
            self._cache.clear()  # rare: a language's first template, or its catalogue changed
            self._globals.clear()
        return env

    def get(self, renderer: str, name: str, lang: str) -> jinja2.Template:
        """The template ``render`` renders: the site's, else livepipe's."""
        html = _is_html(name)
        return self._find(
            renderer, name, lang, self._livepipes(phrases(lang, self.site_root), html)
        )

    def _find(
        self, renderer: str, name: str, lang: str, livepipes: jinja2.Environment
    ) -> jinja2.Template:
        key = (renderer, name, lang, livepipes)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        stem, _, ext = name.rpartition(".")
        candidates = [f"{renderer}/{stem}.{lang}.{ext}", f"{renderer}/{name}"]
        for env in (self._site, livepipes):
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

    def compile_ahead(self, renderers: Collection[str], languages: Collection[str] = ()) -> int:
        """Compile now every template of these renderers, the site's and livepipe's (for
        each of ``languages``), how many: a dispatcher does it before anything is due, so
        its first burst does not (16 templates, 0.1 s). Best effort: a site template that
        does not compile fails its sends later, with the reason."""
        envs: list[jinja2.Environment] = [self._site] if self._site is not None else []
        for lang in languages:
            catalogue = phrases(lang, self.site_root)
            envs += [self._livepipes(catalogue, False), self._livepipes(catalogue, True)]
        compiled = 0
        for env in envs:
            for name in env.list_templates():
                if name.partition("/")[0] not in renderers:
                    continue
                if isinstance(env, _FoldedEnvironment) and env.html != _is_html(name):
                    continue  # rendered with the other form of the phrases
                try:
                    env.get_template(name)
                    compiled += 1
                except Exception:  # said when a send renders it
                    continue
        return compiled

    def _render_own(self, template: jinja2.Template, values: dict[str, object]) -> str:
        """``template.render(values)`` for livepipe's own templates, without Jinja merging
        the template's globals (a ChainMap, walked twice per render: 3 % of a cold build,
        ten renders an event) into every render's context: they are flattened once."""
        flat = self._globals.get(template)
        if flat is None:
            flat = self._globals[template] = dict(template.globals)
        env = template.environment
        context = env.context_class(env, {**flat, **values}, template.name, template.blocks,
                                    globals=flat)  # fmt: skip
        try:
            return env.concat(template.root_render_func(context))
        except Exception:
            env.handle_exception()  # raises, as Template.render does: the template's lines

    def render(self, renderer: str, name: str, lang: str, **values: object) -> str:
        html = _is_html(name)
        catalogue = phrases(lang, self.site_root)
        # a caller's own ``t``: livepipe's templates as written, nothing folded
        livepipes = self._builtin if "t" in values else self._livepipes(catalogue, html)
        template = self._find(renderer, name, lang, livepipes)
        values = {"t": catalogue.for_template(html=html), "lang": lang, **values}
        try:
            if template.environment is not self._site:
                return self._render_own(template, values)
            try:
                with time_limit(SITE_TEMPLATE_SECONDS):
                    return _bounded_render(template, values)
            except TimeLimitExceeded:
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
