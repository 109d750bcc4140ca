"""The client envelope and the order of checks (docs/protocol.md section 2): bad_json,
bad_request for every strictness rule (duplicate keys, U+0000, ref limits,
case-sensitive keys), ref echo, unknown_type, the core's ping, unauthenticated
connections, and the per-connection rate limit that counts malformed frames."""
import json
import time

import pytest

from conftest import default_sections, recv, run

MAX_SAFE = 2 ** 53 - 1


async def raw_request(ws, text, timeout=5):
    """Send text as it is; return the next frame, parsed."""
    await ws.send(text)
    return await recv(ws, timeout)


def assert_error(reply, code, ref=None):
    """An error reply with exactly {code, message}; ref echoed, or absent when None."""
    assert reply["type"] == "error", reply
    assert set(reply["data"]) == {"code", "message"}, reply
    assert reply["data"]["code"] == code, reply
    assert isinstance(reply["data"]["message"], str) and reply["data"]["message"], reply
    if ref is None:
        assert "ref" not in reply, reply
    else:
        assert reply["ref"] == ref and type(reply["ref"]) is type(ref), reply
    return reply["data"]["message"]


def assert_pong(reply, ref=None):
    assert reply["type"] == "pong", reply
    assert set(reply["data"]) == {"ts"}, reply
    ts = reply["data"]["ts"]
    assert isinstance(ts, int) and abs(ts - time.time() * 1000) < 5000, reply
    if ref is None:
        assert "ref" not in reply, reply
    else:
        assert reply["ref"] == ref and type(reply["ref"]) is type(ref), reply


BAD_JSON = [
    "{",
    "hello",
    "",
    "[1, 2]",
    '"str"',
    "1",
    "null",
    "true",
    '{"type":"ping"} x',
    '{"type":"ping"}{"type":"ping"}',
    '{"type":"ping",}',
    "{'type':'ping'}",
    '{"type":"ping"}\x00',
    '[{"type":"ping","ref":1}]',
]


def test_bad_json(server):
    srv = server()

    async def go():
        ws = await srv.ws(client_id="alice")
        for text in BAD_JSON:
            try:
                assert_error(await raw_request(ws, text), "bad_json")
            except AssertionError as e:
                raise AssertionError(f"{text!r}: {e}") from None
        # The connection is still open and served.
        assert_pong(await raw_request(ws, '{"type":"ping","ref":1}'), 1)
        await ws.close()

    run(go())


BAD_REQUEST = [
    # (frame, ref echoed or None)
    ('{}', None),
    ('{"ref":1}', 1),
    ('{"type":1,"ref":"r"}', "r"),
    ('{"type":null}', None),
    ('{"type":""}', None),
    ('{"type":["ping"]}', None),
    ('{"type":"ping","data":[]}', None),
    ('{"type":"ping","data":"x","ref":2}', 2),
    ('{"type":"ping","data":1}', None),
    ('{"type":"ping","data":null}', None),
    ('{"type":"ping","type":"ping"}', None),
    ('{"type":"ping","ref":3,"type":"pong"}', 3),
    ('{"type":"ping","data":{"a":1,"a":1}}', None),
    ('{"type":"ping","ref":"d","data":{"x":[{"b":1,"c":2,"b":3}]}}', "d"),
    ('{"type":"ping","data":{' + ",".join(f'"k{i}":{i}' for i in range(20)) + ',"k7":0}}', None),
    ('{"type":"ping\\u0000"}', None),
    ('{"type":"ping","ref":"n","data":{"t":"a\\u0000b"}}', "n"),
    ('{"type":"ping","data":{"a\\u0000":1}}', None),
    ('{"type":"ping","data":{"t":"a\x00b"}}', None),
    ('{"type":"ping","ref":1.5}', None),
    ('{"type":"ping","ref":9007199254740992}', None),
    ('{"type":"ping","ref":-9007199254740992}', None),
    ('{"type":"ping","ref":1e300}', None),
    ('{"type":"ping","ref":{"a":1}}', None),
    ('{"type":"ping","ref":[1]}', None),
    ('{"type":"ping","ref":true}', None),
    ('{"type":"ping","ref":null}', None),
    ('{"Type":"ping"}', None),
    ('{"TYPE":"ping","ref":4}', 4),
]


def test_error_message_says_what_was_wrong(server):
    # An empty frame is "empty frame"; valid JSON nested too deep is
    # bad_request naming the limit (ref echoed), not "not valid JSON".
    srv = server(sections={})

    def nested(levels):
        return ('{"type":"ping","ref":"d","data":{"a":' + "[" * (levels - 2) + "1"
                + "]" * (levels - 2) + "}}")

    async def go():
        ws = await srv.ws(client_id="alice")
        reply = await raw_request(ws, "")
        assert_error(reply, "bad_json")
        assert reply["data"]["message"] == "empty frame", reply
        reply = await raw_request(ws, nested(64))
        assert reply["type"] == "pong" and reply["ref"] == "d", reply
        # Past cJSON's own limit (1000) too: the ref is read from the top level.
        for levels, ref in ((65, "d"), (2000, "d")):
            reply = await raw_request(ws, nested(levels))
            assert_error(reply, "bad_request", ref)
            assert reply["data"]["message"] == "JSON nested deeper than 64 levels", reply
        await ws.close()

    run(go())


def test_bad_request(server):
    srv = server()

    async def go():
        ws = await srv.ws(client_id="alice")
        for text, ref in BAD_REQUEST:
            try:
                assert_error(await raw_request(ws, text), "bad_request", ref)
            except AssertionError as e:
                raise AssertionError(f"{text!r}: {e}") from None
        assert_pong(await raw_request(ws, '{"type":"ping","ref":1}'), 1)
        await ws.close()

    run(go())


def test_duplicate_key_reason_names_the_key(server):
    srv = server()

    async def go():
        ws = await srv.ws(client_id="alice")
        why = assert_error(await raw_request(ws, '{"type":"ping","data":{"from":"x","from":"y"}}'),
                           "bad_request")
        assert "from" in why
        why = assert_error(await raw_request(ws, '{"type":"ping","ref":"r","data":{"t":"\\u0000"}}'),
                           "bad_request", "r")
        assert "U+0000" in why
        await ws.close()

    run(go())


GOOD_REFS = ["abc", "", "\u00e9\U0001F600", 7, 0, -5, 2 ** 31, -(2 ** 40) - 1, 4503599627370497,
             "a\\u0000"]


def test_ref_echoed(server):
    srv = server()

    async def go():
        ws = await srv.ws(client_id="alice")
        for ref in GOOD_REFS:
            assert_pong(await raw_request(ws, json.dumps({"type": "ping", "ref": ref})), ref)
        # 1.0 is an integer: it comes back as 1.
        reply = await raw_request(ws, '{"type":"ping","ref":1.0}')
        assert reply["type"] == "pong" and reply["ref"] == 1
        # No ref, no ref in the reply.
        assert_pong(await raw_request(ws, '{"type":"ping"}'))
        # data is optional, and any object is fine for ping.
        assert_pong(await raw_request(ws, '{"data":{"x":[1,{"y":null}]},"type":"ping","ref":9}'), 9)
        # Errors echo it too.
        for ref in ("e", 42):
            assert_error(await raw_request(ws, json.dumps({"type": "nosuch", "ref": ref})),
                         "unknown_type", ref)
            assert_error(await raw_request(ws, json.dumps({"ref": ref, "data": []})),
                         "bad_request", ref)
        await ws.close()

    run(go())


# Core bug: sb_dispatch_text (core/protocol/dispatch.c) echoes ref with
# cJSON_PrintUnformatted, which prints a double with "%1.15g" whenever its
# loose compare_double() calls that close enough: integers near 2^53 come back
# as 9.00719925474099e+15, a different number (and not an integer).

def test_ref_echoed_exactly_near_2_53(server):
    srv = server()

    async def go():
        ws = await srv.ws(client_id="alice")
        for ref in (MAX_SAFE, -MAX_SAFE, MAX_SAFE - 2):
            reply = await raw_request(ws, json.dumps({"type": "ping", "ref": ref}))
            assert reply["type"] == "pong"
            assert reply["ref"] == ref and type(reply["ref"]) is int, reply
        await ws.close()

    run(go())


def test_unknown_type(server):
    srv = server()

    async def go():
        ws = await srv.ws(client_id="alice")
        for t in ("nosuch", "PING", "Ping", "pong", "error", "ping "):
            why = assert_error(await raw_request(ws, json.dumps({"type": t, "ref": t})),
                               "unknown_type", t)
            assert t.strip() in why or t == "ping ", why
        await ws.close()

    run(go())


def test_unknown_type_with_no_plugins(server):
    """A core without plugins knows ping only."""
    srv = server(sections={})

    async def go():
        ws = await srv.ws(client_id="alice")
        assert_pong(await raw_request(ws, '{"type":"ping","ref":1}'), 1)
        for t in ("message", "join", "auth", "list"):
            assert_error(await raw_request(ws, json.dumps({"type": t, "ref": 2})),
                         "unknown_type", 2)
        await ws.close()

    run(go())


def test_ping_pong_ts(server):
    srv = server()

    async def go():
        ws = await srv.ws(client_id="alice")
        before = int(time.time() * 1000)
        reply = await raw_request(ws, '{"type":"ping","ref":"t"}')
        after = int(time.time() * 1000)
        assert_pong(reply, "t")
        assert before - 1000 <= reply["data"]["ts"] <= after + 1000
        await ws.close()

    run(go())


@pytest.fixture
def static_auth(tmp_path):
    """Sections with auth mode static (token t1 -> alice)."""
    tokens = tmp_path / "tokens.conf"
    tokens.write_text("t1 alice\n")
    return default_sections(auth={"mode": "static", "tokens_file": str(tokens)})


def test_unauthenticated(server, static_auth):
    srv = server(sections=static_auth)

    async def go():
        ws = await srv.ws()  # no token: open, unauthenticated
        assert_pong(await raw_request(ws, '{"type":"ping","ref":1}'), 1)
        for t in ("list", "message", "join", "nosuch", "me"):
            assert_error(await raw_request(ws, json.dumps({"type": t, "ref": t, "data": {}})),
                         "unauthenticated", t)
        # The envelope is checked before authentication.
        assert_error(await raw_request(ws, "[]"), "bad_json")
        assert_error(await raw_request(ws, '{"type":"list","ref":5,"data":1}'), "bad_request", 5)
        # auth passes, and then the commands work.
        reply = await raw_request(ws, '{"type":"auth","ref":"a","data":{"token":"t1"}}')
        assert reply["type"] == "auth" and reply["ref"] == "a", reply
        assert reply["data"]["user"] == "alice"
        reply = await raw_request(ws, '{"type":"list","ref":6}')
        assert reply["type"] == "list" and reply["data"]["users"] == ["alice"], reply
        assert_error(await raw_request(ws, '{"type":"nosuch","ref":7}'), "unknown_type", 7)
        await ws.close()

    run(go())


def test_rate_limit(server):
    srv = server(server_keys={"rate_limit": 5, "rate_burst": 5})

    async def go():
        ws = await srv.ws(client_id="alice")
        # The bucket starts full: a burst of 5 passes, the 6th is refused.
        for i in range(5):
            await ws.send(json.dumps({"type": "ping", "ref": i}))
        await ws.send(json.dumps({"type": "ping", "ref": 5}))
        for i in range(5):
            assert_pong(await recv(ws), i)
        reply = await recv(ws)
        assert reply["type"] == "error" and reply["data"]["code"] == "rate_limited", reply
        assert reply["ref"] == 5, reply  # the refused frame's ref
        await ws.send('{"type":"nosuch","ref":"s"}')
        reply = await recv(ws)
        assert (reply["data"]["code"], reply["ref"]) == ("rate_limited", "s"), reply
        await ws.send('{"type":"ping","ref":1.5}')  # an invalid ref is not echoed
        reply = await recv(ws)
        assert reply["data"]["code"] == "rate_limited" and "ref" not in reply, reply
        # It refills at 5 per second.
        time.sleep(1.1)
        assert_pong(await raw_request(ws, '{"type":"ping","ref":"again"}'), "again")
        await ws.close()

        # Malformed frames count too.
        ws = await srv.ws(client_id="bob")
        for text in ("nope", "[]", "{}", '{"type":1}', '{"type":"nosuch"}'):
            await ws.send(text)
        await ws.send('{"type":"ping","ref":1}')
        codes = [(await recv(ws))["data"]["code"] for _ in range(6)]
        assert codes == ["bad_json", "bad_json", "bad_request", "bad_request", "unknown_type",
                         "rate_limited"], codes
        await ws.close()

        # The limit is per connection: a fresh one is served.
        ws = await srv.ws(client_id="bob")
        assert_pong(await raw_request(ws, '{"type":"ping","ref":2}'), 2)
        await ws.close()

    run(go())


def test_rate_limit_off(server):
    srv = server(server_keys={"rate_limit": 0, "rate_burst": 1})

    async def go():
        ws = await srv.ws(client_id="alice")
        for i in range(200):
            await ws.send(json.dumps({"type": "ping", "ref": i}))
        for i in range(200):
            assert_pong(await recv(ws), i)
        await ws.close()

    run(go())
