"""What the console shows of the consumer source: its URL never with credentials, failures
bounded, consumers counted up to a bound."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tokend.core.clock import FrozenClock
from tokend.gateway.source_status import MAX_CONSUMERS_COUNTED, SourceTracker, safe_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://kong-admin:8001", "http://kong-admin:8001"),
        ("https://ops:pa55word@kong.example:8444/admin", "https://kong.example:8444/admin"),
        ("https://eu.api.konghq.com/v2/control-planes/cp?token=kpat_x#f",
         "https://eu.api.konghq.com/v2/control-planes/cp"),
        ("http://user@[::1]:8001/", "http://[::1]:8001/"),
    ],
)  # fmt: skip
def test_the_source_url_is_shown_without_user_info_query_or_fragment(url: str, shown: str) -> None:
    assert safe_url(url) == shown


def test_the_tracker_keeps_the_last_answer_and_failure_and_counts_consumers_once() -> None:
    clock = FrozenClock(datetime(2026, 12, 6, 8, 0, tzinfo=UTC))
    tracker = SourceTracker(clock)
    assert tracker.last_success_at is None
    tracker.succeeded()
    tracker.saw("c1")
    tracker.saw("c1")
    tracker.saw("c2")
    assert tracker.consumers_seen == 2
    assert tracker.last_success_at == clock.now()
    tracker.failed("Kong answered 503 " + "x" * 500)
    assert tracker.last_error is not None
    assert tracker.last_error.startswith("Kong answered 503")
    assert len(tracker.last_error) == 200
    for i in range(MAX_CONSUMERS_COUNTED + 5):
        tracker.saw(f"many-{i}")
    assert tracker.consumers_seen == MAX_CONSUMERS_COUNTED
