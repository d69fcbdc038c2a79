"""Client metadata (RFC 7591 §2, OpenID Connect Dynamic Client Registration 1.0 §2): one table
of fields, each with the function that checks and normalises its value, then the rules that
relate fields to each other.

To accept a new field, add a row to :data:`FIELDS` (and a rule to :data:`RULES` if it depends on
another field). Fields the table does not name are ignored, as RFC 7591 §2 requires ("the
authorization server MUST ignore any client metadata sent by the client that it does not
understand").

The rules of the metadata that authenticate a client with keys (RFC 7523 §2.2, OIDC Core §9:
``jwks``, ``jwks_uri``, ``token_endpoint_auth_signing_alg``, request objects) come last; the
admin API's ``ClientCreate`` calls them too, so every client is held to the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import urlsplit

from tokend.core.errors import OAuthError
from tokend.core.jws_keys import VerificationKey, verification_key_from_jwk
from tokend.oidc.records import AuthMethod
from tokend.oidc.redirect_uris import LOOPBACK_HOSTS, redirect_uri_problem


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2."""

    code, status = "invalid_client_metadata", 400
    default_description = "The value of a client metadata field is invalid."


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2."""

    code, status = "invalid_redirect_uri", 400
    default_description = "A redirection URI is invalid."


class InvalidSoftwareStatement(OAuthError):
    """RFC 7591 §3.2.2."""

    code, status = "invalid_software_statement", 400
    default_description = "The software statement is invalid."


class UnapprovedSoftwareStatement(OAuthError):
    """RFC 7591 §3.2.2: well formed, but not signed by an issuer this server trusts."""

    code, status = "unapproved_software_statement", 400
    default_description = "The software statement is not approved for use here."


#: CIBA Core §10.1 (``grants/ciba.py``).
CIBA_GRANT: Final = "urn:openid:params:grant-type:ciba"
#: CIBA Core §4 delivery modes offered (``push`` is not).
DELIVERY_MODES: Final = frozenset({"poll", "ping"})
#: Grant types a client may register; each has a module in ``oidc/grants``.
GRANT_TYPES: Final = frozenset(
    {
        "authorization_code", "refresh_token", "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code", CIBA_GRANT,
    }
)  # fmt: skip
#: RFC 7591 §2.1: the response types each grant type needs, and which grant each implies.
RESPONSE_TYPE_GRANTS: Final[Mapping[str, str]] = {"code": "authorization_code"}
#: Methods that prove possession of a key the client registered (jwks or jwks_uri).
KEY_AUTH_METHODS: Final = frozenset(
    {"private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"}
)
APPLICATION_TYPES: Final = frozenset({"web", "native"})
#: Metadata shown back but not acted on (kept in ``Client.metadata``).
DESCRIPTIVE: Final = frozenset(
    {
        "client_uri", "logo_uri", "tos_uri", "policy_uri", "contacts", "software_id",
        "software_version", "application_type",
    }
)  # fmt: skip

Metadata = dict[str, object]
Check = Callable[[object], object]


def _text(max_length: int) -> Check:
    def check(value: object) -> object:
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            raise InvalidClientMetadata(f"must be a non-empty string of at most {max_length}")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise InvalidClientMetadata("must not contain control characters")
        return value.strip()

    return check


def _string_list(item: Check, max_items: int) -> Check:
    def check(value: object) -> object:
        if not isinstance(value, list) or len(value) > max_items:
            raise InvalidClientMetadata(f"must be an array of at most {max_items} strings")
        return list(dict.fromkeys(item(v) for v in value))

    return check


def _web_uri(value: object) -> object:
    """An https URL a person's browser may open (client_uri, logo_uri, tos_uri, ...)."""
    text = _text(2000)(value)
    assert isinstance(text, str)
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname or "#" in text:
        raise InvalidClientMetadata("must be an https URL with a host and no fragment")
    return text


def _redirect_uri(value: object) -> object:
    # RFC 6749 §3.1.2 and RFC 8252 §7 (the rules the admin API applies, redirect_uris.py);
    # whether http on loopback and private-use schemes may be used is a rule on
    # application_type below.
    if not isinstance(value, str) or len(value) > 2000:
        raise InvalidRedirectUri("each redirect URI is a string of at most 2000 characters")
    problem = redirect_uri_problem(value)
    if problem is not None:
        raise InvalidRedirectUri(f"redirect URI {problem}")
    return value


def _one_of(allowed: frozenset[str]) -> Check:
    def check(value: object) -> object:
        if not isinstance(value, str) or value not in allowed:
            raise InvalidClientMetadata(f"must be one of {', '.join(sorted(allowed))}")
        return value

    return check


def _scope(value: object) -> object:
    text = _text(2000)(value)
    assert isinstance(text, str)
    for token in text.split():
        if not all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in token):
            raise InvalidClientMetadata("scope tokens are printable ASCII (RFC 6749 §3.3)")
    return " ".join(dict.fromkeys(text.split()))


def _jwks(value: object) -> object:
    """RFC 7591 §2: a JWK Set by value, public signing keys only."""
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list) or not 1 <= len(keys) <= 10:
        raise InvalidClientMetadata("must be a JWK Set with 1 to 10 keys")
    kids: set[str] = set()
    for jwk in keys:
        if not isinstance(jwk, dict):
            raise InvalidClientMetadata("each key is a JSON object")
        if any(member in jwk for member in ("d", "p", "q", "dp", "dq", "qi", "k")):
            raise InvalidClientMetadata("a JWK Set registered here holds public keys only")
        try:
            kid = verification_key_from_jwk(jwk).kid
        except ValueError as exc:
            raise InvalidClientMetadata(f"unusable key: {exc}") from None
        if kid in kids:
            raise InvalidClientMetadata("each key needs its own kid")
        kids.add(kid)
    return {"keys": keys}


def _logout_uri(value: object) -> object:
    """An absolute https URL (http only on a loopback host), no fragment (§2.2)."""
    text = _text(2000)(value)
    assert isinstance(text, str)
    parts = urlsplit(text)
    loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if not (parts.scheme == "https" or loopback) or not parts.hostname or "#" in text:
        raise InvalidClientMetadata("must be an https URL with a host and no fragment")
    return text


def _delivery_mode(value: object) -> object:
    if value == "push":
        raise InvalidClientMetadata("the push mode is not supported; use poll or ping")
    return _one_of(DELIVERY_MODES)(value)


def _false(value: object) -> object:
    if value is not False:
        raise InvalidClientMetadata("only false is supported (no user_code parameter)")
    return value


def _boolean(value: object) -> object:
    if not isinstance(value, bool):
        raise InvalidClientMetadata("must be true or false")
    return value


#: Every field this server understands, with its check. Order does not matter.
FIELDS: Final[Mapping[str, Check]] = {
    "redirect_uris": _string_list(_redirect_uri, 20),
    "post_logout_redirect_uris": _string_list(_redirect_uri, 20),
    # What client authentication implements (records.AuthMethod): a method added there is
    # accepted here, with the key rule below when it needs one.
    "token_endpoint_auth_method": _one_of(frozenset(m.value for m in AuthMethod)),
    "grant_types": _string_list(_one_of(GRANT_TYPES), 10),
    "response_types": _string_list(_one_of(frozenset(RESPONSE_TYPE_GRANTS)), 5),
    "client_name": _text(200),
    "client_uri": _web_uri,
    "logo_uri": _web_uri,
    "tos_uri": _web_uri,
    "policy_uri": _web_uri,
    "contacts": _string_list(_text(320), 10),
    "scope": _scope,
    "jwks_uri": _web_uri,
    "jwks": _jwks,
    "software_id": _text(200),
    "software_version": _text(100),
    "application_type": _one_of(APPLICATION_TYPES),
    # OpenID Back-Channel Logout §2.2.
    "backchannel_logout_uri": _logout_uri,
    "backchannel_logout_session_required": _boolean,
    # CIBA Core §4: the notification endpoint "MUST use the https scheme".
    "backchannel_token_delivery_mode": _delivery_mode,
    "backchannel_client_notification_endpoint": _web_uri,
    "backchannel_user_code_parameter": _false,
}


def _defaults(meta: Metadata) -> None:
    # RFC 7591 §2 defaults; OIDC Registration §2: application_type defaults to web.
    meta.setdefault("grant_types", ["authorization_code"])
    grants = meta["grant_types"]
    assert isinstance(grants, list)
    meta.setdefault("response_types", ["code"] if "authorization_code" in grants else [])
    meta.setdefault("token_endpoint_auth_method", AuthMethod.CLIENT_SECRET_BASIC.value)
    meta.setdefault("application_type", "web")
    meta.setdefault("redirect_uris", [])


def _keys_by_value_or_reference(meta: Metadata) -> None:
    # RFC 7591 §2: "The jwks_uri and jwks parameters MUST NOT both be present".
    if "jwks" in meta and "jwks_uri" in meta:
        raise InvalidClientMetadata("send jwks or jwks_uri, not both")
    if meta["token_endpoint_auth_method"] in KEY_AUTH_METHODS and not (
        "jwks" in meta or "jwks_uri" in meta
    ):
        raise InvalidClientMetadata("this token_endpoint_auth_method needs jwks or jwks_uri")


def _grants_match_response_types(meta: Metadata) -> None:
    # RFC 7591 §2.1: grant_types and response_types must be consistent.
    grants, responses = meta["grant_types"], meta["response_types"]
    assert isinstance(grants, list)
    assert isinstance(responses, list)
    implied = {RESPONSE_TYPE_GRANTS[r] for r in responses}
    if "authorization_code" in grants and "code" not in responses:
        raise InvalidClientMetadata("grant type authorization_code needs response type code")
    if implied - set(grants):
        raise InvalidClientMetadata("response type code needs grant type authorization_code")
    if "refresh_token" in grants and grants == ["refresh_token"]:
        raise InvalidClientMetadata("refresh_token alone grants nothing")


def _redirects_fit_application_type(meta: Metadata) -> None:
    redirects = meta["redirect_uris"]
    assert isinstance(redirects, list)
    grants = meta["grant_types"]
    assert isinstance(grants, list)
    if "authorization_code" in grants and not redirects:
        raise InvalidRedirectUri("authorization_code needs at least one redirect URI")
    if meta["application_type"] == "native":
        return  # RFC 8252 §7: https, loopback http (§7.3) and private-use schemes (§7.1)
    # A web client's redirect URIs are https (RFC 9700 §4.1.1, RFC 8252 §8.4: loopback and
    # custom schemes are for native apps, which register with application_type native).
    for uri in redirects:
        assert isinstance(uri, str)
        if urlsplit(uri).scheme != "https":
            raise InvalidRedirectUri(
                "a web client's redirect URIs use https; native apps register with "
                "application_type native for loopback or private-use redirect URIs (RFC 8252)"
            )


def _public_clients(meta: Metadata) -> None:
    grants = meta["grant_types"]
    assert isinstance(grants, list)
    if (
        meta["token_endpoint_auth_method"] == AuthMethod.NONE.value
        and "client_credentials" in grants
    ):
        raise InvalidClientMetadata("a public client cannot use client_credentials")


def _ciba(meta: Metadata) -> None:
    grants = meta["grant_types"]
    assert isinstance(grants, list)
    mode = meta.get("backchannel_token_delivery_mode")
    if CIBA_GRANT in grants and mode is None:
        # CIBA Core §4: "REQUIRED" of a client registering for CIBA.
        raise InvalidClientMetadata("the CIBA grant needs a backchannel_token_delivery_mode")
    check_ciba_metadata(
        CIBA_GRANT in grants,
        meta["token_endpoint_auth_method"] == AuthMethod.NONE.value,
        mode if isinstance(mode, str) else None,
        meta.get("backchannel_client_notification_endpoint") is not None,
    )


#: Rules across fields, run in order after the defaults are filled in.
RULES: Final[tuple[Callable[[Metadata], None], ...]] = (
    _defaults,
    _keys_by_value_or_reference,
    _grants_match_response_types,
    _redirects_fit_application_type,
    _public_clients,
    _ciba,
)


def check_ciba_metadata(
    has_grant: bool, is_public: bool, mode: str | None, has_endpoint: bool
) -> None:
    """CIBA Core §4 metadata fits together; InvalidClientMetadata otherwise (the admin API's
    ``ClientCreate`` calls it too)."""
    if has_grant and is_public:
        # CIBA Core §7.1: the client authenticates at the backchannel endpoint.
        raise InvalidClientMetadata("the CIBA grant is for confidential clients")
    if mode is not None and not has_grant:
        raise InvalidClientMetadata(
            "backchannel_token_delivery_mode needs the grant type urn:openid:params:grant-type:ciba"
        )
    if mode == "ping" and not has_endpoint:
        raise InvalidClientMetadata(
            "the ping mode needs a backchannel_client_notification_endpoint"
        )
    if has_endpoint and mode != "ping":
        raise InvalidClientMetadata(
            "backchannel_client_notification_endpoint is only for the ping mode"
        )


def validate_client_metadata(raw: Mapping[str, object]) -> Metadata:
    """The known fields of ``raw``, each checked and normalised, with RFC 7591 defaults.

    Raises InvalidClientMetadata, or InvalidRedirectUri for a redirect URI, naming the field.
    """
    meta: Metadata = {}
    for name, check in FIELDS.items():
        if name not in raw or raw[name] is None:
            continue
        try:
            meta[name] = check(raw[name])
        except (InvalidClientMetadata, InvalidRedirectUri) as exc:
            raise type(exc)(f"{name}: {exc.description}") from None
    for rule in RULES:
        rule(meta)
    return meta


#: Algorithms accepted for private_key_jwt assertions (RFC 7518 §3; FAPI 2.0 §5.4 narrows to
#: PS256/ES256/EdDSA). HMAC is only for client_secret_jwt.
ASSERTION_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SECRET_ASSERTION_ALGORITHMS: Final = frozenset({"HS256"})
MAX_JWKS_KEYS: Final = 20
MAX_JWKS_BYTES: Final = 64 * 1024
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def jwk_set(document: object) -> dict[str, VerificationKey]:
    """The usable signature keys of a JWK Set (RFC 7517 §5) by kid; unusable ones skipped.
    Raises ValueError when the document is not a JWK Set."""
    members = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(members, list):
        raise ValueError("a JWK Set is an object with a keys array")
    keys: dict[str, VerificationKey] = {}
    for jwk in members[:MAX_JWKS_KEYS]:
        if isinstance(jwk, Mapping):
            try:
                key = verification_key_from_jwk(jwk)
            except ValueError:
                continue
            keys[key.kid] = key
    return keys


def check_client_jwks(value: Mapping[str, object]) -> None:
    """A client's registered JWK Set: public keys only, at least one usable, bounded."""
    if len(json.dumps(value)) > MAX_JWKS_BYTES:
        raise ValueError("jwks is too large")
    members = value.get("keys")
    if not isinstance(members, list) or len(members) > MAX_JWKS_KEYS:
        raise ValueError(f"jwks must have a keys array of at most {MAX_JWKS_KEYS} keys")
    for jwk in members:
        if isinstance(jwk, Mapping) and _PRIVATE_MEMBERS & jwk.keys():
            # A private or symmetric key in a public registration is a leaked key.
            raise ValueError("jwks must hold public keys only")
    if not jwk_set(value):
        raise ValueError("jwks has no usable signature key (each needs a kid)")


def check_key_metadata(
    method: AuthMethod,
    jwks: Mapping[str, object] | None,
    jwks_uri: str | None,
    signing_alg: str | None,
) -> None:
    """The key metadata fits the client's token endpoint auth method; ValueError otherwise."""
    if jwks is not None and jwks_uri is not None:
        # OIDC Dynamic Client Registration §2: jwks and jwks_uri must not both be present.
        raise ValueError("give jwks or jwks_uri, not both")
    if method is AuthMethod.PRIVATE_KEY_JWT and jwks is None and jwks_uri is None:
        raise ValueError("private_key_jwt needs the client's keys: jwks or jwks_uri")
    if signing_alg is not None:
        allowed = (
            SECRET_ASSERTION_ALGORITHMS
            if method is AuthMethod.CLIENT_SECRET_JWT
            else ASSERTION_ALGORITHMS
        )
        if method not in (AuthMethod.PRIVATE_KEY_JWT, AuthMethod.CLIENT_SECRET_JWT):
            raise ValueError("token_endpoint_auth_signing_alg is for *_jwt auth methods")
        if signing_alg not in allowed:
            raise ValueError(f"token_endpoint_auth_signing_alg must be one of {sorted(allowed)}")


def check_request_object_metadata(
    require_signed: bool, signing_alg: str | None, *, has_keys: bool
) -> None:
    """Request object metadata (RFC 9101 §10.5, OIDC Registration §2); ValueError otherwise."""
    if signing_alg is not None and signing_alg not in ASSERTION_ALGORITHMS:
        raise ValueError(
            f"request_object_signing_alg must be one of {sorted(ASSERTION_ALGORITHMS)}"
        )
    if require_signed and not has_keys:
        raise ValueError("require_signed_request_object needs the client's keys (jwks or jwks_uri)")
