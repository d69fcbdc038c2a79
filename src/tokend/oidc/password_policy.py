"""The one rule a new password must meet, wherever it is chosen: sign-up, reset, change.

NIST SP 800-63B §5.1.1.2: at least 8 characters, at least 64 allowed (here 1024, the bound of
every form), no composition rules and no forced expiry. OWASP Authentication Cheat Sheet: the
same rule on every path that sets a password, or the weakest path is the policy.
"""

from __future__ import annotations

from typing import Final

MIN_PASSWORD: Final = 8
MAX_PASSWORD: Final = 1024
#: What the pages say when a new password does not meet the rule.
PASSWORD_RULE: Final = "Use at least 8 characters."  # noqa: S105  (a message)


def is_acceptable_password(password: str) -> bool:
    """Whether ``password`` may be set as a new password."""
    return MIN_PASSWORD <= len(password) <= MAX_PASSWORD
