"""Telco token broker (seed 000): prefix-routed operator tokens and the Telco Finder.

The operators it routes to are the operator role, ``tokend.telco``, or another operator's
service; the two meet only over HTTP.
"""
