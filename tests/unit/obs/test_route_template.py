"""The metrics' and access log's route label: the matched route's template with its prefixes."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from tokend.obs.middleware import route_template

_SEGMENT = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=8)
_PATHS = st.lists(_SEGMENT, max_size=4).map(lambda parts: "".join("/" + p for p in parts))


def _by_segments(template: str, path: str) -> str:
    """The label as the segment count gives it for every route, literal or templated."""
    segments = path.split("/")
    prefix = "/".join(segments[: max(1, len(segments) - template.count("/"))])
    return prefix + template if prefix else template


@given(_PATHS, _PATHS.filter(bool))
def test_a_literal_route_is_labelled_with_its_prefixes(prefix: str, template: str) -> None:
    scope = {"route": SimpleNamespace(path=template), "path": prefix + template}
    assert route_template(scope) == _by_segments(template, prefix + template) == prefix + template


@given(_PATHS, _PATHS, _SEGMENT)
def test_a_templated_route_is_labelled_with_its_template(
    prefix: str, head: str, value: str
) -> None:
    template = head + "/{client_id}"
    scope = {"route": SimpleNamespace(path=template), "path": f"{prefix}{head}/{value}"}
    assert route_template(scope) == prefix + template


def test_a_mount_is_labelled_with_its_own_path_and_no_unmatched_request_is_named() -> None:
    mount = SimpleNamespace(path="/admin/jobs")
    assert route_template({"route": mount, "path": "/admin/jobs/queues/default"}) == (
        _by_segments("/admin/jobs", "/admin/jobs/queues/default")
    )
    assert route_template({"path": "/no/such/route"}) == "<unmatched>"
