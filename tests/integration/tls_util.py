"""A certificate authority made at test time with the openssl command, and
TLS clients that trust it: the server's certificate is signed by the CA for
127.0.0.1 and localhost."""
import os
import socket
import ssl
import subprocess

import websockets


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(workdir):
    """Write ca.pem, srv.pem, srv.key (valid), other.pem/other.key (another
    pair, for reload) and expired.pem (for srv.key) into workdir; return
    workdir."""
    os.makedirs(workdir, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=switchboard test CA", cwd=workdir)
    with open(os.path.join(workdir, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn in (("srv", "first"), ("other", "second")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                 f"{name}.csr", "-subj", f"/CN={cn}", cwd=workdir)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "ext",
                 cwd=workdir)
    _expired(workdir)
    return workdir


def _expired(workdir):
    """expired.pem: srv.key's certificate, signed by the CA, valid two days
    and over since yesterday (the openssl command cannot date one back)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    def load(name, what):
        with open(os.path.join(workdir, name), "rb") as f:
            data = f.read()
        return (serialization.load_pem_private_key(data, None) if what == "key"
                else x509.load_pem_x509_certificate(data))

    ca_key, ca_cert, key = load("ca.key", "key"), load("ca.pem", "cert"), load("srv.key", "key")
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=3))
            .not_valid_after(now - datetime.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))
    with open(os.path.join(workdir, "expired.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def client_context(ca_dir):
    ctx = ssl.create_default_context(cafile=os.path.join(ca_dir, "ca.pem"))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def tls_socket(port, ca_dir, timeout=10):
    """A TLS socket to the server, handshake done (verifies the chain)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return client_context(ca_dir).wrap_socket(raw, server_hostname="127.0.0.1")


def peer_cn(port, ca_dir):
    """The common name of the certificate the server presents now."""
    with tls_socket(port, ca_dir) as s:
        subject = dict(x[0] for x in s.getpeercert()["subject"])
        return subject["commonName"]


def https_request(port, ca_dir, method, path, timeout=10):
    """(status, alpn, body) of one HTTPS request."""
    with tls_socket(port, ca_dir, timeout) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                  .encode())
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        return int(head.split()[1]), s.selected_alpn_protocol(), body


async def wss(port, ca_dir, path="/ws", **kw):
    kw.setdefault("close_timeout", 1)
    return await websockets.connect(f"wss://127.0.0.1:{port}{path}", ssl=client_context(ca_dir),
                                    max_size=None, ping_interval=None, open_timeout=10, **kw)
