"""A raw PostgreSQL protocol 3.0 client over a plain socket, for tests that must send exactly the
bytes they choose (malformed messages, half-sent frames) and see exactly what comes back."""

import base64
import hashlib
import hmac
import os
import socket
import struct
import time

PROTOCOL_3_0 = 196608
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102


def startup_packet(user, database, protocol=PROTOCOL_3_0, **params):
    body = struct.pack("!I", protocol)
    for key, value in {"user": user, "database": database, **params}.items():
        body += key.encode() + b"\0" + str(value).encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def ssl_request():
    return struct.pack("!II", 8, SSL_REQUEST_CODE)


def gssenc_request():
    return struct.pack("!II", 8, GSSENC_REQUEST_CODE)


def cancel_request(process_id, secret_key):
    return struct.pack("!III", 16, CANCEL_REQUEST_CODE, process_id) + secret_key


def message(tag, payload=b""):
    """A tagged frame whose length word is the true one."""
    return tag + struct.pack("!I", len(payload) + 4) + payload


def query(sql):
    return message(b"Q", sql.encode() + b"\0")


def parse(name, sql, types=()):
    return message(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!H", len(types))
                   + b"".join(struct.pack("!I", t) for t in types))


def bind(statement, values, binary=False, portal=""):
    """Bind with one format code for every parameter and text results."""
    body = portal.encode() + b"\0" + statement.encode() + b"\0"
    body += struct.pack("!Hh", 1, 1 if binary else 0) + struct.pack("!H", len(values))
    for value in values:
        body += struct.pack("!I", len(value)) + value
    return message(b"B", body + struct.pack("!H", 0))


def execute(portal="", max_rows=0):
    return message(b"E", portal.encode() + b"\0" + struct.pack("!i", max_rows))


def describe_portal(portal=""):
    return message(b"D", b"P" + portal.encode() + b"\0")


def close_statement(name):
    return message(b"C", b"S" + name.encode() + b"\0")


SYNC = message(b"S")
TERMINATE = message(b"X")


def parse_fields(payload):
    """ErrorResponse/NoticeResponse body -> {field code: value}."""
    fields = {}
    for part in payload.rstrip(b"\0").split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


class ProtocolError(AssertionError):
    pass


class RawConnection:
    """One connection; reads whole backend messages, tolerates a reset as end of stream. As in
    libpq, a host that is an absolute path is the directory of a Unix-domain socket."""

    def __init__(self, host, port, timeout=10.0):
        if host.startswith("/"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(f"{host}/.s.PGSQL.{port}")
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.eof = False
        self.backend_key = None  # (process_id, secret_key) once BackendKeyData arrived
        self.parameters = {}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.buffer += chunk

    def read_byte(self, timeout=10.0):
        """One byte (the answer to SSLRequest/GSSENCRequest), or b"" at end of stream."""
        deadline = time.monotonic() + timeout
        while not self.buffer and not self.eof:
            self._fill(max(0.01, deadline - time.monotonic()))
        if not self.buffer:
            return b""
        byte, self.buffer = self.buffer[:1], self.buffer[1:]
        return byte

    def read_message(self, timeout=10.0):
        """(tag, payload), or None at end of stream. socket.timeout if nothing comes in time."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= 5:
                tag = self.buffer[:1]
                (length,) = struct.unpack("!I", self.buffer[1:5])
                if length < 4:
                    raise ProtocolError(f"backend sent length {length} for {tag!r}")
                if len(self.buffer) >= 1 + length:
                    payload = self.buffer[5 : 1 + length]
                    self.buffer = self.buffer[1 + length :]
                    return tag, payload
            if self.eof:
                if self.buffer:
                    raise ProtocolError(f"stream ended inside a message: {self.buffer[:40]!r}")
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("no complete message in time")
            self._fill(remaining)

    def read_until_closed(self, timeout=10.0):
        """Every message until the peer closes; fails if it does not close in time."""
        messages = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.read_message(max(0.01, deadline - time.monotonic()))
            if msg is None:
                return messages
            messages.append(msg)

    def read_until_error(self, timeout=10.0):
        """Messages up to and including the first ErrorResponse; fails if none comes in time (a
        batch ended by Flush, which no ReadyForQuery closes)."""
        messages = []
        deadline = time.monotonic() + timeout
        while not errors_in(messages):
            message = self.read_message(max(0.01, deadline - time.monotonic()))
            assert message is not None, f"no ErrorResponse, got {messages}"
            messages.append(message)
        return messages

    def read_until_ready(self, timeout=10.0):
        """Messages up to and including ReadyForQuery (or up to the end of stream)."""
        messages = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.read_message(max(0.01, deadline - time.monotonic()))
            if msg is None:
                return messages
            messages.append(msg)
            tag, payload = msg
            if tag == b"K":
                pid, key = payload[:4], payload[4:]
                self.backend_key = (struct.unpack("!I", pid)[0], key)
            elif tag == b"S":
                name, value = payload[:-1].split(b"\0", 1)
                self.parameters[name.decode()] = value.decode()
            if tag == b"Z":
                return messages

    def startup(self, user, database, password=None, timeout=10.0, **params):
        """Sends a StartupMessage and answers the server's authentication requests (cleartext,
        md5, SCRAM-SHA-256). Returns every message up to ReadyForQuery, or up to the first
        ErrorResponse (the server closes after a failed authentication)."""
        self.send(startup_packet(user, database, **params))
        messages = []
        scram = None
        deadline = time.monotonic() + timeout
        while True:
            msg = self.read_message(max(0.01, deadline - time.monotonic()))
            if msg is None:
                return messages
            messages.append(msg)
            tag, payload = msg
            if tag == b"E":
                return messages
            if tag != b"R":
                break
            (code,) = struct.unpack("!I", payload[:4])
            if code == 0:
                break
            if code == 3:
                self.send(message(b"p", _password(password) + b"\0"))
            elif code == 5:
                salt = payload[4:8]
                inner = hashlib.md5(_password(password) + user.encode()).hexdigest().encode()
                outer = hashlib.md5(inner + salt).hexdigest()
                self.send(message(b"p", b"md5" + outer.encode() + b"\0"))
            elif code == 10:
                mechanisms = payload[4:].rstrip(b"\0").split(b"\0")
                if b"SCRAM-SHA-256" not in mechanisms:
                    raise ProtocolError(f"no SCRAM-SHA-256 in {mechanisms}")
                scram = ScramClient(_password(password))
                first = scram.client_first()
                self.send(
                    message(
                        b"p",
                        b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first,
                    )
                )
            elif code == 11:
                self.send(message(b"p", scram.client_final(payload[4:])))
            elif code == 12:
                scram.verify_server_final(payload[4:])
            else:
                raise ProtocolError(f"unsupported authentication request {code}")
        messages += self.read_until_ready(max(0.01, deadline - time.monotonic()))
        return messages

    def simple_query(self, sql, timeout=10.0):
        self.send(query(sql))
        return self.read_until_ready(timeout)


def _password(password):
    if password is None:
        raise ProtocolError("the server asked for a password and the test gave none")
    return password.encode()


def errors_in(messages):
    """The fields of every ErrorResponse among messages."""
    return [parse_fields(payload) for tag, payload in messages if tag == b"E"]


def data_rows(messages):
    """Text values of every DataRow among messages (None for NULL)."""
    rows = []
    for tag, payload in messages:
        if tag != b"D":
            continue
        (count,) = struct.unpack("!H", payload[:2])
        offset, row = 2, []
        for _ in range(count):
            (length,) = struct.unpack("!i", payload[offset : offset + 4])
            offset += 4
            if length < 0:
                row.append(None)
            else:
                row.append(payload[offset : offset + length].decode())
                offset += length
        rows.append(row)
    return rows


class ScramClient:
    """The client side of SCRAM-SHA-256 without channel binding (RFC 5802 / RFC 7677)."""

    def __init__(self, password):
        self.password = password
        self.nonce = base64.b64encode(os.urandom(18))
        self.first_bare = b"n=,r=" + self.nonce
        self.server_signature = None

    def client_first(self):
        return b"n,," + self.first_bare

    def client_final(self, server_first):
        attrs = dict(item.split(b"=", 1) for item in server_first.split(b","))
        nonce, salt, iterations = attrs[b"r"], base64.b64decode(attrs[b"s"]), int(attrs[b"i"])
        if not nonce.startswith(self.nonce):
            raise ProtocolError("server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = b"c=biws,r=" + nonce
        auth_message = self.first_bare + b"," + server_first + b"," + without_proof
        client_signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature))
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        return without_proof + b",p=" + base64.b64encode(proof)

    def verify_server_final(self, server_final):
        attrs = dict(item.split(b"=", 1) for item in server_final.split(b","))
        if base64.b64decode(attrs[b"v"]) != self.server_signature:
            raise ProtocolError("server signature does not match")
