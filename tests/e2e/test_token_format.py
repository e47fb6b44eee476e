"""Tokens minted by a running Patrol pass an independent Marvin32 check.

The checker below is written from docs/token-format.md §1 alone (Python, no Rust code
shared), verified first against the published vectors, then applied to tokens
created through Patrol's API.
"""

from __future__ import annotations

import base64
import re
import sqlite3
import subprocess

import pytest
import requests

M32 = 0xFFFFFFFF
SEED = 0x44656661756C7430
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PATTERN = re.compile(r"^[A-Za-z0-9]{52}JQQJ9[9DH][A-Za-z0-9][A-L][A-Za-z0-9]{16}[A-Za-z][A-Za-z0-9]{7}$")


def rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & M32


def marvin(data: bytes, seed: int) -> int:
    p0, p1 = seed & M32, (seed >> 32) & M32

    def block(p0: int, p1: int) -> tuple[int, int]:
        p1 ^= p0
        p0 = rotl(p0, 20)
        p0 = (p0 + p1) & M32
        p1 = rotl(p1, 9)
        p1 ^= p0
        p0 = rotl(p0, 27)
        p0 = (p0 + p1) & M32
        p1 = rotl(p1, 19)
        return p0, p1

    full = len(data) // 4 * 4
    for i in range(0, full, 4):
        p0 = (p0 + int.from_bytes(data[i:i + 4], "little")) & M32
        p0, p1 = block(p0, p1)
    tail = data[full:]
    if len(tail) == 0:
        final = 0x80
    elif len(tail) == 1:
        final = 0x8000 | tail[0]
    elif len(tail) == 2:
        final = 0x800000 | tail[1] << 8 | tail[0]
    else:
        final = 0x80000000 | tail[2] << 16 | tail[1] << 8 | tail[0]
    p0 = (p0 + final) & M32
    p0, p1 = block(p0, p1)
    p0, p1 = block(p0, p1)
    return (p1 << 32) | p0


def base62_checksum(key80: str) -> str:
    data = base64.b64decode(key80)
    h = marvin(data, SEED)
    ck = ((h >> 32) ^ (h & M32)).to_bytes(4, "little")
    n = int.from_bytes(ck, "big")
    digits = ""
    while n:
        n, r = divmod(n, 62)
        digits = B62[r] + digits
    lead = len(ck) - len(ck.lstrip(b"\0"))
    text = ("0" * lead + digits).ljust(6, "0")
    return text[:4]


def valid(token: str) -> bool:
    return bool(PATTERN.match(token)) and base62_checksum(token[:80]) == token[80:]


def test_the_independent_checker_matches_the_published_vectors():
    assert marvin(b"abc", 0xD53CD9CECD0893B7) == 0x22C74339492769BF
    assert marvin(b"abcdefghijklmnopqrstuvwxyz", 0x0DDDDEEEEFFFF000) == 0xA128EB7E7260ACA2
    assert marvin(b"", 0x004FB61A001BDBCC) == 0x30ED35C100CD3C7D
    assert marvin(bytes([175]), 0x004FB61A001BDBCC) == 0x48E73FC77D75DDC1
    assert marvin(bytes([231, 15]), 0x004FB61A001BDBCC) == 0xB5F6E1FC485DBFF8
    assert marvin(bytes([55, 244, 149]), 0x004FB61A001BDBCC) == 0xF0B07C789B8CF7E8
    key = "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AW"
    assert valid(key)
    assert not valid(key[:10] + ("x" if key[10] != "x" else "y") + key[11:])


@pytest.fixture(scope="module")
def dev(patrol_binary, tmp_path_factory):
    from lib.patrol import PatrolServer

    data = tmp_path_factory.mktemp("fmt")
    srv = PatrolServer(patrol_binary, ["dev", "--port", "{port}", "--data-dir", "{data_dir}"], data_dir=data / "d")
    yield srv
    srv.stop()


def test_minted_tokens_pass_an_independent_checksum_check(dev, patrol_binary):
    jwt = subprocess.run(
        [str(patrol_binary), "dev", "token", "--user", "alice", "--data-dir", str(dev.data_dir)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    url = dev.url("/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1")
    secrets = []
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {jwt}"
        for i in range(60):
            r = s.post(url, json={"displayName": f"fmt-{i}", "scope": "vso.code"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["patTokenError"] == "none"
            secrets.append(body["patToken"]["token"])
    assert len(set(secrets)) == len(secrets)
    for t in secrets:
        assert len(t) == 84
        assert t[76:80] == "AZDO"
        assert valid(t), "a minted token fails the independent Marvin32 check"
    # And the database never holds their text.
    db = dev.data_dir / "patrol.db"
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(FULL)")
    finally:
        con.close()
    blob = b"".join(p.read_bytes() for p in dev.data_dir.glob("patrol.db*"))
    for t in secrets:
        assert t.encode() not in blob
        assert t[:52].encode() not in blob
