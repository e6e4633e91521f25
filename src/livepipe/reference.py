"""docs/settings.md and docs/cli.md, made from the code: every livepipe.toml key from the
settings models (its type, default and the docstring under it; each channel type's options
from options.py) and every command from the command line's own definitions (what --help
prints). ``make docs`` writes them; a test fails when a file and the code disagree.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import textwrap
import types
from datetime import timedelta
from enum import Enum
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .config import (
    DEFAULT_SLOTS,
    DataSource,
    FieldMapping,
    GenericWatch,
    ImportSettings,
    SchemaMapping,
    Settings,
    SlotSettings,
    _paths,
)
from .options import OPTIONS, ChannelOptions
from .timeutil import format_duration

HEAD = "<!-- made by `make docs` (src/livepipe/reference.py): edit the code, not this file -->\n"


def _type(annotation: Any) -> str:
    """A TOML-ish name for a field's type."""
    origin = get_origin(annotation)
    if annotation is timedelta:
        return "duration"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if annotation is str:
        return "text"
    if origin is Literal:
        return " \\| ".join(
            f'"{a}"' if isinstance(a, str) else str(a).lower() for a in get_args(annotation)
        )
    if origin in (tuple, list):
        inner = [a for a in get_args(annotation) if a is not Ellipsis]
        return f"list of {_type(inner[0])}" if inner else "list"
    if origin in (types.UnionType,) or str(origin) == "typing.Union":
        parts = [_type(a) for a in get_args(annotation) if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(str(m.value) for m in annotation)
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:  # Annotated[timedelta, …] (Duration)
        return _type(get_args(annotation)[0])
    return getattr(annotation, "__name__", str(annotation))


def _value(value: Any) -> str:
    if value is None or value is PydanticUndefined:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return f'"{format_duration(value)}"'
    if isinstance(value, Enum):
        return f'"{value.value}"'
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else str(value)
    return str(value)


def _field_type(field: FieldInfo) -> str:
    if any(getattr(m, "func", None) is _paths for m in field.metadata):
        return "key or list of keys"
    return _type(field.annotation)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "(required)"
    if field.default == ():
        return "—"
    if field.default_factory is not None:
        return _value(field.default_factory())  # type: ignore[call-arg]
    return _value(field.default)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("``", "`")


def _attribute_docs(model: type) -> dict[str, str]:
    """The docstrings written under the fields of ``model`` and its bases (how config.py
    documents its keys), read from the source."""
    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if not klass.__module__.startswith("livepipe"):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _about(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    return field.description or _attribute_docs(model).get(name, "")


def _table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| key | type | default | what it does |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip or field.exclude:
            continue
        key = field.alias or name
        about = _about(model, name, field)
        rows.append(f"| `{key}` | {_field_type(field)} | `{_default(field)}` | {_cell(about)} |")
    return rows


def _doc(model: type) -> str:
    """The class docstring, without the table name it starts with (the heading says it)."""
    text = " ".join(inspect.cleandoc(model.__doc__ or "").split()).replace("``", "`")
    text = re.sub(r"^`\[[\w.]+\]`: ", "", text)
    return text[:1].upper() + text[1:]


def undocumented() -> list[str]:
    """Keys the reference would show without a description (the test wants none)."""
    out = []
    models: list[tuple[str, type[BaseModel]]] = [
        (name, f.annotation)
        for name, f in Settings.model_fields.items()
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
    ]
    models += [("slots", SlotSettings), ("schemas", SchemaMapping), ("sources", DataSource)]
    models += [("imports", ImportSettings), ("watch.generic", GenericWatch)]
    models += [(f"channels ({t})", m) for t, m in OPTIONS.items()]
    for section, model in models:
        for name, field in model.model_fields.items():
            if not field.exclude and not _about(model, name, field):
                out.append(f"{section}.{field.alias or name}")
    return out


def settings_reference() -> str:
    """docs/settings.md: every key of livepipe.toml."""
    out = [
        HEAD,
        "# Settings: `livepipe.toml`",
        "",
        "Every key, its type, its default and what it does. Durations are written like "
        '`"90m"`, `"1h30m"`, `"-1d"`; a key left out has its default. Secrets are never '
        "written here: a key ending in `_env` names the environment variable that holds one.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        if field.exclude:
            continue
        model = field.annotation
        if name == "slots":
            out += _slots()
        elif name == "channels":
            out += _channels()
        elif name == "schemas":
            fields = tuple(FieldMapping.model_fields)
            out += ["## `[schemas.NAME]`", "", f"{_doc(SchemaMapping)} {_doc(FieldMapping)}", ""]
            out += [*_table(SchemaMapping, skip=fields), *_table(FieldMapping)[2:], ""]
        elif name == "imports":
            out += ["## `[imports.NAME]`", "", _doc(ImportSettings), ""]
            out += [*_table(ImportSettings), ""]
        elif name == "sources":
            fields = tuple(FieldMapping.model_fields)
            out += ["## `[sources.NAME]`", "", _doc(DataSource), ""]
            out += [*_table(DataSource, skip=fields), ""]
            out += ["and the field keys of `[schemas.NAME]` (`title`, `start`, …, `repeat`).", ""]
        elif isinstance(model, type) and issubclass(model, BaseModel):
            out += [f"## `[{name}]`", "", _doc(model), "", *_table(model, skip=("generic",)), ""]
            if name == "watch":
                out += [
                    "### `[watch.generic.NAME]`",
                    "",
                    _doc(GenericWatch),
                    "",
                    *_table(GenericWatch),
                    "",
                ]
    return "\n".join(out).rstrip() + "\n"


def _slots() -> list[str]:
    rows = ["| slot | kind | when | valid |", "|---|---|---|---|"]
    for name, values in DEFAULT_SLOTS.items():
        when = ", ".join(
            f"{k} {_value(v)}" for k, v in values.items() if k in ("offset", "weekly", "min_lead")
        )
        valid = ", ".join(f"{k} {_value(v)}" for k, v in values.items() if k in ("window", "until"))
        off = " (off)" if values.get("enabled") is False else ""
        rows.append(f"| `{name}`{off} | {values['kind']} | {when or '—'} | {valid or '—'} |")
    return [
        "## `[slots.NAME]`",
        "",
        _doc(SlotSettings) + " A built-in slot's table changes the keys it names; a slot of "
        "your own needs a `kind`. The built-in slots:",
        "",
        *rows,
        "",
        *_table(SlotSettings),
        "",
    ]


def _channels() -> list[str]:
    out = [
        "## `[channels.NAME]`",
        "",
        "Where messages go. `type` picks the channel; every type takes the keys of the first "
        "table, and its own below. The channel `outbox` (a folder of JSON files) always exists.",
        "",
        *_table(ChannelOptions),
        "",
    ]
    common = set(ChannelOptions.model_fields)
    for kind, model in OPTIONS.items():
        own = tuple(n for n in model.model_fields if n in common)
        out += [f'### `type = "{kind}"`', ""]
        doc = _doc(model) if model.__doc__ != ChannelOptions.__doc__ else ""
        if doc:
            out += [doc, ""]
        table = _table(model, skip=own)
        out += table if len(table) > 2 else ["(only the keys every channel takes)"]
        out += [""]
    return out


def cli_reference() -> str:
    """docs/cli.md: every command, its arguments and options, as --help defines them."""
    import typer

    from .cli import app

    group: Any = typer.main.get_command(app)  # typer's own click: its classes, not click's
    ctx = group.make_context("livepipe", [], resilient_parsing=True)
    out = [HEAD, "# Command line: `livepipe`", "", _cell(group.help or ""), ""]
    out += _commands(group, ctx, "livepipe")
    return "\n".join(out).rstrip() + "\n"


def _commands(group: Any, ctx: Any, prefix: str) -> list[str]:
    out: list[str] = []
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        if hasattr(command, "list_commands"):  # a group: its commands, each on its own
            out += _commands(command, sub, f"{prefix} {name}")
            continue
        usage = " ".join(command.collect_usage_pieces(sub))
        out += [f"## `{prefix} {name}`", "", "```", f"{prefix} {name} {usage}".rstrip(), "```"]
        out += ["", inspect.cleandoc(command.help or ""), ""]
        rows = ["| argument or option | default | what it does |", "|---|---|---|"]
        for param in command.params:
            if param.name == "help":
                continue
            names = ", ".join(f"`{o}`" for o in (*param.opts, *param.secondary_opts))
            if param.param_type_name == "argument":
                names = f"`{(param.metavar or param.name or '').upper()}`"
            default = param.default
            shown = "—" if default is None or callable(default) else f"`{_value(default)}`"
            if isinstance(default, (list, tuple)) and not default:
                shown = "—"
            rows.append(f"| {names} | {shown} | {_cell(getattr(param, 'help', None) or '')} |")
        if len(rows) > 2:
            out += [*rows, ""]
    return out


def main() -> None:
    """``python -m livepipe.reference DOCS_FOLDER``: write settings.md and cli.md."""
    import sys
    from pathlib import Path

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.md").write_text(settings_reference(), encoding="utf-8")
    (folder / "cli.md").write_text(cli_reference(), encoding="utf-8")
    print(f"wrote {folder / 'settings.md'} and {folder / 'cli.md'}")


if __name__ == "__main__":
    main()
