"""livepipe's own templates are rendered without Jinja's per-render merge of their globals
(``Templates._render_own``): every artifact must be what ``Template.render`` makes, the
globals must still be there, and a template's error must read the same."""

from __future__ import annotations

import jinja2
import pytest

from livepipe.errors import RenderError
from livepipe.render.templating import Templates

from ..support import ROOT
from .helpers import build_memory


def test_every_artifact_is_what_jinjas_render_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    _, own = build_memory(ROOT)
    calls: list[str] = []

    def jinjas(self: Templates, template: jinja2.Template, values: dict[str, object]) -> str:
        calls.append(template.name or "")
        return template.render(**values)

    monkeypatch.setattr(Templates, "_render_own", jinjas)
    _, plain = build_memory(ROOT)
    assert len(calls) > 50  # the bundled site's templates went through it
    assert own.keys() == plain.keys()
    for path, data in plain.items():
        assert own[path] == data, path


def test_globals_and_errors_are_jinjas() -> None:
    templates = Templates()
    env = templates._builtin
    ranged = env.from_string("{{ range(3) | list }} {{ x }} {{ namespace(a=1).a }}")
    assert templates._render_own(ranged, {"x": "y"}) == ranged.render(x="y") == "[0, 1, 2] y 1"
    again = templates._render_own(ranged, {"x": "z"})  # the flattened globals are kept
    assert again == "[0, 1, 2] z 1"
    missing = env.from_string("line one\n{{ nowhere.title }}")
    with pytest.raises(jinja2.UndefinedError) as own:
        templates._render_own(missing, {})
    with pytest.raises(jinja2.UndefinedError) as plain:
        missing.render()
    assert str(own.value) == str(plain.value) == "'nowhere' is undefined"


def test_a_missing_value_in_a_livepipe_template_is_a_render_error() -> None:
    with pytest.raises(RenderError, match=r"wechat/group\.txt: 'e' is undefined"):
        Templates().render("wechat", "group.txt", "en")
