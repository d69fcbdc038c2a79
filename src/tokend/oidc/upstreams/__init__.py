"""Identity brokering: signing in to this provider with an upstream identity provider (an
OpenID Connect provider found by discovery, or GitHub), and the links between upstream accounts
and local ones. One file per upstream kind (``oidc_kind``, ``github_kind``), built by the kinds
``capability._upstream_kinds`` registers; the upstreams themselves come from the settings and
the admin API (``catalog``)."""
