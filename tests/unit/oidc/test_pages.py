"""The provider's pages compile on their first render, not at start-up: every template must
still compile, and a name that is not one of them is refused."""

from __future__ import annotations

import pytest

from tokend.oidc.routes.html import TEMPLATES, Pages, _environment


def test_every_page_template_compiles() -> None:
    environment = _environment()
    for name in TEMPLATES:
        assert environment.get_template(name).name == name


def test_the_error_page_renders_escaped() -> None:
    response = Pages().error("<script>alert(1)</script>", status=400)
    body = bytes(response.body).decode()
    assert response.status_code == 400
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body


def test_a_name_outside_the_templates_is_refused() -> None:
    with pytest.raises(KeyError):
        Pages().render("../settings.py")
