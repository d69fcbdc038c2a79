from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes

from tokend.core.errors import InvalidRequest
from tokend.core.forms import parse_params
from tokend.core.pkce import s256, verifier_matches

VERIFIER = "dBjftJeZ4CVP-mJ92K-o4ofO9fZ1lmlOcBGWdoGT6w0"


def _challenge(verifier: str) -> str:
    # RFC 7636 §4.2, computed with another library than the code under test.
    digest = hashes.Hash(hashes.SHA256())
    digest.update(verifier.encode("ascii"))
    return base64.urlsafe_b64encode(digest.finalize()).rstrip(b"=").decode()


CHALLENGE = _challenge(VERIFIER)


def test_s256_is_base64url_of_the_sha256_of_the_verifier() -> None:
    assert s256(VERIFIER) == CHALLENGE
    assert verifier_matches(VERIFIER, CHALLENGE, "S256")


@pytest.mark.parametrize("verifier", ["short", VERIFIER[:-1] + "x", VERIFIER + " ", "é" * 50])
def test_other_verifiers_do_not_match(verifier: str) -> None:
    assert not verifier_matches(verifier, CHALLENGE, "S256")


def test_repeated_parameters_are_refused_except_resource() -> None:
    params = parse_params([("resource", "a"), ("resource", "b"), ("scope", "x")])
    assert params.all("resource") == ("a", "b")
    with pytest.raises(InvalidRequest, match="parameter scope was sent more than once"):
        parse_params([("scope", "x"), ("scope", "y")])
