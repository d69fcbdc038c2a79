"""Identity brokering: signing in to this provider with an upstream identity provider (an
OpenID Connect provider found by discovery, or GitHub), and the links between upstream accounts
and local ones. One file per upstream kind (``oidc_kind``, ``github_kind``), registered in
``brokering.KINDS``."""
