"""Identity and authentication (docs/protocol.md sections 1, 2, 3 `auth`, 5
auth_timeout; docs/design.md [auth]): every handshake answer of the auth plugin in
modes none, static, jwt (HS256, RS256, ES256) and lua, the `auth` command, the
tokens file reload on SIGHUP, and configuration errors refused at start.

JWTs are built here with the standard library only (base64url + hmac) and the
openssl CLI for RS256/ES256 signatures; keys are generated into a tmp dir."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import PLUGIN_DIR, closed_with, recv, request, run

HAS_LUA = os.path.exists(os.path.join(PLUGIN_DIR, "lua.so"))

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}


# --- helpers ---

def handshake(srv, query=None):
    """A raw upgrade request to /ws: (status, body text)."""
    path = "/ws" + (f"?{query}" if query is not None else "")
    status, _, body = srv.http("GET", path, headers=UPGRADE)
    return status, body.decode("utf-8", "replace")


def assert_401(srv, query, why):
    status, body = handshake(srv, query)
    assert status == 401, (query, status, body)
    assert why in body, (query, body)
    assert "\n" not in body.strip(), body


def auth_sections(**auth):
    """auth + members (for `me`); add more plugins per test."""
    return {"auth": dict(auth), "members": {}}


async def whoami(ws):
    reply = await request(ws, "me", ref="who")
    assert reply["type"] == "me", reply
    return reply["data"]["user"]


async def assert_reply(ws, type_, data=None, ref=None, want="auth", user=None, code=None):
    """Send a command; assert the reply is `want` {user} or an error with code."""
    reply = await request(ws, type_, data, ref)
    assert reply.get("ref") == ref, reply
    if code:
        assert reply["type"] == "error", reply
        assert reply["data"]["code"] == code, reply
        assert isinstance(reply["data"]["message"], str) and reply["data"]["message"], reply
        return reply
    want_reply = {"type": want, "data": {"user": user}}
    if ref is not None:
        want_reply["ref"] = ref
    assert reply == want_reply, reply
    return reply


def write_tokens(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


# --- JWT building, stdlib only ---

def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_parts(claims, alg, header=None):
    head = {"alg": alg, "typ": "JWT"}
    head.update(header or {})
    return b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())


def jwt_hmac(claims, secret, alg="HS256", header=None):
    signing = jwt_parts(claims, alg, header)
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    sig = hmac.new(secret.encode(), signing.encode(), digest).digest()
    return signing + "." + b64url(sig)


def der_to_raw(der, size=32):
    """ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs) -> r || s, as JWS wants."""
    assert der[0] == 0x30, der
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\x00").rjust(size, b"\x00")
        i += 2 + n
    return out


def jwt_pem(claims, key_path, alg):
    """RS256 / ES256 signed with the private key at key_path by the openssl CLI."""
    signing = jwt_parts(claims, alg)
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path],
                         input=signing.encode(), capture_output=True, check=True).stdout
    if alg == "ES256":
        sig = der_to_raw(sig)
        assert len(sig) == 64
    return signing + "." + b64url(sig)


def jwt_none(claims):
    return jwt_parts(claims, "none") + "."


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """RSA and EC P-256 key pairs (+ a second RSA pair), as PEM file paths."""
    d = tmp_path_factory.mktemp("keys")

    def ssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    k = {name: str(d / f"{name}.pem") for name in
         ("rsa", "rsa_pub", "rsa2", "rsa2_pub", "ec", "ec_pub")}
    for rsa in ("rsa", "rsa2"):
        ssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k[rsa])
        ssl("pkey", "-in", k[rsa], "-pubout", "-out", k[rsa + "_pub"])
    ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", k["ec"])
    ssl("pkey", "-in", k["ec"], "-pubout", "-out", k["ec_pub"])
    return k


SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret"


def claims(sub="alice", **kw):
    c = {"sub": sub}
    c.update(kw)
    return c


# --- mode none ---

BAD_CLIENT_IDS = [
    None,                       # no query at all
    "other=1",                  # no client_id
    "client_id",                # no value
    "client_id=",               # empty
    "client_id=0",              # "0"
    "client_id=" + "a" * 65,    # 65 bytes
    "client_id=a%20b",          # space
    "client_id=a/b",
    "client_id=a%2Fb",
    "client_id=%C3%A9t%C3%A9",  # non-ASCII
    "client_id=a%00b",          # would be cut to "a"
    "client_id=%zz",            # bad escape
]


def test_none_rejects_bad_client_id(server):
    srv = server(sections=auth_sections(mode="none"))
    for query in BAD_CLIENT_IDS:
        assert_401(srv, query, "client_id")


def test_none_accepts_client_id_rules(server):
    srv = server(sections=auth_sections(mode="none"))
    longest = "b" * 64

    async def go():
        for cid, want in ((longest, longest), ("a.b_c@d:e-f", "a.b_c@d:e-f"),
                          ("x%40y", "x@y"), ("00", "00")):
            ws = await srv.ws(query={"client_id": cid})
            assert await whoami(ws) == want
            await ws.close()
    run(go())


def test_none_auth_command(server):
    srv = server(sections=auth_sections(mode="none"))

    async def go():
        ws = await srv.ws(client_id="alice")
        await assert_reply(ws, "auth", ref=1, code="bad_request")              # no data
        await assert_reply(ws, "auth", {}, ref=2, code="bad_request")          # no token
        await assert_reply(ws, "auth", {"token": ""}, ref=3, code="bad_request")
        await assert_reply(ws, "auth", {"token": 5}, ref=4, code="bad_request")
        await assert_reply(ws, "auth", {"token": None}, ref=5, code="bad_request")
        await assert_reply(ws, "auth", {"token": ["x"]}, ref=6, code="bad_request")
        # Any token is ignored: the user is the client_id.
        await assert_reply(ws, "auth", {"token": "whatever"}, ref="r", user="alice")
        await assert_reply(ws, "auth", {"token": "x", "user": "bob"}, ref=7, user="alice")
        assert await whoami(ws) == "alice"
    run(go())


def test_none_guests(server):
    srv = server(sections=auth_sections(mode="none", guests="yes"))

    async def go():
        a = await srv.ws()
        b = await srv.ws(query={"client_id": ""})
        ua, ub = await whoami(a), await whoami(b)
        for u in (ua, ub):
            assert u.startswith("guest-") and len(u) <= 64, u
            assert all(c.isalnum() or c in "._@:-" for c in u), u
        assert ua != ub
        # A named client is still itself, and a bad name is still refused.
        c = await srv.ws(client_id="carol")
        assert await whoami(c) == "carol"
        await assert_reply(a, "auth", {"token": "t"}, user=ua)
    run(go())
    assert_401(srv, "client_id=0", "client_id")
    assert_401(srv, "client_id=a%20b", "client_id")


def test_none_without_guests_refuses_anonymous(server):
    srv = server(sections=auth_sections(mode="none", guests="no"))
    assert_401(srv, None, "client_id")


# --- mode static ---

TOKENS = """# test tokens
tok-alice alice

tok-bob   bob
bad-line-without-user
tok-x bad/user
tok-alice mallory
"""


def static_srv(server, tmp_path, text=TOKENS, extra=None, server_keys=None, **auth):
    path = write_tokens(tmp_path / "tokens.conf", text)
    sections = auth_sections(mode="static", tokens_file=path, **auth)
    sections.update(extra or {})
    return server(sections=sections, server_keys=server_keys)


def test_static_tokens_file_defaults_to_tokens_conf_beside_the_config(server, tmp_path):
    wd = tmp_path / "etc"
    wd.mkdir()
    write_tokens(wd / "tokens.conf", "tok-carol carol\n")
    srv = server(sections=auth_sections(mode="static"), workdir=str(wd), start=False)
    srv.start()
    assert re.search(r"1 token from \S*/etc/tokens\.conf", srv.log()), srv.log()

    async def go():
        ws = await srv.ws(query={"token": "tok-carol"})
        assert await whoami(ws) == "carol"
        await ws.close()

    run(go())


def test_static_handshake(server, tmp_path):
    srv = static_srv(server, tmp_path)
    # Bad lines are warned with their line numbers; the duplicate does not win.
    log = srv.log()
    for line in (5, 6, 7):
        assert f"line {line}" in log, log

    async def go():
        a = await srv.ws(query={"token": "tok-alice"})
        assert await whoami(a) == "alice"
        b = await srv.ws(query={"token": "tok-bob", "client_id": "mallory"})
        assert await whoami(b) == "bob"  # client_id means nothing here
    run(go())
    for q in ("token=nope", "token=", "token=tok-alic", "token=TOK-ALICE",
              "token=bad-line-without-user", "token=tok-x", "token=%zz",
              "token=tok-alice%00x", "token"):
        assert_401(srv, q, "invalid token")


def test_static_token_param(server, tmp_path):
    srv = static_srv(server, tmp_path, token_param="t")

    async def go():
        ws = await srv.ws(query={"t": "tok-alice"})
        assert await whoami(ws) == "alice"
        # "token" is now an ordinary, ignored parameter: unauthenticated.
        ws2 = await srv.ws(query={"token": "tok-alice"})
        await assert_reply(ws2, "me", code="unauthenticated")
    run(go())
    assert_401(srv, "t=wrong", "invalid token")


def test_static_unauthenticated_then_auth(server, tmp_path):
    srv = static_srv(server, tmp_path)

    async def go():
        ws = await srv.ws()  # no token: opens unauthenticated
        for t, data in (("me", None), ("list", None), ("members", {"room": "r"}),
                        ("no_such_type", None)):
            await assert_reply(ws, t, data, ref=t, code="unauthenticated")
        pong = await request(ws, "ping", ref=1)
        assert pong["type"] == "pong" and pong["ref"] == 1, pong
        await assert_reply(ws, "auth", {}, ref=2, code="bad_request")
        await assert_reply(ws, "auth", {"token": ""}, ref=3, code="bad_request")
        await assert_reply(ws, "auth", {"token": 7}, ref=4, code="bad_request")
        r = await assert_reply(ws, "auth", {"token": "wrong"}, ref=5, code="auth_failed")
        assert "invalid token" in r["data"]["message"]
        # Still open, still unauthenticated.
        await assert_reply(ws, "me", ref=6, code="unauthenticated")
        await assert_reply(ws, "auth", {"token": "tok-alice"}, ref=7, user="alice")
        assert await whoami(ws) == "alice"
        # Same identity again: fine. Another one: bad_request. A bad one: auth_failed.
        await assert_reply(ws, "auth", {"token": "tok-alice"}, ref=8, user="alice")
        await assert_reply(ws, "auth", {"token": "tok-bob"}, ref=9, code="bad_request")
        await assert_reply(ws, "auth", {"token": "wrong"}, ref=10, code="auth_failed")
        assert await whoami(ws) == "alice"
    run(go())


def test_static_auth_on_handshake_authenticated(server, tmp_path):
    srv = static_srv(server, tmp_path)

    async def go():
        ws = await srv.ws(query={"token": "tok-bob"})
        await assert_reply(ws, "auth", {"token": "tok-bob"}, ref="same", user="bob")
        await assert_reply(ws, "auth", {"token": "tok-alice"}, ref="other", code="bad_request")
        assert await whoami(ws) == "bob"
    run(go())


def test_static_auth_reply_before_backlog(server, tmp_path):
    srv = static_srv(server, tmp_path, extra={"message": {}, "store_memory": {}})

    async def go():
        bob = await srv.ws(query={"token": "tok-bob"})
        ack = await request(bob, "message", {"to": "alice", "text": "while you were out"}, ref=1)
        assert ack["type"] == "ack", ack
        alice = await srv.ws()
        await assert_reply(alice, "auth", {"token": "tok-alice"}, ref="a", user="alice")
        msg = await recv(alice)
        assert msg["type"] == "message", msg
        assert msg["data"]["from"] == "bob" and msg["data"]["text"] == "while you were out"
        assert msg["data"]["id"] == ack["data"]["id"]
    run(go())


def test_static_reload_on_sighup(server, tmp_path):
    srv = static_srv(server, tmp_path)

    async def before():
        ws = await srv.ws(query={"token": "tok-alice"})
        assert await whoami(ws) == "alice"
        await ws.close()
    run(before())
    write_tokens(tmp_path / "tokens.conf", "tok-carol carol\ntok-bob bob\n")
    assert_401(srv, "token=tok-carol", "invalid token")  # not before the signal
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"auth.*reloaded")

    async def after():
        c = await srv.ws(query={"token": "tok-carol"})
        assert await whoami(c) == "carol"
        b = await srv.ws(query={"token": "tok-bob"})
        assert await whoami(b) == "bob"
        u = await srv.ws()
        await assert_reply(u, "auth", {"token": "tok-alice"}, code="auth_failed")
        await assert_reply(u, "auth", {"token": "tok-carol"}, user="carol")
    run(after())
    assert_401(srv, "token=tok-alice", "invalid token")


def test_static_reload_failure_keeps_tokens(server, tmp_path):
    srv = static_srv(server, tmp_path)
    os.remove(tmp_path / "tokens.conf")
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"reload failed")

    async def go():
        ws = await srv.ws(query={"token": "tok-alice"})
        assert await whoami(ws) == "alice"
    run(go())


def test_auth_timeout_closes_4002(server, tmp_path):
    # 3 s, not 1: `authed` must get its auth in before the limit, and on a
    # loaded machine its handshake and auth alone have taken over a second.
    srv = static_srv(server, tmp_path, server_keys={"auth_timeout": 3})

    async def go():
        t0 = time.monotonic()
        idle = await srv.ws()
        authed = await srv.ws()
        await assert_reply(authed, "auth", {"token": "tok-bob"}, user="bob")
        via_query = await srv.ws(query={"token": "tok-alice"})
        code, _ = await closed_with(idle, timeout=15)
        assert code == 4002
        assert time.monotonic() - t0 >= 2.9
        await asyncio.sleep(0.5)
        for ws, user in ((authed, "bob"), (via_query, "alice")):
            assert await whoami(ws) == user  # authenticated ones stay
    run(go())


# --- mode jwt ---

def jwt_srv(server, **auth):
    auth.setdefault("jwt_leeway", 5)
    return server(sections=auth_sections(mode="jwt", **auth))


def test_jwt_hs256(server):
    srv = jwt_srv(server, jwt_alg="HS256", jwt_secret=SECRET)
    now = int(time.time())
    good = jwt_hmac(claims("alice", exp=now + 60, nbf=now - 60, iat=now), SECRET)

    async def go():
        ws = await srv.ws(query={"token": good})
        assert await whoami(ws) == "alice"
        # No exp at all is accepted; exp/nbf inside the leeway too.
        for c in (claims("bob"), claims("bob", exp=now - 2), claims("bob", nbf=now + 2)):
            ws = await srv.ws(query={"token": jwt_hmac(c, SECRET)})
            assert await whoami(ws) == "bob"
        # The auth command takes the same tokens.
        u = await srv.ws()
        await assert_reply(u, "auth", {"token": good}, user="alice")
    run(go())


def test_jwt_hs256_refusals(server):
    srv = jwt_srv(server, jwt_alg="HS256", jwt_secret=SECRET)
    now = int(time.time())
    good = jwt_hmac(claims("alice"), SECRET)
    head, body, sig = good.split(".")
    evil_body = b64url(json.dumps(claims("admin")).encode())
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    cases = [
        (jwt_hmac(claims(exp=now - 100), SECRET), "expired"),
        (jwt_hmac(claims(nbf=now + 100), SECRET), "nbf"),
        (jwt_hmac(claims(), "wrong-secret-wrong-secret-wrong"), "signature"),
        (jwt_none(claims()), "alg none"),
        (jwt_parts(claims(), "none") + "." + sig, "alg none"),
        (f"{head}.{evil_body}.{sig}", "signature"),
        (f"{head}.{flipped}.{sig}", "invalid token"),
        (jwt_hmac(claims(), SECRET, alg="HS384"), "configured HS256"),
        (jwt_hmac(claims(), SECRET, alg="HS512"), "configured HS256"),
        (jwt_hmac(claims("bad user"), SECRET), "sub"),
        (jwt_hmac(claims("0"), SECRET), "sub"),
        (jwt_hmac(claims("a" * 65), SECRET), "sub"),
        (jwt_hmac({"exp": now + 60}, SECRET), "sub"),
        (jwt_hmac(claims(exp="tomorrow"), SECRET), "exp"),
        ("not-a-jwt", "invalid token"),
        (good + ".extra", "invalid token"),
    ]
    for tok, why in cases:
        assert_401(srv, "token=" + tok, why)

    async def go():
        ws = await srv.ws()
        for tok, why in cases[:6]:
            r = await assert_reply(ws, "auth", {"token": tok}, code="auth_failed")
            assert why in r["data"]["message"], (why, r)
        await assert_reply(ws, "auth", {"token": good}, user="alice")
    run(go())


def test_jwt_rs256(server, keys):
    srv = jwt_srv(server, jwt_alg="RS256", jwt_public_key=keys["rsa_pub"])
    now = int(time.time())

    async def go():
        ws = await srv.ws(query={"token": jwt_pem(claims("rsa-user", exp=now + 60),
                                                  keys["rsa"], "RS256")})
        assert await whoami(ws) == "rsa-user"
    run(go())
    assert_401(srv, "token=" + jwt_pem(claims(), keys["rsa2"], "RS256"), "signature")
    assert_401(srv, "token=" + jwt_pem(claims(exp=now - 100), keys["rsa"], "RS256"), "expired")
    assert_401(srv, "token=" + jwt_pem(claims(nbf=now + 100), keys["rsa"], "RS256"), "nbf")
    assert_401(srv, "token=" + jwt_none(claims()), "alg none")
    # Key confusion: HS256 keyed with the public key's PEM text.
    with open(keys["rsa_pub"]) as f:
        pub = f.read()
    assert_401(srv, "token=" + jwt_hmac(claims(), pub), "configured RS256")
    # An ES256 token on an RS256 server.
    assert_401(srv, "token=" + jwt_pem(claims(), keys["ec"], "ES256"), "configured RS256")


def test_jwt_es256(server, keys):
    srv = jwt_srv(server, jwt_alg="ES256", jwt_public_key=keys["ec_pub"])
    now = int(time.time())

    async def go():
        ws = await srv.ws(query={"token": jwt_pem(claims("ec-user", exp=now + 60),
                                                  keys["ec"], "ES256")})
        assert await whoami(ws) == "ec-user"
        u = await srv.ws()
        await assert_reply(u, "auth", {"token": jwt_pem(claims("ec2"), keys["ec"], "ES256")},
                           user="ec2")
    run(go())
    good = jwt_pem(claims("evil"), keys["ec"], "ES256")
    head, _, sig = good.split(".")
    tampered = f"{head}.{b64url(json.dumps(claims('admin')).encode())}.{sig}"
    assert_401(srv, "token=" + tampered, "signature")
    assert_401(srv, "token=" + jwt_pem(claims(exp=now - 100), keys["ec"], "ES256"), "expired")
    assert_401(srv, "token=" + jwt_pem(claims(), keys["rsa"], "RS256"), "configured ES256")
    assert_401(srv, "token=" + jwt_hmac(claims(), SECRET), "configured ES256")


# --- configuration refused at start ---

def start_fails(server, auth, why):
    sections = auth_sections(**auth)
    srv = server(sections=sections, start=False)
    srv.start(wait=False)
    try:
        code = srv.proc.wait(15)
    except subprocess.TimeoutExpired:
        srv.stop()
        raise AssertionError(f"server started with {auth}:\n{srv.log()}")
    assert code != 0
    assert why in srv.log(), srv.log()


@pytest.mark.parametrize("auth, why", [
    ({"mode": "ldap"}, "unknown mode"),
    ({"mode": "static"}, "/tokens.conf"),  # the default, beside the config: absent here
    ({"mode": "static", "tokens_file": "/nonexistent/tokens.conf"}, "/nonexistent/tokens.conf"),
    ({"mode": "jwt"}, "jwt_secret"),
    ({"mode": "jwt", "jwt_alg": "HS512", "jwt_secret": SECRET}, "HS512"),
    ({"mode": "jwt", "jwt_alg": "RS256", "jwt_secret": SECRET}, "jwt_public_key"),
    ({"mode": "jwt", "jwt_alg": "RS256", "jwt_public_key": "/nonexistent/k.pem"},
     "/nonexistent/k.pem"),
    ({"mode": "none", "token_param": "a=b"}, "token_param"),
    ({"mode": "none", "guests": "maybe"}, "guests"),
])
def test_bad_config_refused(server, auth, why):
    start_fails(server, auth, why)


def test_bad_key_config_refused(server, keys):
    start_fails(server, {"mode": "jwt", "jwt_alg": "HS256", "jwt_secret": SECRET,
                         "jwt_public_key": keys["rsa_pub"]}, "not both")
    start_fails(server, {"mode": "jwt", "jwt_alg": "ES256", "jwt_public_key": keys["rsa_pub"]},
                "P-256")
    start_fails(server, {"mode": "jwt", "jwt_alg": "RS256", "jwt_public_key": keys["rsa"] + "x"},
                "cannot open")


# --- mode lua (needs the lua plugin) ---

LUA_AUTH = """
function authenticate(token, req)
  if token == "lua-good" then return "lua-user" end
  return nil, "unknown lua token"
end
"""


@pytest.mark.skipif(not HAS_LUA, reason="lua plugin not built")
def test_lua_mode(server, tmp_path):
    script = tmp_path / "auth.lua"
    script.write_text(LUA_AUTH)
    srv = server(sections={"lua": {"scripts": str(script)}, "auth": {"mode": "lua"},
                           "members": {}})

    async def go():
        ws = await srv.ws(query={"token": "lua-good"})
        assert await whoami(ws) == "lua-user"
        u = await srv.ws()
        r = await assert_reply(u, "auth", {"token": "nope"}, code="auth_failed")
        assert "unknown lua token" in r["data"]["message"]
        await assert_reply(u, "auth", {"token": "lua-good"}, user="lua-user")
    run(go())
    assert_401(srv, "token=nope", "unknown lua token")
