"""The layers of livepipe, as the import graph shows them: every module of src/livepipe and
flows/ in one layer, no module importing a layer above its own (at module level or inside a
function), no import cycle, and the pure core never reaching storage, sending, the network
or Prefect. A new module must be placed here (the test names it otherwise)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. Within a layer modules may import each other (no cycles).
LAYERS: list[tuple[str, set[str]]] = [
    (
        "base",
        {
            "livepipe", "version", "errors", "text", "timeutil", "limits", "identity", "addresses",
            "sitefiles", "models", "activity", "i18n", "render.html", "sources.revisions",
            "fast", "fast.parallel", "fast.yaml_scan", "fast.gc", "fast.pickling",
        },
    ),
    ("values", {"records", "options", "config", "recurrence", "streams", "render.links"}),
    (
        "reading",
        {
            "sources", "sources.base", "sources.body", "sources.files", "sources.kubesphere",
            "sources.native", "sources.mapped", "sources.datafiles", "sources.calendars",
            "normalize",
            "fast.pagecache", "fast.rendercache", "advice", "site",
            "suggest", "gitsource",
        },
    ),
    (
        "planning, rendering, storage (side by side)",
        {
            "plan", "plan.slots", "plan.gather", "timeline",
            "render", "render.templating", "render.context", "render.timefmt", "render.feeds",
            "render.ics", "render.newsletter", "render.wechat", "render.cover",
            "render.messages", "build", "writer",
            "ledger", "ledger.base", "ledger.group", "ledger.sqlite", "ledger.postgresql", "net",
        },
    ),
    (
        "channels and the sync",
        {
            "publish", "publish.base", "publish.http", "publish.outbox", "publish.webhook",
            "publish.robots", "publish.email", "publish.listmonk", "publish.wechat",
            "publish.apprise_channel", "alerts", "pipeline", "metrics", "preview", "report",
            "preview.changes", "preview.checks", "preview.report",
            "inbound", "hooks", "imports", "deploy", "deploy.directory", "deploy.git",
            "deploy.s3", "deploy.verify",
        },
    ),
    ("sending and serving", {"send", "watch", "serve", "serve.files", "serve.rebuild",
                             "serve.index", "serve.http"}),
    ("the application", {"app", "dispatch"}),
    ("flows", {"flows", "flows.common", "flows.sync", "flows.deliver", "flows.reconcile",
               "flows.watch", "flows.runtime"}),
    (
        "the command line",
        {
            "cli", "cli.common", "cli.output", "cli.pages", "cli.publishing", "cli.running",
            "cli.channels", "cli.operating", "reference",
        },
    ),
]  # fmt: skip

# What the pure core (base, values, reading, planning and rendering) never imports.
CORE_NEVER = ("livepipe.ledger", "livepipe.publish", "livepipe.net", "livepipe.send", "httpx",
              "prefect", "flows")  # fmt: skip
STORAGE = {"ledger", "ledger.base", "ledger.group", "ledger.sqlite", "ledger.postgresql", "net"}


def modules() -> dict[str, Path]:
    out = {}
    for base, prefix in ((ROOT / "src" / "livepipe", "livepipe"), (ROOT / "flows", "flows")):
        for path in base.rglob("*.py"):
            parts = [prefix, *path.relative_to(base).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """What ``name`` imports (modules of ours by full name, others by top package), outside
    ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.add(alias.name if alias.name in known else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(
                    sub if sub in known else target if target in known else target.split(".")[0]
                )
    out.discard(name)
    return out


def layer_of(name: str) -> int:
    short = name.removeprefix("livepipe.") if name != "livepipe" else "livepipe"
    for i, (_, members) in enumerate(LAYERS):
        if short in members or name in members:
            return i
    raise AssertionError(f"{name} is in no layer: place it in tests/test_import_contract.py")


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {n: {t for t in imports(n, p, known)} for n, p in mods.items()}


def test_every_module_has_a_layer_and_nothing_imports_upward() -> None:
    edges = graph()
    upward = []
    for name, targets in edges.items():
        mine = layer_of(name)
        for target in targets:
            if target in edges and layer_of(target) > mine:
                upward.append(f"{name} ({LAYERS[mine][0]}) imports {target} "
                              f"({LAYERS[layer_of(target)][0]})")  # fmt: skip
    assert upward == []


def test_the_core_never_reaches_storage_sending_the_network_or_prefect() -> None:
    edges = graph()
    core = {n for n in edges if layer_of(n) <= 3 and n.removeprefix("livepipe.") not in STORAGE}
    bad = sorted(f"{n} imports {t}" for n in core for t in edges[n] if t.startswith(CORE_NEVER))
    assert bad == []


def test_no_import_cycle() -> None:
    edges = {n: {t for t in ts if t.startswith(("livepipe", "flows"))} for n, ts in graph().items()}
    # package roots are imported implicitly by their children: not a dependency
    for name in edges:
        edges[name] = {t for t in edges[name] if not name.startswith(t + ".")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(n: str) -> None:  # Tarjan's strongly connected components
        index[n] = low[n] = len(index)
        stack.append(n)
        for t in edges.get(n, ()):
            if t not in index:
                visit(t)
                low[n] = min(low[n], low[t])
            elif t in stack:
                low[n] = min(low[n], index[t])
        if low[n] == index[n]:
            group = []
            while True:
                m = stack.pop()
                group.append(m)
                if m == n:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for n in sorted(edges):
        if n not in index:
            visit(n)
    assert cycles == []
