"""Seed 000's request validation as its clients see it: FastAPI's 422 listing every invalid
field, with the seed's messages (``TelecomIdentifierDTO`` as a query model, ``auth_code`` a
required form field). Used when ``TOKEND_BROKER__SEED_ERRORS`` is on; otherwise the service's
own checks answer 400 with the first problem.

Hand-written rather than a pydantic query model: the token route reads its query itself (hot
path, see ``routes.py``), and the seed's rules are four lines. The ``msg`` texts are pydantic
v2's (``Value error, ...``); tokend also requires digits, which the seed did not (a non-digit MCC
or SN is refused here with the same shape instead of reaching an operator).
"""

from __future__ import annotations

from tokend.broker.service import MAX_AUTH_CODE_CHARS
from tokend.core.errors import JsonValue, ValidationFailed
from tokend.core.phone_numbers import MAX_DIGITS


def _value_error(loc: list[str], message: str, value: JsonValue) -> dict[str, JsonValue]:
    return {
        "type": "value_error",
        "loc": loc,
        "msg": f"Value error, {message}",
        "input": value,
        "ctx": {"error": {}},
    }


def _missing(loc: list[str]) -> dict[str, JsonValue]:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}


def seed_errors(mcc: str | None, sn: str | None, auth_code: str | None) -> list[JsonValue]:
    """Every problem of the request, in FastAPI's order (query, then body); empty if none."""
    errors: list[JsonValue] = []
    query = {name: value for name, value in (("mcc", mcc), ("sn", sn)) if value is not None}
    if sum(len(value) for value in query.values()) > MAX_DIGITS:
        # The seed's before-model validator: one model-level error, the fields unchecked.
        errors.append(_value_error(["query"], "Total length must be less than 15", query))
    else:
        if mcc is None:
            errors.append(_missing(["query", "mcc"]))
        elif not 1 <= len(mcc) <= 3 or not (mcc.isascii() and mcc.isdigit()):
            errors.append(_value_error(["query", "mcc"], "MCC must be between 1 to 3 digits", mcc))
        if sn is None:
            errors.append(_missing(["query", "sn"]))
        elif not sn:
            errors.append(_value_error(["query", "sn"], "SN cannot be empty", sn))
        elif not (sn.isascii() and sn.isdigit()):
            errors.append(_value_error(["query", "sn"], "SN must contain digits only", sn))
    if not auth_code:
        # FastAPI counts an empty form value as absent.
        errors.append(_missing(["body", "auth_code"]))
    elif len(auth_code) > MAX_AUTH_CODE_CHARS:
        errors.append(
            {
                "type": "string_too_long",
                "loc": ["body", "auth_code"],
                "msg": f"String should have at most {MAX_AUTH_CODE_CHARS} characters",
                # Never the code itself in an error body.
                "input": None,
                "ctx": {"max_length": MAX_AUTH_CODE_CHARS},
            }
        )
    return errors


def check_seed_input(mcc: str | None, sn: str | None, auth_code: str | None) -> None:
    """Raise the seed's 422 when the request has any invalid field."""
    errors = seed_errors(mcc, sn, auth_code)
    if errors:
        raise ValidationFailed(details={"errors": errors})
