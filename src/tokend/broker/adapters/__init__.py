"""Upstream adapters by name: one file each, one small interface (``UpstreamAdapter``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tokend.broker.adapters import oauth2, seed
from tokend.broker.upstream import UpstreamAdapter

ADAPTERS: Final[Mapping[str, UpstreamAdapter]] = {a.NAME: a for a in (seed, oauth2)}
