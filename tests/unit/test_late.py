"""``Late``: what a capability's lifespan builds, read by routes declared before it ran."""

from __future__ import annotations

import pytest

from tokend.core.errors import ServiceUnavailable
from tokend.runtime import Late


def test_a_late_value_is_a_503_until_set_and_after_cleared() -> None:
    late: Late[str] = Late("the broker")
    with pytest.raises(ServiceUnavailable, match="the broker is starting or stopping"):
        late.get()
    late.set("service")
    assert late.get() == "service"
    late.set(None)
    with pytest.raises(ServiceUnavailable, match="the broker is starting or stopping"):
        late.get()
