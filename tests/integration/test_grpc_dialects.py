"""The gRPC push side reaches every kind of client (issue 16's cross-protocol
tests): a NotifyRoom to a room with a native member, a notify-dialect client
(seed 004's WebSocket side, which must see exactly the shape gRPC sends) and
a chat-dialect member; a PrivateNotify to a native client and to a notify
client."""
import json

import websockets

from conftest import default_sections, recv_type, request, run
from grpc_util import start, string_any, struct_any, stubs


def sections():
    s = default_sections()
    s["dialect_chat"] = {}
    s["dialect_notify"] = {}
    return s


async def dialect_ws(srv, path, query):
    return await websockets.connect(f"{srv.url}{path}?{query}", open_timeout=10, close_timeout=1)


async def recv_json(ws, timeout=5):
    import asyncio
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_notify_room_reaches_native_notify_and_chat_members(server):
    pb2, pb2_grpc, _, _ = stubs()
    srv, gport = start(server, sections=sections())
    import grpc
    stub = pb2_grpc.NotificationServiceStub(grpc.insecure_channel(f"127.0.0.1:{gport}"))

    async def go():
        native = await srv.ws(client_id="nat")
        assert (await request(native, "join", {"room": "orders"}, ref=1))["type"] == "join"
        notify = await dialect_ws(srv, "/notify", "t=nora")
        await notify.send(json.dumps({"action": "enter", "room": "orders"}))
        chat = await dialect_ws(srv, "/chat", "client_id=carl")
        await chat.send(json.dumps({"command": "join", "room": "orders"}))
        while (await recv_json(chat)).get("event") != "join":
            pass
        # the members are in once the native one sees both presences
        seen = set()
        while seen != {"nora", "carl"}:
            seen.add((await recv_type(native, "presence"))["data"]["user"])
        resp = stub.NotifyRoom(pb2.NotifyRoomRequest(
            type=pb2.TYPE_INFO, entity_id="order-123",
            message=string_any("Your order has shipped!"), room="orders"), timeout=10)
        assert resp.delivered == 3
        ev = await recv_type(native, "publish")
        assert ev["data"]["entityId"] == "order-123" and ev["data"]["id"] == resp.id
        got = await recv_json(notify)
        assert got == {"type": "TYPE_INFO", "entityId": "order-123",
                       "message": "Your order has shipped!", "room": "orders", "from": "server"}
        while True:
            ev = await recv_json(chat)
            if ev.get("event") == "publish":
                break
        assert ev["room"] == "orders" and ev["member"] == "server"
        for ws in (native, notify, chat):
            await ws.close()

    run(go())


def test_private_notify_reaches_native_and_notify_clients(server):
    pb2, pb2_grpc, _, _ = stubs()
    srv, gport = start(server, sections=sections())
    import grpc
    stub = pb2_grpc.NotificationServiceStub(grpc.insecure_channel(f"127.0.0.1:{gport}"))

    async def go():
        native = await srv.ws(client_id="nat")
        notify = await dialect_ws(srv, "/notify", "t=nora")
        stub.PrivateNotify(pb2.PrivateNotifyRequest(
            type=pb2.TYPE_SUCCESS, entity_id="e1", user_id="nat",
            message=struct_any({"n": 1})), timeout=10)
        ev = await recv_type(native, "message")
        assert ev["data"]["to"] == "nat" and ev["data"]["message"] == {"n": 1}
        stub.PrivateNotify(pb2.PrivateNotifyRequest(
            type=pb2.TYPE_ERROR, entity_id="e2", user_id="nora",
            message=string_any("card declined")), timeout=10)
        got = await recv_json(notify)
        assert got == {"type": "TYPE_ERROR", "entityId": "e2", "message": "card declined",
                       "from": "server"}
        await native.close()
        await notify.close()

    run(go())
