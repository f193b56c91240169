"""Shared by the chaos tests: how big a run is, the reference server as a killable process, raw
TCP servers that misbehave on purpose, and throw-away TLS certificates.

Sizes: every chaos test states the size the issue asks for and runs a scaled-down share of it by
default, so the whole folder stays within a few minutes on 2 cores. `NOTIFIER_CHAOS_SCALE=1`
runs the full sizes (a benchmark-sized run):

    NOTIFIER_CHAOS_SCALE=1 bash tests/run tests/chaos -v
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_helpers import ServerProcess  # noqa: E402,F401 - re-exported for the chaos tests

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SCALE = 0.25


def scale(default: float = DEFAULT_SCALE) -> float:
    """NOTIFIER_CHAOS_SCALE, or `default` when it is not set."""
    try:
        return max(0.01, float(os.environ.get("NOTIFIER_CHAOS_SCALE", default)))
    except ValueError:
        return default


def scaled(full: int, minimum: int, default: float = DEFAULT_SCALE) -> int:
    """`full` (the issue's number) times the chaos scale, never below `minimum`, never above full.
    `default` is the share used when NOTIFIER_CHAOS_SCALE is not set (1.0 for cheap tests)."""
    return max(minimum, min(full, round(full * scale(default))))


# -- misbehaving raw servers --------------------------------------------------------------------


def accept_key(key: str) -> str:
    magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    return base64.b64encode(hashlib.sha1((key + magic).encode()).digest()).decode()


def text_frame(payload: bytes) -> bytes:
    """One unmasked server-to-client text frame."""
    size = len(payload)
    if size < 126:
        header = bytes([0x81, size])
    elif size < 65536:
        header = bytes([0x81, 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x81, 127]) + size.to_bytes(8, "big")
    return header + payload


class RawServer:
    """A TCP server on 127.0.0.1 whose behaviour per connection is a function of the socket.

    `handler(conn, index)` runs on its own thread for every accepted connection (index counts
    from 0); whatever it does to the peer is the test's point. Connections are closed at `close`.
    """

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[float] = []  # monotonic time of every accepted connection
        self._conns: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="raw-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(time.monotonic())
            self._conns.append(conn)
            index = len(self.accepted) - 1
            threading.Thread(target=self._run, args=(conn, index), daemon=True).start()

    def _run(self, conn: socket.socket, index: int) -> None:
        try:
            self.handler(self, conn, index)
        except OSError:
            pass

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def close(self) -> None:
        self._closing.set()
        self.sock.close()
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass


def read_handshake(conn: socket.socket) -> str:
    """Read the client's HTTP upgrade request; returns the Sec-WebSocket-Key."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise OSError("client went away during the handshake")
        data += chunk
    for line in data.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-key":
            return value.strip()
    raise OSError("no Sec-WebSocket-Key")


def answer_handshake(conn: socket.socket, key: str) -> None:
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
    )


# -- certificates -----------------------------------------------------------------------------


def make_certificates(folder: Path) -> dict[str, Path]:
    """A private CA, a server certificate it signed for 127.0.0.1/localhost, one it signed for
    another name, and a self-signed certificate for 127.0.0.1. Returns their PEM paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def key_pem(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def build(subject_cn: str, key, issuer_name, issuer_key, *, ca: bool, sans: list | None):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
        builder = (
            x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                              content_commitment=False, key_encipherment=False, data_encipherment=False,
                              key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                            critical=False)
        if issuer_key is not None and issuer_key is not key:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(issuer_key or key, hashes.SHA256())

    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def write(stem: str, cert, key) -> None:
        paths[f"{stem}_cert"] = folder / f"{stem}.crt"
        paths[f"{stem}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            paths[f"{stem}_key"] = folder / f"{stem}.key"
            paths[f"{stem}_key"].write_bytes(key_pem(key))

    local = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("Chaos Test CA", ca_key, None, ca_key, ca=True, sans=None)
    write("ca", ca, None)
    good_key = ec.generate_private_key(ec.SECP256R1())
    write("server", build("127.0.0.1", good_key, ca.subject, ca_key, ca=False, sans=local), good_key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    write("other", build("shop.example", other_key, ca.subject, ca_key, ca=False,
                         sans=[x509.DNSName("shop.example")]), other_key)
    self_key = ec.generate_private_key(ec.SECP256R1())
    write("selfsigned", build("127.0.0.1", self_key, None, self_key, ca=False, sans=local), self_key)
    return paths
