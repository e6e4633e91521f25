from __future__ import annotations

import livepipe


def test_all_lists_the_public_names() -> None:
    """Every name of the public front is listed, sorted, and resolves (lazily: importing
    the package loads none of them)."""
    assert len(set(livepipe.__all__)) == len(livepipe.__all__)
    assert dir(livepipe) == sorted(livepipe.__all__)
    for name in livepipe.__all__:
        assert getattr(livepipe, name) is not None, name
    try:
        livepipe.nothing_here  # noqa: B018
    except AttributeError as exc:
        assert "nothing_here" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")


def test_the_version_is_said_once() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert project["project"]["version"] == livepipe.__version__
