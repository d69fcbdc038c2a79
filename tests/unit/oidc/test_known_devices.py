"""The browser a new-device notice names: from fixed lists, never the header's own text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tokend.oidc.known_devices import NewDevice, user_agent_summary


@pytest.mark.parametrize(
    ("user_agent", "summary"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Safari/605.1.15", "Safari on macOS"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome on Linux"),
        ("curl/8.5.0", "an unknown browser"),
        ("", "an unknown browser"),
        ("<script>alert(1)</script> Firefox/1 \r\nBcc: x@example.org", "Firefox"),
    ],
)  # fmt: skip
def test_the_summary_names_a_browser_and_a_system_from_fixed_lists(
    user_agent: str, summary: str
) -> None:
    assert user_agent_summary(user_agent) == summary


def test_the_notices_detail_keeps_the_time_of_the_sign_in() -> None:
    at = datetime(2026, 12, 6, 7, 30, tzinfo=UTC)
    assert NewDevice.of(NewDevice(at, "192.0.2.7", "Firefox on Linux").detail()) == NewDevice(
        at, "192.0.2.7", "Firefox on Linux"
    )
