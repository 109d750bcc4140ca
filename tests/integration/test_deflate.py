"""permessage-deflate (RFC 7692): negotiated with Python websockets, server
frames compressed without context takeover (one compressed frame for a whole
fan-out), compressed client messages inflated under max_message_bytes, and
the protocol errors: RSV1 without negotiation or on a control frame (1002),
invalid deflate data (1007), a zip bomb (1009)."""
import zlib

import pytest

from conftest import (frame, read_close, read_raw_frame, recv, recv_type, run, send,
                      ws_handshake_raw, ws_upgrade)

def deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(data):
    return zlib.decompressobj(-15).decompress(data + b"\x00\x00\xff\xff")


def test_negotiated_with_websockets_both_ways(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")  # websockets offers deflate by default
        assert alice.response_headers["Sec-WebSocket-Extensions"] == \
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        bob = await srv.ws(client_id="bob", compression=None)
        assert "Sec-WebSocket-Extensions" not in bob.response_headers
        body = "hello " * 5000  # compressible, larger than the 32 KiB window
        for i in range(3):  # no context carried between messages
            await send(alice, "message", {"to": "bob", "body": body + str(i)}, ref=i)
            msg = await recv_type(bob, "message", timeout=10)
            assert msg["data"]["body"] == body + str(i)
            await send(bob, "message", {"to": "alice", "body": body + str(i)}, ref=i)
            msg = await recv_type(alice, "message", timeout=10)
            assert msg["data"]["body"] == body + str(i)
        await alice.close()
        await bob.close()

    run(go())


def test_compression_off(server):
    srv = server(server_keys={"compression": "no"})

    async def go():
        ws = await srv.ws(client_id="carol")
        assert "Sec-WebSocket-Extensions" not in ws.response_headers
        await send(ws, "ping", ref=1)
        assert (await recv(ws))["type"] == "pong"
        await ws.close()

    run(go())


def test_offers_declined_or_accepted_per_rfc(server):
    srv = server()
    cases = [
        ("permessage-deflate", True),
        ("permessage-deflate; server_max_window_bits=10", False),
        ("permessage-deflate; server_max_window_bits=10, permessage-deflate", True),
        ("permessage-deflate; server_max_window_bits=15; client_max_window_bits=9", True),
        ("permessage-deflate; client_max_window_bits=16", False),
        ("permessage-deflate; bogus", False),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", False),
        ("x-webkit-deflate-frame", False),
    ]
    for offer, accepted in cases:
        s, head, _ = ws_upgrade(srv.port, "/ws?client_id=dan",
                                extra={"Sec-WebSocket-Extensions": offer})
        assert (b"permessage-deflate" in head) == accepted, (offer, head)
        s.close()


def read_message(s):
    """(first byte, payload inflated when RSV1 is set, length on the wire)
    of one server frame."""
    b0, _, data = read_raw_frame(s)
    return b0, (inflate(data) if b0 & 0x40 else data), len(data)


def raw_deflate_ws(srv, who):
    s = ws_handshake_raw(srv.port, path=f"/ws?client_id={who}",
                         extra={"Sec-WebSocket-Extensions": "permessage-deflate"})
    return s


def test_server_frames_compressed_once_and_small_ones_plain(server):
    srv = server()
    s = raw_deflate_ws(srv, "erin")
    s.settimeout(5)
    s.sendall(frame(1, b'{"type":"ping","ref":1}'))
    b0, payload, _ = read_message(s)  # small: sent as it is
    assert b0 == 0x81 and b"pong" in payload

    async def go():
        sender = await srv.ws(client_id="frank", compression=None)
        body = "abc" * 1000
        await send(sender, "message", {"to": "erin", "body": body}, ref=2)
        await recv_type(sender, "ack")
        await sender.close()
        return body

    body = run(go())
    # A compressed frame: RSV1 set, the payload inflates to the envelope.
    b0, text, wire = read_message(s)
    assert b0 == 0xC1, hex(b0)
    assert wire < len(body) and body.encode() in text
    s.close()


def test_compressed_client_message_and_fragments(server):
    srv = server()
    s = raw_deflate_ws(srv, "gina")
    s.settimeout(5)
    z = deflate(b'{"type":"ping","ref":"' + b"r" * 100 + b'"}')
    s.sendall(frame(1, z, rsv=4))
    b0, payload, _ = read_message(s)
    assert b"pong" in payload and b"r" * 100 in payload
    # Fragmented: RSV1 on the first frame only.
    z = deflate(b'{"type":"ping","ref":"frag"}')
    s.sendall(frame(1, z[:3], fin=False, rsv=4) + frame(0, z[3:]))
    b0, payload, _ = read_message(s)
    assert b'"frag"' in payload, payload
    s.close()


@pytest.mark.parametrize("case,code", [
    ("rsv1_without_negotiation", 1002),
    ("rsv1_on_ping", 1002),
    ("invalid_deflate", 1007),
    ("invalid_utf8_inside", 1007),
    ("zip_bomb", 1009),
])
def test_protocol_errors(server, case, code):
    srv = server(server_keys={"max_message_bytes": "65536"})
    if case == "rsv1_without_negotiation":
        s = ws_handshake_raw(srv.port, path="/ws?client_id=h")
        s.sendall(frame(1, deflate(b'{"type":"ping"}'), rsv=4))
    else:
        s = raw_deflate_ws(srv, "h")
        if case == "rsv1_on_ping":
            s.sendall(frame(9, b"", rsv=4))
        elif case == "invalid_deflate":
            s.sendall(frame(1, b"\xff\xff\xff\xff\xff", rsv=4))
        elif case == "invalid_utf8_inside":
            s.sendall(frame(1, deflate(b'{"type":"\xff"}'), rsv=4))
        else:
            bomb = deflate(b"0" * (50 * 1024 * 1024))  # 50 MiB -> ~50 KiB
            assert len(bomb) < 65536
            s.sendall(frame(1, bomb, rsv=4))
    assert read_close(s, timeout=10) == code
    s.close()
