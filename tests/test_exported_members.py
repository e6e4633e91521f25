from __future__ import annotations

import livepipe


def test_all_lists_the_public_names_sorted() -> None:
    public = sorted(n for n in dir(livepipe) if not n.startswith("_") or n == "__version__")
    modules = {"cli", "config", "errors", "identity", "models", "normalize", "site", "sources", "annotations",
               "timeutil"}  # fmt: skip
    assert sorted(livepipe.__all__) == sorted(set(public) - modules)
