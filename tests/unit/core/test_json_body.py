"""``JSONBody`` answers the head Starlette's ``Response`` would for the same body, status,
headers and media type (it reuses the encoding of header sets it has seen)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import Response

from tokend.core.cache_control import NO_STORE
from tokend.core.errors import JSONBody
from tokend.core.json_output import compact_json

_names = st.sampled_from(
    ["Cache-Control", "Pragma", "WWW-Authenticate", "Content-Type", "content-length", "X-A"]
)
_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=20)
_headers = st.one_of(st.none(), st.dictionaries(_names, _values, max_size=4), st.just(NO_STORE))
_statuses = st.sampled_from([100, 200, 201, 204, 304, 400, 401, 500])
_media = st.sampled_from([None, "application/json", "text/plain", "application/jwt"])


@given(_headers, _statuses, _media, st.dictionaries(st.text(max_size=5), st.integers()))
def test_the_head_is_starlettes(
    headers: dict[str, str] | None, status: int, media_type: str | None, content: dict[str, int]
) -> None:
    for _ in range(2):  # the second time from the encoded set kept by the first
        ours = JSONBody(content, status, headers, media_type)
        theirs = Response(compact_json(content), status, headers, media_type or "application/json")
        assert ours.raw_headers == theirs.raw_headers
        assert ours.body == theirs.body
