"""wire: the client's side of smooth's protocols, as bytes, with no I/O.

What a client puts on the wire for a message, and a reader that cuts what
the server sends back into answers, fed any pieces in any order of arrival:

    ws     RFC 6455 frames, masked, optionally fragmented with pings between
           the fragments (ws_frame, ws_message, WsReader)
    text   one line per message (LineReader)
    frame  a 4-byte big-endian length, header included, then the payload
           (FrameReader)
    http   requests with a Content-Length or a chunked body (http_request,
           HttpReader)
    link   what a gateway worker says to a business worker: the handshake
           (HELLO, CHALLENGE, PROOF: HMAC-SHA-256 over both nonces) and the
           frames after it (link_frame, link_event, LinkReader); the
           business side is src/protocol/link.h, docs/links.md

On top of them, a Speaker per path a test or the fuzzer talks to (a group
and the module behind it: the chat or probe through a gateway, or echo; or
a business group's port, as a gateway of the caller's own: LinkSpeaker):
the messages it sends, the answer each must get, and a Session per
connection that turns the server's bytes into events ("open", "answer",
"pong", "close"; for the link, "write" and "wrong" too).

Shared by the delivery tests (test_delivery.py), the link's attacks
(test_link_security.py), the short socket fuzz (test_socket_fuzz.py) and the
socket fuzzer (tests/fuzz/socket_fuzz), so they speak the protocols the same
way. The readers check what a client must be able to rely on (a server never
masks its frames, a length is a length) and raise ProtocolError when it does
not hold.
"""
import base64
import enum
import hashlib
import hmac
import os
import random
import re
import struct

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class ProtocolError(AssertionError):
    """The server sent something no client of this protocol could read."""


# ---- WebSocket ----

def ws_mask(payload, key):
    """payload XOR the 4-byte key repeated (one big-integer XOR: fast for 1 MB)."""
    n = len(payload)
    if n == 0:
        return b""
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")


def ws_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, key=None, length=None, length_form=None):
    """One frame as a client sends it. `length` lies about the payload's
    length, `length_form` (7, 16 or 64) forces a length encoding (a
    non-minimal one included): both for the fuzzer's bad frames."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)])
    m = 0x80 if mask else 0
    form = length_form or (7 if n < 126 else 16 if n < 65536 else 64)
    if form == 7:
        head += bytes([m | (n & 0x7F)])
    elif form == 16:
        head += bytes([m | 126]) + struct.pack("!H", n & 0xFFFF)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n & 0xFFFFFFFFFFFFFFFF)
    if not mask:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + ws_mask(payload, key)


def ws_message(payload, opcode=TEXT, rng=None, fragments=1, pings=()):
    """A message as one frame, or cut into `fragments` frames (at places
    chosen by rng) with a ping after each of the first fragments whose
    payload is taken, in order, from `pings`. Returns (bytes, pings sent)."""
    if fragments <= 1 or len(payload) < 2:
        return ws_frame(opcode, payload, key=_key(rng)), []
    cuts = sorted(rng.sample(range(1, len(payload)), min(fragments - 1, len(payload) - 1)))
    parts = [payload[a:b] for a, b in zip([0] + cuts, cuts + [len(payload)])]
    out, sent = b"", []
    pings = list(pings)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        out += ws_frame(opcode if i == 0 else CONT, part, fin=last, key=_key(rng))
        if not last and pings:
            p = pings.pop(0)
            out += ws_frame(PING, p, key=_key(rng))
            sent.append(p)
    return out, sent


def _key(rng):
    return rng.randbytes(4) if rng is not None else None


def ws_close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def ws_handshake_request(path="/chat", host="127.0.0.1", key=None):
    """(request bytes, the Sec-WebSocket-Accept the server must answer)."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
    req = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    return req, accept


def ws_check_handshake_response(head, accept):
    """head: the server's response head (up to the blank line). Raises unless a 101 with the right accept."""
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 101"):
        raise ProtocolError(f"handshake answered {lines[0]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    if headers.get("sec-websocket-accept") != accept:
        raise ProtocolError(f"wrong Sec-WebSocket-Accept: {headers}")


class WsReader:
    """Frames from the server: feed(bytes) -> [(opcode, fin, payload)]."""

    def __init__(self, max_payload=64 << 20):
        self.buf = bytearray()
        self.max_payload = max_payload

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            if len(self.buf) < 2:
                return out
            b0, b1 = self.buf[0], self.buf[1]
            if b1 & 0x80:
                raise ProtocolError("the server masked a frame (RFC 6455 §5.1 forbids it)")
            if b0 & 0x70:
                raise ProtocolError(f"the server set reserved bits: {b0:#x}")
            n, at = b1 & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    return out
                n, at = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    return out
                n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
            if n > self.max_payload:
                raise ProtocolError(f"a frame of {n} bytes from the server")
            if len(self.buf) < at + n:
                return out
            out.append((b0 & 0x0F, bool(b0 & 0x80), bytes(self.buf[at:at + n])))
            del self.buf[:at + n]


# ---- text and frame ----

class LineReader:
    """Lines from the server (without their '\\n')."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        return lines


def frame_message(payload):
    return struct.pack("!I", len(payload) + 4) + payload


class FrameReader:
    """Length-prefixed frames from the server (their payloads)."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            n = struct.unpack("!I", self.buf[:4])[0]
            if n < 4:
                raise ProtocolError(f"a frame length of {n} from the server")
            if len(self.buf) < n:
                break
            out.append(bytes(self.buf[4:n]))
            del self.buf[:n]
        return out


# ---- HTTP ----

def http_request(body, chunks=None, path="/echo"):
    """A POST with `body`: with a Content-Length, or (chunks: a list of
    piece lengths that add up to len(body)) chunked."""
    if chunks is None:
        return b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body)
    out, at = [b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % path.encode()], 0
    for n in chunks:
        if n:
            out.append(b"%x\r\n%s\r\n" % (n, body[at:at + n]))
            at += n
    assert at == len(body), "the chunks must add up to the body"
    out.append(b"0\r\n\r\n")
    return b"".join(out)


class HttpReader:
    """Responses from the server: feed(bytes) -> [(status, headers, body)]
    (bodies by Content-Length: smooth's responses always carry one)."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while b"\r\n\r\n" in self.buf:
            head, rest = self.buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
            if not m:
                raise ProtocolError(f"not a status line: {lines[0]!r}")
            headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
            n = int(headers.get("content-length", "0"))
            if len(rest) < n:
                break
            out.append((int(m.group(1)), headers, rest[:n]))
            self.buf = rest[n:]
        return out


# ---- link: a gateway worker's side (src/protocol/link.h, docs/links.md) ----

class Link(enum.IntEnum):
    """A link frame's type byte."""
    HELLO, EVENT, DRAIN_ACK, PROOF, ADOPT = 1, 2, 3, 4, 5                # gateway -> business
    WELCOME, DONE, SEND, SEND_MANY, BROADCAST, KICK, DRAINING, CHALLENGE = range(16, 24)  # business -> gateway


LINK_CONNECT, LINK_CLOSE = 100, 101    # EVENT kinds besides a message's smooth_protocol value (1 to 6)
LINK_NONCE = 32                        # each side's fresh random bytes
LINK_PROOF = 32                        # HMAC-SHA-256
LINK_MAX_HANDSHAKE_FRAME = 4 + 1 + LINK_NONCE + LINK_PROOF  # what an unproven peer's length may say
LINK_FIELDS_ROOM = 65536               # a link frame: max_request_bytes + this (max_frame_for)


def link_frame(kind, body=b"", length=None):
    """[length of the rest: u32][type: u8][body]; `length` lies about it (for bad frames)."""
    n = 1 + len(body) if length is None else length
    return struct.pack("!IB", n & 0xFFFFFFFF, kind & 0xFF) + body


def link_hello(nonce):
    return link_frame(Link.HELLO, nonce)


def link_proof(token, mac):
    return link_frame(Link.PROOF, struct.pack("!I", token) + mac)


def link_event(seq, client, kind, payload=b""):
    return link_frame(Link.EVENT, struct.pack("!QQB", seq, client, kind) + payload)


def link_business_proof(secret, gateway_nonce, business_nonce):
    return hmac.new(secret, b"smooth link 1 business" + gateway_nonce + business_nonce, hashlib.sha256).digest()


def link_gateway_proof(secret, gateway_nonce, business_nonce, token):
    return hmac.new(secret, b"smooth link 1 gateway" + gateway_nonce + business_nonce + struct.pack("!I", token),
                    hashlib.sha256).digest()


def link_answer_challenge(secret, gateway_nonce, challenge, token):
    """The gateway's half of the handshake, once CHALLENGE's body has come:
    checks that the business worker knows the secret (ProtocolError if not),
    then returns (the business nonce, the PROOF frame to send)."""
    if len(challenge) != LINK_NONCE + LINK_PROOF:
        raise ProtocolError(f"a CHALLENGE of {len(challenge)} bytes")
    business_nonce, mac = challenge[:LINK_NONCE], challenge[LINK_NONCE:]
    if not hmac.compare_digest(mac, link_business_proof(secret, gateway_nonce, business_nonce)):
        raise ProtocolError("the business worker's proof does not hold")
    return business_nonce, link_proof(token, link_gateway_proof(secret, gateway_nonce, business_nonce, token))


def link_welcome(body):
    """WELCOME's fields: pid, slot, count, generation, version."""
    if len(body) < 12:
        raise ProtocolError(f"a WELCOME of {len(body)} bytes")
    pid, slot, count, generation = struct.unpack("!IHHI", body[:12])
    return {"pid": pid, "slot": slot, "count": count, "generation": generation, "version": body[12:].decode()}


class LinkReader:
    """Frames from a business worker: feed(bytes) -> [(type, body)]. A
    length of 0, one past `max_frame` (the business group's max_request_bytes
    + 64 KiB), a type no business worker sends or fields that do not fit
    raise ProtocolError."""

    FIXED = {Link.WELCOME: (12, True), Link.DONE: (8, False), Link.SEND: (9, True), Link.SEND_MANY: (5, True),
             Link.BROADCAST: (9, True), Link.KICK: (10, False), Link.DRAINING: (0, False),
             Link.CHALLENGE: (LINK_NONCE + LINK_PROOF, False)}

    def __init__(self, max_frame):
        self.buf = bytearray()
        self.max_frame = max_frame

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 5:
            n, kind = struct.unpack("!IB", self.buf[:5])
            if n < 1 or n + 4 > self.max_frame:
                raise ProtocolError(f"a link frame of length {n} from the business worker")
            if len(self.buf) < 4 + n:
                break
            body = bytes(self.buf[5:4 + n])
            del self.buf[:4 + n]
            if kind not in self.FIXED:
                raise ProtocolError(f"link frame type {kind} from the business worker")
            fixed, rest = self.FIXED[Link(kind)]
            if len(body) < fixed or (not rest and len(body) != fixed) or \
                    (kind == Link.SEND_MANY and len(body) < 5 + 8 * struct.unpack("!I", body[:4])[0]):
                raise ProtocolError(f"{Link(kind).name} with fields that do not fit: {body[:40]!r}")
            out.append((Link(kind), body))
        return out


# ---- the chat module's answer (modules/chat.cpp) ----

CHAT_OUT = 4199  # chat formats into char[4200]: a longer answer is cut there
CHAT_TAIL = re.compile(rb" \[pid \d+, chat [^\]]+\]$")


def chat_answer_ok(sent, got):
    """`sent` is "ping REST": the answer is "pong REST [pid P, chat V]", cut at CHAT_OUT bytes."""
    return answer_ok(b"pong " + sent[5:], got, "chat")


# ---- the probe module's answers (tests/modules/probe.cpp) ----

PROBE_TAIL = re.compile(rb" \[pid \d+\]$")                    # /to, /many, /all, ok ...
PROBE_ECHO_TAIL = re.compile(rb" \[pid \d+, reloads \d+\]$")  # anything else: echo TEXT

TAILS = {"chat": (CHAT_TAIL, CHAT_OUT), "probe": (PROBE_TAIL, None), "probe-echo": (PROBE_ECHO_TAIL, None),
         "": (None, None)}


def answer_ok(want, got, tail):
    """A module's answer: `want`, then the module's tail (TAILS: the worker
    that made it), the whole cut where the module cuts it."""
    pattern, cut = TAILS[tail]
    if cut and not got.startswith(want[:cut]):
        return False
    if cut and len(got) == cut:
        return True  # cut in `want` or in its tail
    if not got.startswith(want) or (cut and len(got) > cut):
        return False
    return got == want if pattern is None else pattern.fullmatch(got[len(want):]) is not None


# ---- speakers: a path as a client talks to it ----

class Session:
    """One connection's side: `opening` is what the client sends first;
    feed(bytes) -> [(kind, value)], kind one of "open" (the connection is
    ready for messages), "answer" (a message's answer), "pong" (its
    payload), "close" (why the server ended the conversation), "write"
    (bytes the client sends now: the link's PROOF, once the CHALLENGE has
    come) and "wrong" (what the server must never have sent this client: a
    link that never proved itself answered).

    wait_open: messages wait for "open", also in a stream that is not
    checked (a link's events go after its handshake). must_close: seconds
    within which the server must end this connection by itself once the
    client's last byte is sent, 0 if it need not (an unproven link: the
    link's 2 s to prove itself; a proven one left in the middle of a frame:
    the business group's message_timeout; a proven one sent a frame that
    ends it: at once). deaf: after "open" the client
    reads nothing more (a gateway that stops reading: the server's bound on
    what waits unsent is what ends it)."""

    def __init__(self, opening, feed, opened, wait_open=False, must_close=0, deaf=False):
        self.opening, self.feed, self.opened = opening, feed, opened
        self.wait_open, self.must_close, self.deaf = wait_open, must_close, deaf


class Speaker:
    """A path: its group, and how a client speaks it. encode() gives the
    bytes of one message (and the pings sent inside it, for WebSocket)."""

    name = group = None
    chat = False  # answered by the chat module through a gateway, not by echo
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 -_.,"

    def payload(self, seq, size, rng):
        """A message of about `size` bytes that says which one it is."""
        head = b"ping %d " % seq if self.chat else b"%d " % seq
        body = bytes(rng.choice(self.alphabet) for _ in range(min(size, 64)))
        body = (body * (size // max(len(body), 1) + 1))[:max(size - len(head), 1)]
        return head + body

    def check(self, sent, got):
        if self.chat:
            return chat_answer_ok(sent, got)
        return got == sent

    def mine(self, answer):
        """Whether a message from the server answers this client's own (not
        a broadcast from someone else, or a greeting)."""
        return not self.chat or answer.startswith(b"pong ")

    def session(self):
        return Session(b"", self.reader(), True)

    def encode(self, payload, rng=None, fragments=1, pings=()):
        raise NotImplementedError

    def reader(self):
        raise NotImplementedError


class WsSpeaker(Speaker):
    def __init__(self, name, chat, group=None):
        self.name, self.group, self.chat = name, group or name, chat

    def payload(self, seq, size, rng):
        p = super().payload(seq, size, rng)
        if not self.chat and size > 16:
            # characters of two and three bytes, for a piece to cut in half
            p = p[:size // 2] + "ü€".encode() * 3 + p[size // 2:]
        return p

    def session(self):
        req, accept = ws_handshake_request()
        return Session(req, _Upgrade(accept, self.reader()), False)

    def encode(self, payload, rng=None, fragments=1, pings=()):
        return ws_message(payload, TEXT, rng or random.Random(), fragments, pings)

    def reader(self):
        frames = WsReader()

        def feed(data):
            events = []
            for op, fin, payload in frames.feed(data):
                if op == TEXT and fin:
                    events.append(("answer", payload))
                elif op == PONG:
                    events.append(("pong", payload))
                elif op == CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    events.append(("close", f"close frame {code} {payload[2:]!r}"))
                else:
                    events.append(("close", f"unexpected frame: opcode {op}, fin {fin}, {payload[:60]!r}"))
            return events
        return feed


class _Upgrade:
    """feed() for a WebSocket session: the 101's head, then frames."""

    def __init__(self, accept, frames):
        self.accept, self.frames, self.head = accept, frames, b""

    def __call__(self, data):
        if self.head is None:
            return self.frames(data)
        self.head += data
        if b"\r\n\r\n" not in self.head:
            if len(self.head) > 8192:
                raise ProtocolError(f"no end to the handshake's answer: {self.head[:200]!r}")
            return []
        head, rest = self.head.split(b"\r\n\r\n", 1)
        self.head = None
        if not head.startswith(b"HTTP/1.1 101"):
            return [("close", f"handshake answered {head[:200]!r}")]
        ws_check_handshake_response(head, self.accept)
        return [("open", None)] + self.frames(rest)


class StreamSpeaker(Speaker):
    def __init__(self, name, chat, kind, group=None):
        self.name, self.group, self.chat, self.kind = name, group or name, chat, kind

    def encode(self, payload, rng=None, fragments=1, pings=()):
        return (payload + b"\n" if self.kind == "text" else frame_message(payload)), []

    def reader(self):
        r = LineReader() if self.kind == "text" else FrameReader()
        return lambda data: [("answer", a) for a in r.feed(data)]


class HttpSpeaker(Speaker):
    """POST with the message as its body; echo answers with the body."""

    def __init__(self, name, chunked, group="http"):
        self.name, self.group, self.chunked = name, group, chunked

    def encode(self, payload, rng=None, fragments=1, pings=()):
        if not self.chunked:
            return http_request(payload), []
        rng = rng or random.Random()
        sizes, left = [], len(payload)
        while left:
            n = min(left, rng.choice([1, 2, 7, 100, 1000, 5000, 70000]))
            sizes.append(n)
            left -= n
        return http_request(payload, chunks=sizes), []

    def reader(self):
        r = HttpReader()

        def feed(data):
            return [("answer", body) if status == 200 else ("close", f"status {status}: {body[:100]!r}")
                    for status, _, body in r.feed(data)]
        return feed


class ProbeWsSpeaker(WsSpeaker):
    """A WebSocket client of a gateway whose business group runs probe:
    "SEQ TEXT" is answered "echo SEQ TEXT [pid P, reloads R]" (its first
    message, "id ID", and broadcasts are not answers)."""

    def __init__(self, name, group=None):
        super().__init__(name, chat=False, group=group)

    def check(self, sent, got):
        return answer_ok(b"echo " + sent, got, "probe-echo")

    def mine(self, answer):
        return answer.startswith(b"echo ")


class LinkSpeaker(Speaker):
    """A gateway worker of the caller's own at a business group's port
    (module chat or probe). secret: a function giving the link secret's
    bytes (the server writes run_dir/link.secret as it starts). A message
    here is an EVENT frame, and an answer one of the business worker's
    frames, as a tuple:

        ("done", seq)  ("send", client, binary, text)  ("send_many", clients, binary, text)
        ("broadcast", binary, text)  ("kick", client, code)

    check(want, got): want is such a tuple whose text is (prefix, tail): the
    module's words, and which of TAILS ends them.

    session(mode, token, ...) opens a link one of these ways (stall: a proven
    link's stream ends in the middle of a frame, which the server must cut
    after message_timeout; deaf: a proven link reads nothing after WELCOME;
    ends: a proven link's stream holds a frame that ends the link, which the
    server must close as it reads it; undone: the seq of an EVENT that must
    get no DONE, one of a kind the link does not define):
        proven       the handshake with the secret: HELLO, CHALLENGE checked,
                     PROOF, WELCOME ("open"); then the events
        none         no handshake: the stream is all there is
        challenged   HELLO; once the CHALLENGE has come, the stream (where
                     the PROOF is due)
        wrong-proof  HELLO; at the CHALLENGE a PROOF that does not hold
                     (`wrong` says how), then the stream
        replay       a handshake recorded from a proven link (`replay`:
                     its HELLO and PROOF) sent again, then the stream
    A link that is not proven must get nothing but one CHALLENGE ("wrong"
    otherwise) and be closed by the server (must_close). On a proven link,
    a SEND, SEND_MANY or KICK naming a client of another gateway worker
    (another token) is "wrong": the business worker routes by token.
    BROADCASTs reach every link; only those whose text begins with this
    link's marker (link_marker(token), or "* " and it: chat's join) are
    answers here, the others are dropped."""

    WRONG = ("secret", "token 0", "other token", "bit", "old nonce", "reflected", "short", "long")
    HANDSHAKE = 2.0  # kHandshakeMs (src/worker/link_session.h)
    AT_ONCE = 0.5    # a frame that ends a proven link: closed as it is read, so within this of the last byte

    def __init__(self, name, module, secret, max_frame, message_timeout=60.0, group=None):
        self.name, self.group, self.module = name, group or name, module
        self.secret, self.max_frame, self.message_timeout = secret, max_frame, message_timeout
        self.recorded = None  # the last proven link's (HELLO, PROOF), as hex: what a replay sends

    def check(self, want, got):
        if not isinstance(want[-1], tuple):
            return want == got
        (prefix, tail), text = want[-1], got[-1]
        return want[:-1] == got[:-1] and answer_ok(prefix, text, tail)

    def mine(self, answer):
        return True  # the session has already dropped others' broadcasts

    def session(self, mode="proven", token=1, wrong="secret", replay=None, stall=False, deaf=False, ends=None,
                undone=None):
        nonce = os.urandom(LINK_NONCE)
        opening = {"none": b"", "replay": bytes.fromhex(replay[0]) if replay else b""}.get(mode, link_hello(nonce))
        feed = _LinkFeed(self, mode, token, nonce, wrong, replay, undone)
        must_close = self.HANDSHAKE if mode != "proven" else self.message_timeout if stall else \
            self.AT_ONCE if ends else 0
        return Session(opening, feed, mode == "none", wait_open=mode != "none", must_close=must_close, deaf=deaf)


def link_marker(token):
    """How a link's broadcast text begins (LinkSpeaker)."""
    return b"L%08x" % token


class _LinkFeed:
    """feed() for a LinkSpeaker's session: the handshake, then answers."""

    def __init__(self, speaker, mode, token, nonce, wrong, replay, undone=None):
        self.speaker, self.mode, self.token, self.nonce = speaker, mode, token, nonce
        self.wrong, self.replay, self.undone = wrong, replay, undone
        self.frames = LinkReader(speaker.max_frame)
        self.stage = "hello" if mode != "none" else "nothing"  # hello -> proof -> linked, or -> nothing
        self.challenges = 0

    def __call__(self, data):
        events = []
        for kind, body in self.frames.feed(data):
            if kind == Link.CHALLENGE and self.stage in ("hello", "nothing") and self.challenges == 0:
                self.challenges += 1
                events += self.challenge(body)
            elif self.stage == "proof" and kind == Link.WELCOME:
                self.stage = "linked"
                events.append(("open", link_welcome(body)))
            elif self.stage == "linked" and kind not in (Link.WELCOME, Link.CHALLENGE):
                events += self.answer(kind, body)
            else:
                events.append(("wrong", f"{kind.name} {body[:40].hex()} on a link {self.stage_said()}"))
        return events

    def stage_said(self):
        return {"hello": "before its handshake", "proof": "whose PROOF was not yet answered",
                "linked": "after its WELCOME", "nothing": f"that never proved itself ({self.mode})"}[self.stage]

    def challenge(self, body):
        secret = self.speaker.secret()
        if self.mode == "proven":
            nb, proof = link_answer_challenge(secret, self.nonce, body, self.token)
            self.stage = "proof"
            self.speaker.recorded = (link_hello(self.nonce).hex(), proof.hex())
            return [("write", proof)]
        if self.mode == "none":
            return []  # a HELLO somewhere in its stream: one CHALLENGE is the answer
        self.stage = "nothing"
        if self.mode == "challenged":
            return [("open", None)]
        if self.mode == "replay":
            return [("write", bytes.fromhex(self.replay[1])), ("open", None)]
        nb = body[:LINK_NONCE]
        token, key, ng = self.token, secret, self.nonce
        how = self.wrong
        if how == "secret":
            key = secret[:-1] + bytes([secret[-1] ^ 1])
        elif how == "old nonce":
            ng = os.urandom(LINK_NONCE)
        mac = link_gateway_proof(key, ng, nb, 0 if how == "token 0" else token)
        if how == "other token":
            token ^= 1 << (self.token % 32)
        elif how == "token 0":
            token = 0
        elif how == "bit":
            mac = bytes([mac[0] ^ 0x80]) + mac[1:]
        elif how == "reflected":
            mac = body[LINK_NONCE:]
        proof = link_proof(token, mac)
        if how == "short":
            proof = link_frame(Link.PROOF, struct.pack("!I", token) + mac[:-1])
        elif how == "long":
            proof = link_frame(Link.PROOF, struct.pack("!I", token) + mac + b"\0")
        return [("write", proof), ("open", None)]

    def answer(self, kind, body):
        if kind == Link.DONE:
            seq = struct.unpack("!Q", body)[0]
            if seq == self.undone:
                return [("wrong", f"DONE for EVENT {seq}, of a kind the link does not define: it must end the link, "
                                  f"unanswered")]
            return [("answer", ("done", seq))]
        if kind == Link.DRAINING:
            return [("close", "DRAINING: the business worker drains")]
        if kind == Link.BROADCAST:
            marker = link_marker(self.token)
            text = body[9:]  # number:u64 binary:u8 payload
            if not (text.startswith(marker) or text.startswith(b"* " + marker)):
                return []  # someone else's
            return [("answer", ("broadcast", body[8], text))]
        if kind == Link.SEND:
            client, binary = struct.unpack("!QB", body[:9])
            clients, answer = [client], ("send", client, binary, body[9:])
        elif kind == Link.SEND_MANY:
            n = struct.unpack("!I", body[:4])[0]
            clients = list(struct.unpack(f"!{n}Q", body[4:4 + 8 * n]))
            answer = ("send_many", tuple(clients), body[4 + 8 * n], body[5 + 8 * n:])
        else:  # KICK
            client, code = struct.unpack("!QH", body)
            clients, answer = [client], ("kick", client, code)
        others = [c for c in clients if c >> 32 != self.token]
        if others:
            return [("wrong", f"{kind.name} for client {others[0]:#x} of another gateway worker on the link of "
                              f"token {self.token:#010x}")]
        return [("answer", answer)]
