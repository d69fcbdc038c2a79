"""Telco token broker (seed 000): prefix-routed operator tokens, operator role, Telco Finder.

Kept import-free: ``tokend.config`` imports ``tokend.broker.settings``, so this package must not
import the config back. ``app.py`` registers ``tokend.broker.capability.build`` and
``tokend.broker.telco.build``.
"""
