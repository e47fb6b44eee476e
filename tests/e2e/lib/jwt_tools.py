"""JWT helpers for the e2e tests, stdlib only.

Decoding without verification, RS256 verification against a JWKS, and forging tokens
(RS256 with a test key, HS256 with any secret, `alg: none`) for the negative matrix of
docs/security.md item 10. RSA is done with Python integers (PKCS#1 v1.5, SHA-256): slow-ish
(~5 ms per signature) but dependency-free; fine for tests, never for production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

# DER prefix of DigestInfo for SHA-256 (RFC 8017 §9.2 note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def b64url_encode(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(data: str) -> bytes:
    data = data.strip()
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _json_b64(obj: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(obj, separators=(",", ":")).encode())


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a compact JWS, without checking the signature."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"not a compact JWS: {len(parts)} parts")
    return json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))


def _int(b64: str) -> int:
    return int.from_bytes(b64url_decode(b64), "big")


def _rsa_pkcs1v15_sha256_em(message: bytes, k: int) -> bytes:
    t = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    if k < len(t) + 11:
        raise ValueError("RSA modulus too short")
    return b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


def sign_rs256(claims: dict[str, Any], jwk: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """Compact JWS signed RS256 with the private RSA JWK `jwk`.

    The header defaults to {"alg": "RS256", "typ": "at+jwt", "kid": jwk["kid"]}; keys given
    in `header` override (a value of None removes the field).
    """
    h: dict[str, Any] = {"alg": "RS256", "typ": "at+jwt"}
    if "kid" in jwk:
        h["kid"] = jwk["kid"]
    for key, value in (header or {}).items():
        if value is None:
            h.pop(key, None)
        else:
            h[key] = value
    signing_input = f"{_json_b64(h)}.{_json_b64(claims)}".encode("ascii")
    n, d = _int(jwk["n"]), _int(jwk["d"])
    k = (n.bit_length() + 7) // 8
    m = int.from_bytes(_rsa_pkcs1v15_sha256_em(signing_input, k), "big")
    s = pow(m, d, n).to_bytes(k, "big")
    return f"{signing_input.decode()}.{b64url_encode(s)}"


def sign_hs256(claims: dict[str, Any], secret: bytes, header: dict[str, Any] | None = None) -> str:
    """Compact JWS with alg HS256 (e.g. the "RSA public key as HMAC secret" confusion attack)."""
    h = {"alg": "HS256", "typ": "at+jwt", **(header or {})}
    signing_input = f"{_json_b64(h)}.{_json_b64(claims)}".encode("ascii")
    sig = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{b64url_encode(sig)}"


def unsigned(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """`alg: none` token with an empty signature."""
    h = {"alg": "none", "typ": "at+jwt", **(header or {})}
    return f"{_json_b64(h)}.{_json_b64(claims)}."


def tamper(token: str) -> str:
    """Same token with one signature bit flipped (bad signature)."""
    head, payload, sig = token.split(".")
    raw = bytearray(b64url_decode(sig))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{b64url_encode(bytes(raw))}"


def public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    """The public part of an RSA JWK (what the JWKS publishes)."""
    return {k: v for k, v in jwk.items() if k in ("kty", "n", "e", "kid", "alg", "use")}


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _der_int(i: int) -> bytes:
    b = i.to_bytes((i.bit_length() + 8) // 8, "big")  # leading 0x00 keeps it positive
    return _der(0x02, b)


def public_pem(jwk: dict[str, Any]) -> bytes:
    """SubjectPublicKeyInfo PEM of an RSA JWK (bytes, as a naive verifier would use them)."""
    rsa_pub = _der(0x30, _der_int(_int(jwk["n"])) + _der_int(_int(jwk["e"])))
    alg_id = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
    spki = _der(0x30, alg_id + _der(0x03, b"\x00" + rsa_pub))
    b64 = base64.b64encode(spki).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return ("-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n").encode()


def verify_rs256(token: str, jwks: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    """Check an RS256 signature against the key with the header's kid; return the payload.

    Only the signature is checked (no iss/aud/exp validation). Raises ValueError.
    """
    keys = jwks["keys"] if isinstance(jwks, dict) else jwks
    header, payload = decode_unverified(token)
    if header.get("alg") != "RS256":
        raise ValueError(f"alg {header.get('alg')!r} is not RS256")
    key = next((k for k in keys if k.get("kid") == header.get("kid")), None)
    if key is None:
        raise ValueError(f"no key with kid {header.get('kid')!r}")
    head, body, sig = token.split(".")
    n, e = _int(key["n"]), _int(key["e"])
    k = (n.bit_length() + 7) // 8
    s = int.from_bytes(b64url_decode(sig), "big")
    if s >= n:
        raise ValueError("signature out of range")
    em = pow(s, e, n).to_bytes(k, "big")
    if not hmac.compare_digest(em, _rsa_pkcs1v15_sha256_em(f"{head}.{body}".encode(), k)):
        raise ValueError("bad signature")
    return payload
