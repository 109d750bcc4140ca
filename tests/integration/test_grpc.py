"""The grpc plugin (plugins/grpc/README.md): seed 004's NotificationService
through a real grpcio client with stubs generated at test time, reflection
(v1alpha and v1), every status the plugin answers, deadlines, 100 concurrent
calls on one channel, a stored private notification across a restart with
store_lmdb, and shutdown with calls in flight. The events reach native
WebSocket clients."""
import base64
import os
import re
import shutil
import signal
import subprocess
import time

import grpc
import h2.events
import pytest

from conftest import SOURCE_DIR, default_sections, no_frame, recv_type, request, run
from grpc_util import H2, channel, grpc_frame, start, string_any, struct_any, stubs
from redis_util import redis  # noqa: F401 (fixture)

SEED_JSON = ('{"type": "TYPE_INFO", "entityId": "order-123", "message": {"@type": '
             '"type.googleapis.com/google.protobuf.StringValue", '
             '"value": "Your order has shipped!"}}')
NOTIFY_ROOM = "/notificationspb.NotificationService/NotifyRoom"


@pytest.fixture(scope="module")
def pb():
    return stubs()


def svc(gport, **opts):
    pb2, pb2_grpc, _, _ = stubs()
    return pb2_grpc.NotificationServiceStub(channel(gport, **opts))


def rpc_error(fn, *args, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*args, timeout=10, **kw)
    return ei.value


def assert_event(ev, type_, room=None, to=None, **fields):
    data = ev["data"]
    assert ev["type"] == type_, ev
    assert len(data["id"]) == 26 and data["from"] == "server" and isinstance(data["ts"], int), ev
    if room is not None:
        assert data["room"] == room, ev
    if to is not None:
        assert data["to"] == to, ev
    for k, v in fields.items():
        assert data[k] == v, (k, ev)
    return data


# --- the three calls ---

def test_notify_room_reaches_the_room_only(server, pb):
    pb2 = pb[0]
    srv, gport = start(server)
    stub = svc(gport)

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await request(alice, "join", {"room": "orders"}, ref=1)
        resp = stub.NotifyRoom(pb2.NotifyRoomRequest(
            type=pb2.TYPE_INFO, entity_id="order-123",
            message=string_any("Your order has shipped!"), room="orders"), timeout=10)
        assert resp.delivered == 1 and len(resp.id) == 26
        ev = await recv_type(alice, "publish")
        data = assert_event(ev, "publish", room="orders", type="TYPE_INFO",
                            entityId="order-123", message="Your order has shipped!")
        assert data["id"] == resp.id
        assert list(data) == ["id", "from", "room", "ts", "type", "entityId", "message"]
        await no_frame(bob)
    run(go())


def test_broadcast_converts_the_any(server, pb):
    pb2 = pb[0]
    from google.protobuf import any_pb2, struct_pb2, wrappers_pb2
    srv, gport = start(server)
    stub = svc(gport)

    async def go():
        ws = await srv.ws(client_id="carol")
        resp = stub.Broadcast(pb2.BroadcastRequest(
            type=pb2.TYPE_WARNING, entity_id="e1",
            message=struct_any({"a": [1, "x", None, True], "b": {"c": 2.5}})), timeout=10)
        assert resp.delivered == 1
        assert_event(await recv_type(ws, "broadcast"), "broadcast", type="TYPE_WARNING",
                     entityId="e1", message={"a": [1, "x", None, True], "b": {"c": 2.5}})
        # A Value, a ListValue, then a type the plugin does not convert.
        value = any_pb2.Any()
        value.Pack(struct_pb2.Value(string_value="plain"))
        stub.Broadcast(pb2.BroadcastRequest(message=value), timeout=10)
        assert_event(await recv_type(ws, "broadcast"), "broadcast", type="TYPE_UNSPECIFIED",
                     entityId="", message="plain")
        lst = any_pb2.Any()
        lst.Pack(struct_pb2.ListValue(values=[struct_pb2.Value(number_value=3)]))
        stub.Broadcast(pb2.BroadcastRequest(type=pb2.TYPE_ERROR, message=lst), timeout=10)
        assert_event(await recv_type(ws, "broadcast"), "broadcast", message=[3])
        other = any_pb2.Any()
        other.Pack(wrappers_pb2.Int32Value(value=7))
        stub.Broadcast(pb2.BroadcastRequest(type=pb2.TYPE_SUCCESS, message=other), timeout=10)
        data = assert_event(await recv_type(ws, "broadcast"), "broadcast", type="TYPE_SUCCESS")
        assert data["message"] == {"@type": "type.googleapis.com/google.protobuf.Int32Value",
                                   "value": base64.b64encode(other.value).decode()}
    run(go())


def test_private_notify_online_and_offline(server, pb):
    pb2 = pb[0]
    srv, gport = start(server)
    stub = svc(gport)

    async def go():
        dave = await srv.ws(client_id="dave")
        resp = stub.PrivateNotify(pb2.PrivateNotifyRequest(
            type=pb2.TYPE_INFO, entity_id="o-1", message=string_any("to you"), user_id="dave"),
            timeout=10)
        assert resp.delivered == 1
        data = assert_event(await recv_type(dave, "message"), "message", to="dave",
                            type="TYPE_INFO", entityId="o-1", message="to you")
        assert data["id"] == resp.id
        # Offline: stored, delivered when the user connects.
        resp = stub.PrivateNotify(pb2.PrivateNotifyRequest(
            message=string_any("later"), user_id="erin"), timeout=10)
        assert resp.delivered == 0
        erin = await srv.ws(client_id="erin")
        assert_event(await recv_type(erin, "message"), "message", to="erin",
                     type="TYPE_UNSPECIFIED", message="later")
    run(go())


def test_private_notify_survives_a_restart_with_lmdb(server, pb, tmp_path):
    pb2 = pb[0]
    wd = str(tmp_path / "lmdb")
    srv, gport = start(server, store="store_lmdb", workdir=wd)
    resp = svc(gport).PrivateNotify(pb2.PrivateNotifyRequest(
        type=pb2.TYPE_SUCCESS, entity_id="inv-9", message=string_any("paid"), user_id="frank"),
        timeout=10)
    assert resp.delivered == 0
    assert srv.stop() == 0
    srv2, _ = start(server, store="store_lmdb", workdir=wd)

    async def go():
        ws = await srv2.ws(client_id="frank")
        data = assert_event(await recv_type(ws, "message"), "message", to="frank",
                            type="TYPE_SUCCESS", entityId="inv-9", message="paid")
        assert data["id"] == resp.id
    run(go())


def test_seed_grpcurl_request_through_reflection(server):
    """What grpcurl does with the seed's line (no -proto): find the service's
    file by reflection, parse the seed's JSON against it, call Broadcast."""
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
    _, _, r1a, _ = stubs()
    srv, gport = start(server)
    ch = channel(gport)
    info = ch.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                            request_serializer=r1a.ServerReflectionRequest.SerializeToString,
                            response_deserializer=r1a.ServerReflectionResponse.FromString)
    reqs = [r1a.ServerReflectionRequest(file_containing_symbol=s)
            for s in ("notificationspb.NotificationService", "google.protobuf.StringValue")]
    files = {}
    for resp in info(iter(reqs), timeout=10):
        assert resp.WhichOneof("message_response") == "file_descriptor_response", resp
        for raw in resp.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            files[fd.name] = fd
    pool = descriptor_pool.DescriptorPool()
    while files:  # dependencies first
        for name, fd in list(files.items()):
            if all(dep not in files for dep in fd.dependency):
                pool.Add(fd)
                del files[name]
    factory = message_factory.MessageFactory(pool)
    req_cls = factory.GetPrototype(pool.FindMessageTypeByName("notificationspb.BroadcastRequest"))
    resp_cls = factory.GetPrototype(pool.FindMessageTypeByName("notificationspb.NotifyResponse"))
    req = json_format.Parse(SEED_JSON, req_cls(), descriptor_pool=pool)
    call = ch.unary_unary("/notificationspb.NotificationService/Broadcast",
                          request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=resp_cls.FromString)

    async def go():
        ws = await srv.ws(client_id="gina")
        resp = call(req, timeout=10)
        assert resp.delivered == 1
        assert_event(await recv_type(ws, "broadcast"), "broadcast", type="TYPE_INFO",
                     entityId="order-123", message="Your order has shipped!")
    run(go())


# --- reflection ---

@pytest.mark.parametrize("version", ["v1alpha", "v1"])
def test_reflection_lists_and_describes(server, version):
    from google.protobuf import descriptor_pb2
    _, _, r1a, r1 = stubs()
    mod = r1a if version == "v1alpha" else r1
    srv, gport = start(server)
    info = channel(gport).stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=mod.ServerReflectionRequest.SerializeToString,
        response_deserializer=mod.ServerReflectionResponse.FromString)
    reqs = [mod.ServerReflectionRequest(host="h", list_services=""),
            mod.ServerReflectionRequest(file_containing_symbol="notificationspb.NotificationService"),
            mod.ServerReflectionRequest(file_containing_symbol="notificationspb.Type"),
            mod.ServerReflectionRequest(file_by_filename="google/protobuf/any.proto"),
            mod.ServerReflectionRequest(file_containing_symbol="nope.Nothing"),
            mod.ServerReflectionRequest(file_by_filename="nope.proto")]
    resps = list(info(iter(reqs), timeout=10))
    assert len(resps) == len(reqs)
    assert resps[0].valid_host == "h" and resps[0].original_request == reqs[0]
    names = [s.name for s in resps[0].list_services_response.service]
    assert names == ["notificationspb.NotificationService",
                     "grpc.reflection.v1alpha.ServerReflection",
                     "grpc.reflection.v1.ServerReflection"]
    for r in resps[1:3]:
        fds = [descriptor_pb2.FileDescriptorProto.FromString(b)
               for b in r.file_descriptor_response.file_descriptor_proto]
        assert [f.name for f in fds] == ["notificationspb/message.proto",
                                         "google/protobuf/any.proto"]
        service = fds[0].service[0]
        assert service.name == "NotificationService"
        assert [m.name for m in service.method] == ["Broadcast", "NotifyRoom", "PrivateNotify"]
        assert [v.name for v in fds[0].enum_type[0].value][:2] == ["TYPE_UNSPECIFIED", "TYPE_INFO"]
    any_fd = descriptor_pb2.FileDescriptorProto.FromString(
        resps[3].file_descriptor_response.file_descriptor_proto[0])
    assert any_fd.name == "google/protobuf/any.proto"
    for r in resps[4:]:
        assert r.WhichOneof("message_response") == "error_response"
        assert r.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


# --- statuses ---

def test_invalid_arguments(server, pb):
    pb2 = pb[0]
    srv, gport = start(server)
    stub = svc(gport)
    msg = string_any("m")
    cases = [
        (stub.NotifyRoom, pb2.NotifyRoomRequest(type=99, message=msg, room="r"), "type 99"),
        (stub.NotifyRoom, pb2.NotifyRoomRequest(message=msg), "room is required"),
        (stub.NotifyRoom, pb2.NotifyRoomRequest(message=msg, room="a\nb"), "room must be"),
        (stub.NotifyRoom, pb2.NotifyRoomRequest(room="r"), "message"),
        (stub.PrivateNotify, pb2.PrivateNotifyRequest(message=msg), "userId is required"),
        (stub.PrivateNotify, pb2.PrivateNotifyRequest(message=msg, user_id="a b"), "userId must"),
        (stub.Broadcast, pb2.BroadcastRequest(), "message"),
    ]
    for fn, req, text in cases:
        err = rpc_error(fn, req)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (req, err)
        assert text in err.details(), (req, err.details())
    # Bytes that are not a request at all, and an Any whose value is not its type.
    raw = channel(gport).unary_unary(NOTIFY_ROOM)
    err = rpc_error(raw, b"\xff\xff\xff")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "decode" in err.details()
    from google.protobuf import any_pb2
    bad = any_pb2.Any(type_url="type.googleapis.com/google.protobuf.Struct", value=b"\x0a\xff")
    err = rpc_error(stub.NotifyRoom, pb2.NotifyRoomRequest(message=bad, room="r"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    # A Struct nested deeper than the plugin converts.
    deep = {}
    cur = deep
    for _ in range(100):
        cur["d"] = {}
        cur = cur["d"]
    err = rpc_error(stub.Broadcast, pb2.BroadcastRequest(message=struct_any(deep)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "deep" in err.details()


def test_unknown_method_and_size_limit(server, pb):
    pb2 = pb[0]
    srv, gport = start(server, server_keys={"max_message_bytes": "1024"})
    ch = channel(gport)
    for path in ("/notificationspb.NotificationService/Nope", "/other.Service/Call"):
        err = rpc_error(ch.unary_unary(path), b"")
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED, (path, err)
    stub = svc(gport)
    err = rpc_error(stub.Broadcast, pb2.BroadcastRequest(message=string_any("x" * 2000)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert "1024" in err.details()
    # Just under the limit still goes through, on the same channel.
    assert stub.Broadcast(pb2.BroadcastRequest(message=string_any("x" * 900)),
                          timeout=10).delivered == 0


def test_inbox_full_and_store_down(server, pb):
    pb2 = pb[0]
    sections = default_sections()
    sections["store_memory"] = {"max_inbox": "1"}
    srv, gport = start(server, sections=sections)
    stub = svc(gport)
    req = pb2.PrivateNotifyRequest(message=string_any("m"), user_id="hank")
    stub.PrivateNotify(req, timeout=10)
    err = rpc_error(stub.PrivateNotify, req)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "inbox" in err.details(), err
    # No store at all (no message plugin either, which needs one).
    srv2, gport2 = start(server, sections={"auth": {"mode": "none"}})
    err = rpc_error(svc(gport2).PrivateNotify, req)
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "not stored" in err.details(), err


def test_api_key_and_allow_from(server, pb):
    pb2 = pb[0]
    req = pb2.BroadcastRequest(message=string_any("k"))
    srv, gport = start(server, api_key="s3cret")
    stub = svc(gport)
    err = rpc_error(stub.Broadcast, req)
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err
    err = rpc_error(stub.Broadcast, req, metadata=[("authorization", "Bearer nope")])
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err
    ok = stub.Broadcast(req, timeout=10, metadata=[("authorization", "Bearer s3cret")])
    assert len(ok.id) == 26
    # Without a key, only allow_from may call; reflection follows the same rule.
    srv2, gport2 = start(server, allow_from="10.0.0.0/8 fd00::/8")
    err = rpc_error(svc(gport2).Broadcast, req)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "allow_from" in err.details()
    _, _, r1a, _ = stubs()
    info = channel(gport2).stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=r1a.ServerReflectionRequest.SerializeToString,
        response_deserializer=r1a.ServerReflectionResponse.FromString)
    with pytest.raises(grpc.RpcError) as ei:
        list(info(iter([r1a.ServerReflectionRequest(list_services="")]), timeout=10))
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_max_connections(server, pb):
    pb2 = pb[0]
    srv, gport = start(server, max_connections="1")
    req = pb2.BroadcastRequest(message=string_any("c"))
    first = svc(gport)
    assert len(first.Broadcast(req, timeout=10).id) == 26
    # its own connection: grpcio shares one between channels unless told not to
    second = svc(gport, **{"grpc.use_local_subchannel_pool": 1})
    err = rpc_error(second.Broadcast, req)
    assert err.code() == grpc.StatusCode.UNAVAILABLE, err
    srv.wait_log(r"max_connections \(1\) reached")
    assert len(first.Broadcast(req, timeout=10).id) == 26


def test_idle_connection_gets_goaway(server, pb):
    pb2 = pb[0]
    srv, gport = start(server, idle_timeout="1")
    c = H2(gport)
    sid = c.start(NOTIFY_ROOM)
    c.send(sid, grpc_frame(pb2.NotifyRoomRequest(message=string_any("i"), room="r")
                           .SerializeToString()))
    assert c.status(sid)[0] == 0
    t0 = time.time()
    goaway = c.wait(lambda ev: isinstance(ev, h2.events.ConnectionTerminated), timeout=15)
    assert goaway.error_code == 0 and goaway.last_stream_id == sid
    assert time.time() - t0 >= 0.5
    assert c.wait_closed()


def test_lua_filter_sees_the_push_api_shape(server, pb, tmp_path):
    pb2 = pb[0]
    wd = tmp_path / "lua"
    wd.mkdir()
    (wd / "f.lua").write_text(
        'function filter(msg)\n'
        '  if msg.data.entityId == "blocked" then return nil, "blocked entity" end\n'
        '  msg.data.seen = msg.type .. ":" .. msg.from\n'
        '  return msg\n'
        'end\n')
    sections = {"lua": {"scripts": "f.lua"}}
    sections.update(default_sections())
    srv, gport = start(server, sections=sections, workdir=str(wd))
    stub = svc(gport)

    async def go():
        ws = await srv.ws(client_id="ivy")
        await request(ws, "join", {"room": "r"}, ref=1)
        stub.NotifyRoom(pb2.NotifyRoomRequest(message=string_any("a"), room="r"), timeout=10)
        assert_event(await recv_type(ws, "publish"), "publish", seen="publish:server")
        stub.Broadcast(pb2.BroadcastRequest(message=string_any("b")), timeout=10)
        assert_event(await recv_type(ws, "broadcast"), "broadcast", seen="broadcast:server")
        stub.PrivateNotify(pb2.PrivateNotifyRequest(message=string_any("c"), user_id="ivy"),
                           timeout=10)
        assert_event(await recv_type(ws, "message"), "message", seen="message:server")
        err = rpc_error(stub.NotifyRoom, pb2.NotifyRoomRequest(
            entity_id="blocked", message=string_any("d"), room="r"))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, err
        assert err.details() == "blocked entity"
        await no_frame(ws)
    run(go())


def test_deadline_and_compression_raw_h2(server, pb):
    pb2 = pb[0]
    srv, gport = start(server)
    c = H2(gport)
    # The body never comes: the server's own deadline answers.
    t0 = time.time()
    sid = c.start(NOTIFY_ROOM, extra=[("grpc-timeout", "300m")])
    code, msg, _ = c.status(sid)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], msg
    assert 0.25 <= time.time() - t0 < 5
    # A compressed message is refused; a good one on the same connection works.
    sid = c.start(NOTIFY_ROOM)
    c.send(sid, grpc_frame(b"\x22\x01r", compressed=True))
    assert c.status(sid)[0] == grpc.StatusCode.UNIMPLEMENTED.value[0]
    req = pb2.NotifyRoomRequest(message=string_any("h2"), room="r").SerializeToString()
    sid = c.start(NOTIFY_ROOM, extra=[("grpc-timeout", "5S")])
    c.send(sid, grpc_frame(req))
    code, _, data = c.status(sid)
    assert code == 0 and pb2.NotifyResponse.FromString(data[5:]).delivered == 0
    # Two messages on a unary call; the request split across DATA frames.
    sid = c.start(NOTIFY_ROOM)
    c.send(sid, grpc_frame(req) + grpc_frame(req))
    assert c.status(sid)[0] == grpc.StatusCode.UNIMPLEMENTED.value[0]
    sid = c.start(NOTIFY_ROOM)
    framed = grpc_frame(req)
    for i in range(len(framed)):
        c.send(sid, framed[i:i + 1], end=i == len(framed) - 1)
    assert c.status(sid)[0] == 0
    c.close()


def test_python_deadline_reaches_the_server(server, pb):
    """grpcio's grpc-timeout is read (the header's value forms differ from the
    raw test's); calls within it succeed, one whose deadline is all but gone
    ends DEADLINE_EXCEEDED or OK, never otherwise, and the channel goes on."""
    pb2 = pb[0]
    srv, gport = start(server)
    stub = svc(gport)
    req = pb2.BroadcastRequest(message=string_any("d"))
    assert len(stub.Broadcast(req, timeout=30).id) == 26
    try:
        stub.Broadcast(req, timeout=0.001)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
    assert len(stub.Broadcast(req, timeout=30).id) == 26


# --- concurrency and shutdown ---

def test_hundred_concurrent_calls_on_one_channel(server, pb):
    pb2 = pb[0]
    srv, gport = start(server)
    stub = svc(gport)

    async def go():
        ws = await srv.ws(client_id="jack")
        await request(ws, "join", {"room": "many"}, ref=1)
        futures = [stub.NotifyRoom.future(pb2.NotifyRoomRequest(
            entity_id=str(i), message=string_any(f"n{i}"), room="many"), timeout=30)
            for i in range(100)]
        got = set()
        for _ in range(100):
            ev = await recv_type(ws, "publish", timeout=20)
            got.add(ev["data"]["entityId"])
        assert got == {str(i) for i in range(100)}
        ids = {f.result(timeout=20).id for f in futures}
        assert len(ids) == 100
    run(go(), timeout=60)


def test_shutdown_finishes_calls_in_flight(server, pb):
    """A call taken before SIGTERM is answered after the GOAWAY that names it;
    then the connection closes and the server exits 0."""
    pb2 = pb[0]
    srv, gport = start(server)
    c = H2(gport)
    sid = c.start(NOTIFY_ROOM)  # taken, its body not sent yet
    c.wait(lambda ev: isinstance(ev, h2.events.RemoteSettingsChanged))
    srv.signal(signal.SIGTERM)
    srv.wait_log(r"\[grpc\] shutdown: GOAWAY to 1 connection")
    req = pb2.NotifyRoomRequest(message=string_any("late"), room="r").SerializeToString()
    c.send(sid, grpc_frame(req))
    frames = c.raw_frames(lambda f: f.type == 0x01 and f.stream_id == sid
                          and "END_STREAM" in f.flags)
    goaway = [f for f in frames if f.type == 0x07]
    assert goaway and goaway[0].last_stream_id == sid and goaway[0].error_code == 0, frames
    trailers = dict(c.conn.decoder.decode(bytes(frames[-1].data)))
    assert trailers["grpc-status"] == "0", trailers
    data = b"".join(bytes(f.data) for f in frames if f.type == 0x00 and f.stream_id == sid)
    assert len(pb2.NotifyResponse.FromString(data[5:]).id) == 26
    with pytest.raises(AssertionError):
        c.raw_frames(lambda f: False, timeout=10)
    assert c.closed
    srv.proc.wait(20)
    assert srv.proc.returncode == 0
    srv.check_clean()


def test_shutdown_during_grpcio_calls(server, pb):
    pb2 = pb[0]
    srv, gport = start(server)
    stub = svc(gport)
    req = pb2.PrivateNotifyRequest(message=string_any("s"), user_id="kim")
    futures = [stub.PrivateNotify.future(req, timeout=30) for _ in range(50)]
    srv.signal(signal.SIGTERM)
    answered = refused = 0
    for f in futures:  # each ends: answered, or refused after the GOAWAY
        try:
            assert len(f.result(timeout=30).id) == 26
            answered += 1
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
            refused += 1
    assert answered + refused == 50
    srv.proc.wait(20)
    assert srv.proc.returncode == 0, srv.log()[-3000:]
    srv.check_clean()


# --- several nodes ---

def test_calls_reach_the_other_node_over_bus_redis(server, pb, redis):  # noqa: F811
    """A call on node A reaches members, users and everyone on node B, as the
    push API's do: the host hands room, user and broadcast sends to the bus."""
    pb2 = pb[0]
    r = redis()

    def sections(node):
        s = default_sections(store="store_redis")
        s["store_redis"] = {"url": r.url}
        s["bus_redis"] = {"url": r.url, "node_id": node}
        return s
    a, gport = start(server, sections=sections("A"))
    b = server(sections=sections("B"))
    for srv in (a, b):
        srv.wait_log(r"bus_redis.*subscribed to sb:bus")
    stub = svc(gport)

    async def go():
        ws = await b.ws(client_id="lena")
        await request(ws, "join", {"room": "far"}, ref=1)
        resp = stub.NotifyRoom(pb2.NotifyRoomRequest(
            type=pb2.TYPE_INFO, entity_id="x", message=string_any("over redis"), room="far"),
            timeout=10)
        assert resp.delivered == 0  # none on node A
        data = assert_event(await recv_type(ws, "publish"), "publish", room="far",
                            message="over redis")
        assert data["id"] == resp.id
        stub.PrivateNotify(pb2.PrivateNotifyRequest(message=string_any("dm"), user_id="lena"),
                           timeout=10)
        assert_event(await recv_type(ws, "message"), "message", to="lena", message="dm")
        stub.Broadcast(pb2.BroadcastRequest(message=string_any("all")), timeout=10)
        assert_event(await recv_type(ws, "broadcast"), "broadcast", message="all")
    run(go())


# --- the README's lines, as written ---

def readme_blocks(lang):
    with open(os.path.join(SOURCE_DIR, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index("## Push over gRPC")
    end = text.index("\n## ", start + 1)
    return re.findall(r"^```" + lang + r"\n(.*?)^```", text[start:end], re.S | re.M)


def test_readme_python_and_grpcurl_lines(server, tmp_path):
    """The README's protoc lines and Python call run as written (only the port
    changes); its grpcurl line too when grpcurl is installed."""
    srv, gport = start(server)
    sh = [b for b in readme_blocks("sh") if "protoc " in b][0]
    sh = sh.replace("-Iplugins/grpc/proto", "-I" + os.path.join(SOURCE_DIR, "plugins/grpc/proto"))
    env = dict(os.environ, PATH="/usr/bin:" + os.environ.get("PATH", ""))  # Debian's python3
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", sh], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    code = readme_blocks("python")[0]
    assert "localhost:9003" in code
    (tmp_path / "call.py").write_text(code.replace("localhost:9003", f"127.0.0.1:{gport}"))

    async def go():
        ws = await srv.ws(client_id="olga")
        out = subprocess.run(["/usr/bin/python3", "call.py"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        rid, delivered = out.stdout.split()
        assert len(rid) == 26 and delivered == "1", out.stdout
        assert_event(await recv_type(ws, "broadcast"), "broadcast", type="TYPE_INFO",
                     entityId="order-123", message="Your order has shipped!")
    run(go())
    if not shutil.which("grpcurl"):
        return  # not packaged in Debian 12; test_seed_grpcurl_request_through_reflection
    line = [b for b in readme_blocks("sh") if b.startswith("grpcurl")][0]
    line = line.replace("localhost:9003", f"127.0.0.1:{gport}").split("\n# ->")[0]
    out = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"delivered"' in out.stdout, out.stdout
