"""The web plugin (plugins/web/README.md): static files under a prefix with
content types, ETag / If-None-Match -> 304 and Cache-Control; every way out
of the root (.., encoded dots, encoded separators, hidden files, symlinks
leading out) answers 404; the core's own paths and the push API's longer
prefix keep their handlers beside a "/" prefix."""
import os
import subprocess

import pytest

from conftest import default_sections, read_head, read_response, request, run, ws_handshake_raw

INDEX = b"<!doctype html><title>demo</title><p>hello</p>\n"


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "app.css").write_text("body { color: #123; }\n")
    (root / "app.js").write_text("console.log('hi');\n")
    (root / "data.json").write_text('{"a": 1}\n')
    (root / "logo.PNG").write_bytes(b"\x89PNG\r\n\x1a\nxxxx")
    (root / "blob.bin").write_bytes(b"\x00\x01")
    (root / ".hidden").write_text("secret\n")
    (root / "sub" / "index.html").write_text("<p>sub</p>\n")
    (root / "sub" / "page.txt").write_text("a page\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not serve\n")
    os.symlink(outside, root / "out")                        # a directory leading out
    os.symlink(outside / "secret.txt", root / "leak.txt")   # a file leading out
    os.symlink(root / "app.css", root / "alias.css")        # inside: allowed
    return root


def web_server(server, root, prefix="/", extra=None, api_key="k"):
    sections = default_sections()
    sections["api"] = {"api_key": api_key}
    sections["web"] = dict({"root": str(root), "prefix": prefix}, **(extra or {}))
    return server(sections=sections)


def get(srv, path, headers=None, method="GET"):
    return srv.http(method, path, headers=headers)


def test_files_types_and_cache_headers(server, site):
    srv = web_server(server, site)
    st, h, body = get(srv, "/")
    assert (st, body) == (200, INDEX), (st, h, body)
    assert h["content-type"] == "text/html; charset=utf-8", h
    assert h["cache-control"] == "no-cache", h  # HTML revalidates on every load
    assert h["x-content-type-options"] == "nosniff", h
    assert h["etag"].startswith('"') and h["etag"].endswith('"'), h
    for path, ctype, body in (
            ("/app.css", "text/css; charset=utf-8", b"body { color: #123; }\n"),
            ("/app.js", "text/javascript; charset=utf-8", b"console.log('hi');\n"),
            ("/data.json", "application/json", b'{"a": 1}\n'),
            ("/logo.PNG", "image/png", b"\x89PNG\r\n\x1a\nxxxx"),
            ("/blob.bin", "application/octet-stream", b"\x00\x01"),
            ("/sub/page.txt", "text/plain; charset=utf-8", b"a page\n"),
            ("/alias.css", "text/css; charset=utf-8", b"body { color: #123; }\n"),
            ("/index.html", "text/html; charset=utf-8", INDEX),
            ("//app.css", "text/css; charset=utf-8", b"body { color: #123; }\n"),
            ("/app%2ecss", "text/css; charset=utf-8", b"body { color: #123; }\n")):
        st, h, got = get(srv, path)
        assert (st, h["content-type"], got) == (200, ctype, body), (path, st, h, got)
        if not ctype.startswith("text/html"):
            assert h["cache-control"] == "public, max-age=60", (path, h)
    # A query string is not part of the file name.
    assert get(srv, "/app.css?v=2")[0] == 200


def test_etag_and_if_none_match(server, site):
    srv = web_server(server, site, extra={"max_age": "3600"})
    st, h, _ = get(srv, "/app.css")
    etag = h["etag"]
    assert h["cache-control"] == "public, max-age=3600"
    for inm in (etag, "W/" + etag, f'"nope", {etag}', "*"):
        st, h2, body = get(srv, "/app.css", {"If-None-Match": inm})
        assert (st, body) == (304, b""), (inm, st, h2, body)
        assert h2["etag"] == etag, h2
    st, _, body = get(srv, "/app.css", {"If-None-Match": '"other"'})
    assert st == 200 and body, st
    # Another content: another tag, and the old one no longer matches.
    (site / "app.css").write_text("body { color: #456; margin: 0 }\n")
    st, h3, body = get(srv, "/app.css", {"If-None-Match": etag})
    assert st == 200 and body == b"body { color: #456; margin: 0 }\n", (st, body)
    assert h3["etag"] != etag


@pytest.mark.parametrize("path", [
    "/../outside/secret.txt", "/sub/../../outside/secret.txt", "/%2e%2e/outside/secret.txt",
    "/%2E%2E/outside/secret.txt", "/..%2foutside%2fsecret.txt", "/%2e%2e%2foutside/secret.txt",
    "/sub/%2e%2e/%2e%2e/outside/secret.txt", "/.%2e/outside/secret.txt", "/sub/./page.txt",
    "/.hidden", "/%2ehidden", "/out/secret.txt", "/out/", "/leak.txt", "/sub%2fpage.txt",
    "/sub%5cpage.txt", "/app.css%00.txt", "/app.css%", "/app.css%zz", "/nope.html", "/sub/nope",
])
def test_no_way_out_of_the_root(server, site, path):
    srv = web_server(server, site)
    st, h, body = get(srv, path)
    assert st == 404, (path, st, h, body)
    assert b"do not serve" not in body and b"secret" not in body


def test_directories_and_methods(server, site):
    srv = web_server(server, site)
    st, h, _ = get(srv, "/sub")
    assert st == 301 and h["location"] == "/sub/", (st, h)
    st, _, body = get(srv, "/sub/")
    assert (st, body) == (200, b"<p>sub</p>\n")
    st, h, _ = srv.http("POST", "/app.css", body="x")
    assert st == 405 and h["allow"] == "GET, HEAD", (st, h)
    (site / "index.html").unlink()
    assert get(srv, "/")[0] == 404


def test_head_is_get_without_the_body(server, site):
    """HEAD answers GET's head (the same Content-Length and ETag) and no body:
    the next request on the same connection is read right after it."""
    srv = web_server(server, site)
    _, get_h, _ = get(srv, "/app.css")
    with srv.raw() as s:
        s.sendall(b"HEAD /app.css HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, rest = read_head(s, step=65536)
        assert head.startswith(b"HTTP/1.1 200 "), head
        lines = {k.lower(): v for k, v in
                 (line.split(": ", 1) for line in head.decode().split("\r\n")[1:])}
        assert lines["content-length"] == str(len("body { color: #123; }\n")), lines
        assert lines["etag"] == get_h["etag"], (lines, get_h)
        # No body: the second answer starts right after the first head.
        assert rest == b"" or rest.startswith(b"HTTP/1.1 "), rest
        status, _, body = read_response(s, bytearray(rest))
        assert (status, body) == (200, b'{"a": 1}\n')


def test_core_paths_and_longer_prefixes_win(server, site):
    srv = web_server(server, site)
    assert get(srv, "/health")[:1] == (200,) and get(srv, "/health")[2] == b"ok"
    assert get(srv, "/ready")[0] == 200
    st, _, body = get(srv, "/metrics")
    assert st == 200 and b"switchboard_connections" in body
    st, h, _ = get(srv, "/api/users")  # the api plugin's "/api/" is longer than "/"
    assert st == 401 and h["content-type"].startswith("application/json"), (st, h)
    assert get(srv, "/api/users", {"Authorization": "Bearer k"})[0] == 200
    assert get(srv, "/ws")[0] == 426  # the core's WebSocket path, not a file
    ws_handshake_raw(srv.port).close()  # asserts the 101

    async def go():
        ws = await srv.ws(client_id="alice")
        assert (await request(ws, "ping", ref=1))["type"] == "pong"
        await ws.close()

    run(go())


def test_prefix_other_than_root(server, site):
    srv = web_server(server, site, prefix="/static")
    assert get(srv, "/static/app.css")[0] == 200
    st, _, body = get(srv, "/static/")
    assert (st, body) == (200, INDEX)
    assert get(srv, "/app.css")[0] == 404  # not under the prefix: the core's 404
    assert get(srv, "/static")[0] == 404
    assert get(srv, "/static/../static/app.css")[0] == 404


def test_bad_root_stops_start_up(server, tmp_path):
    sections = default_sections()
    sections["web"] = {"root": str(tmp_path / "missing")}
    srv = server(sections=sections, start=False)
    srv.start(wait=False)
    try:
        code = srv.proc.wait(15)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        srv.proc.wait()
        raise AssertionError("started without its root:\n" + srv.log())
    srv.check_clean()
    assert code != 0
    assert "root" in srv.log() and "missing" in srv.log(), srv.log()
