from __future__ import annotations

import types

import livepipe


def test_all_lists_the_public_names_sorted() -> None:
    public = {
        name
        for name in dir(livepipe)
        if not name.startswith("_")
        and not isinstance(getattr(livepipe, name), types.ModuleType)
        and name != "annotations"  # from __future__
    }
    assert set(livepipe.__all__) == public | {"__version__"}
