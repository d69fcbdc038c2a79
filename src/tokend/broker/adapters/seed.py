"""Seed 000 operators: ``POST {token_url}?mcc&sn`` with form ``auth_code`` and ``telco_auth``.

The seed broker proves itself with a ``telco_auth`` form field holding the JSON
``{"client_id", "client_secret"}`` of the directory entry (CONTRACTS.md, "Broker → telco
authentication"); ``auth_method: client_secret_basic`` sends HTTP Basic instead.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final

import httpx

from tokend.broker.upstream import OperatorToken, UpstreamCall, malformed, refusal
from tokend.core.oauth_client import error_detail

NAME: Final = "seed"


async def fetch_token(call: UpstreamCall) -> OperatorToken:
    entry = call.entry
    secret = entry.client_secret.value if entry.client_secret else ""
    form = {"auth_code": call.auth_code}
    auth: httpx.BasicAuth | None = None
    if entry.auth_method == "client_secret_basic":
        auth = httpx.BasicAuth(entry.client_id, secret)
    else:
        form["telco_auth"] = json.dumps({"client_id": entry.client_id, "client_secret": secret})
    response = await call.http.post(
        entry.token_url,
        params={"mcc": call.mcc, "sn": call.sn},
        data=form,
        auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        timeout=call.timeout,
    )
    if response.status_code != 200:
        status = response.status_code
        raise refusal(
            call,
            status,
            error_detail(response),
            rejected=status in (401, 403),
            raw_body=response.text,
        )
    return _token(call, response)


def _token(call: UpstreamCall, response: httpx.Response) -> OperatorToken:
    """Seed TokenDTO: ``{access_token, grant_type, token_type, iat, exp}``, datetimes ISO-8601."""
    try:
        body = response.json()
        token, iat, exp = body["access_token"], body["iat"], body["exp"]
        issued_at, expires_at = datetime.fromisoformat(iat), datetime.fromisoformat(exp)
    except (ValueError, KeyError, TypeError):
        raise malformed(call, "a malformed token response") from None
    if not isinstance(token, str) or not token or expires_at.tzinfo is None:
        raise malformed(call, "a malformed token response")
    return OperatorToken(token, issued_at, expires_at)
