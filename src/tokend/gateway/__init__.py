"""API-key → JWT gateway (seed 004): clients hold an API key, tokend hands out short-lived JWTs.

Behind Kong (``TOKEND_GATEWAY__SOURCE=kong``, the default): Kong's key-auth plugin checks the
API key and forwards ``X-Consumer-ID`` / ``X-Consumer-Username``; tokend believes them only with
``proxy_secret`` in ``X-Gateway-Secret`` and/or from a TCP peer in ``trusted_proxies`` (never the
client a forwarding header names; nothing is trusted by default), looks up the consumer's JWT
credential in the Kong Admin API (``kong_mode=API_GATEWAY``) or Konnect (``KONNECT``), and
signs an HS256 token with that credential's secret, which Kong's jwt plugin accepts downstream::

    curl -H 'apikey: <key>' https://kong.example.com/auth/tokens
    → {"access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "expires_in": 900}

Standalone (``source=local``, and ``tokend serve --demo``): tokend keeps consumers and their API
keys itself (``tokend gateway consumers create NAME --json``, ``/gateway/admin/consumers``, or
``TOKEND_GATEWAY__CONSUMERS``) and reads the key from ``apikey`` or ``Authorization: ApiKey``.

``token_alg=ES256`` signs with tokend's keyring instead; resource servers then verify with
``/.well-known/jwks.json`` and need no shared secret.

Resilience: secrets sit in the tiered cache (fresh ``cache_ttl_s``), the source has a circuit
breaker, and while it is down a secret younger than ``stale_tolerance_s`` is still used
(``tokend_gateway_degraded_total``); beyond that the answer is 503 AUTH_005. ``/health`` shows
the breaker's state without failing. Metrics and spans: :mod:`tokend.gateway.metrics`,
:mod:`tokend.gateway.tracing`.
"""
