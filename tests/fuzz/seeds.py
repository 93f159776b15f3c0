#!/usr/bin/python3
"""seeds.py: writes the seed corpora in tests/fuzz/corpus/NAME/, one file per seed.

The seeds are where the fuzzers start: well-formed inputs of each kind, the RFC's
own examples, and the tricky cases of the unit tests (tests/unit/test_*.cpp), so
that the first minutes are spent near the edges rather than finding "GET" by
chance. Each file is named after what it shows. Run it again after editing the
lists (it rewrites the corpus folders it owns):

    tests/fuzz/seeds.py
"""
import pathlib
import shutil
import struct

HERE = pathlib.Path(__file__).resolve().parent

# ---- HTTP heads (fuzz_http_head): whole requests, some with bodies ----------
POST = b"POST / HTTP/1.1\r\nHost: a\r\n"
HTTP_HEAD = {
    "get": b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "get-query-headers": b"GET /search?q=smooth&x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n",
    "browser": b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
               b"Accept: text/html,application/xhtml+xml;q=0.9\r\nAccept-Encoding: gzip, deflate\r\n"
               b"Cookie: a=0123456789abcdef; b=fedcba9876543210\r\nConnection: keep-alive\r\n\r\n",
    "post-content-length": b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
    "post-chunked": b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5;name=value\r\nhello\r\n6 ; ext ; q = \"a \\\"b\\\" c\"\r\n world\r\n0\r\nExpires: never\r\n\r\n",
    "http10-keep-alive": b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    "http10-no-host": b"GET /old HTTP/1.0\r\n\r\n",
    "connection-list": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n",
    "leading-empty-lines": b"\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "value-tab-obs-text": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: \t a\tb \xc3\xa9 \t\r\nX-Empty:\r\n\r\n",
    "pipelined": b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
    "expect-continue": b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "absolute-form": b"OPTIONS http://h/p?x HTTP/1.1\r\nHost: other\r\n\r\n",
    "absolute-form-no-path": b"GET HTTP://Example.com:8080?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
    "absolute-ipv6": b"GET http://[::1]:80/x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
    "connect": b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
    "options-asterisk": b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "host-ipv4-tail": b"GET / HTTP/1.1\r\nHost: [::ffff:192.0.2.1]\r\n\r\n",
    "host-ipvfuture": b"GET / HTTP/1.1\r\nHost: [v1.fe80::a+en1]\r\n\r\n",
    "host-pct-subdelims": b"GET / HTTP/1.1\r\nHost: a%2Db-c_d~e!$&'()*+,;=:\r\n\r\n",
    "host-bad-ipv4-is-reg-name": b"GET / HTTP/1.1\r\nHost: 1.2.3.999\r\n\r\n",
    # errors
    "bad-two-spaces": b"GET  / HTTP/1.1\r\n\r\n",
    "bad-nul-in-target": b"GET /a\0b HTTP/1.1\r\n\r\n",
    "bad-http2": b"GET / HTTP/2.0\r\n",
    "bad-bare-cr": b"GET / HTTP/1.1\rX\r\n\r\n",
    "bad-bare-lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "bad-space-before-colon": b"GET / HTTP/1.1\r\nHost : a\r\n",
    "bad-obs-fold": b"GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n",
    "bad-two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nhost: b\r\n\r\n",
    "bad-te-and-cl": POST + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "bad-gzip-chunked": POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
    "bad-conflicting-lengths": POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "bad-length-overflow": POST + b"Content-Length: 99999999999999999999999\r\n\r\n",
    "bad-expectation": POST + b"Expect: 100-continue, x-y\r\nContent-Length: 1\r\n\r\nx",
    "bad-userinfo": b"GET http://trusted.example@evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n",
    "bad-tls-hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n",
    "long-target": b"GET /" + b"a" * 40 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    "many-headers": b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(1, 70)) + b"\r\n",
}

# ---- chunked bodies (fuzz_http_chunked): the body alone, then what follows --
NEXT = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
HTTP_CHUNKED = {
    "last-chunk-only": b"0\r\n\r\n",
    "one-chunk": b"4\r\nWiki\r\n0\r\n\r\n" + NEXT,
    "hex-cases": b"a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n",
    "leading-zeros": b"0003\r\nabc\r\n000\r\n\r\n",
    "data-with-crlf": b"4\r\n\r\n\r\n\r\n0\r\n\r\n",
    "extensions": b"3;a=1;b;c=x-y\r\nabc\r\n0;last\r\n\r\n",
    "quoted-extension": b"3;a=\"q r;s=t\"\r\nabc\r\n0\r\n\r\n",
    "quoted-escapes": b"3;a=\"\\\"\\\\\\q\"\r\nabc\r\n0\r\n\r\n",
    "bws-everywhere": b"3 \t; \ta \t= \tb ;c\r\nabc\r\n0\r\n\r\n",
    "token-chars": b"3;!#$%&'*+-.^_`|~09az=!#$%&'*+-.^_`|~\r\nabc\r\n0\r\n\r\n",
    "trailers": b"3\r\nabc\r\n0\r\nX-A: 1\r\nX-B:2\r\nX-C:\r\n\r\n" + NEXT,
    "body-over-16": b"10\r\n0123456789abcdef\r\n1\r\nx\r\n0\r\n\r\n",
    "bad-0x": b"0x3\r\nabc\r\n0\r\n\r\n",
    "bad-space-no-ext": b"0 \r\n\r\n",
    "bad-trailing-semicolon": b"2;a=b;\r\nab\r\n0\r\n\r\n",
    "bad-unclosed-quote": b"2;a=\"x\\\r\nab\r\n0\r\n\r\n",
    "bad-nul-in-ext": b"2;a\0b\r\nab\r\n0\r\n\r\n",
    "bad-bare-lf": b"3\nabc\r\n0\r\n\r\n",
    "bad-data-too-long": b"3\r\nabcd\r\n0\r\n\r\n",
    "bad-data-cr-x": b"3\r\nabc\rX",
    "bad-trailer": b"0\r\nX : 1\r\n\r\n",
    "bad-trailer-fold": b"0\r\nX: 1\r\n 2\r\n\r\n",
    "bad-overflow": b"1ffffffffffffffffffff\r\n",
    "bad-over-limit": b"100001\r\n",
    "long-size-line": b"1;" + b"x" * 4092 + b"\r\na\r\n0\r\n\r\n",
}

# ---- framing (fuzz_framing): lines and length-prefixed frames --------------
def frame(payload):
    return struct.pack(">I", len(payload) + 4) + payload

FRAMING = {
    "lines": b"one\r\ntwo\n\r\nfour\r\npartial",
    "cr-inside": b"a\rb\nab\r\r\n",
    "nul-line": b"a\0b\n",
    "long-line": b"x" * 100 + b"\n",
    "frames": frame(b"hello") + frame(b"") + frame(b"\0\n\r") + frame(b"z" * 300),
    "frame-length-0": b"\0\0\0\0",
    "frame-length-3": b"\0\0\0\x03xyz",
    "frame-partial": b"\0\0\0\x09hel",
    "frame-huge": b"\xff\xff\xff\xffabc",
    "mixed": frame(b"line\n") + b"text\r\n",
    "empty-lines": b"\n\r\n\n",
    "exactly-8": b"abcdefgh\r\nabcdefgh\n",
    "one-over-8": b"abcdefghi\n",
    "cr-at-the-end": b"abcdefgh\r",
    "frame-exactly-8": frame(b"12345678"),
    "frame-exactly-300": frame(b"q" * 300),
}

# ---- config (fuzz_config) ---------------------------------------------------
CONFIG = {
    "full": b"""# every key, set to something other than its default
[server]
run_dir = /var/run/smooth
pid_file = pids/s.pid
log_file = /var/log/smooth.log
user = www-data
group = www
stop_timeout = 2s
drain_timeout = 1m
start_timeout = 1500ms
reload_order = start_first

[group web]
listen = http://0.0.0.0:8080
count = 8
module = modules/hello.so
preload = yes
reloadable = off
max_connections = 500
max_request_bytes = 64k
keepalive_timeout = 2.5
request_timeout = 3s

[group echo]
listen = text://localhost:9000
count = auto
module = builtin:echo
[group f]
listen = frame://127.0.0.1:9001
module = /opt/m/f.so
""",
    "default": b"""# smooth: the built-in configuration
[server]
stop_timeout = 5s
drain_timeout = 30s

[group web]
listen = http://127.0.0.1:8080
count = auto
module = builtin:hello
""",
    "quotes-comments-crlf": b"[server]\r\nuser = \"\"x\"\"\r\n; a comment\r\n[group web]  # trailing\r\n"
                            b"listen = tcp://127.0.0.1:1\r\nmodule = \"my mods/m.so\" # a#b\r\n",
    "bad-empty": b"",
    "bad-no-section": b"count = 2\n",
    "bad-twice": b"[server]\nuser = a\nuser = b\n",
    "bad-same-socket": b"[group a]\nlisten = http://0.0.0.0:80\nmodule = builtin:x\n"
                       b"[group b]\nlisten = text://127.0.0.1:80\nmodule = builtin:y\n",
    "bad-ws": b"[group a]\nlisten = ws://127.0.0.1:80\nmodule = builtin:x\n",
    "bad-preload-builtin": b"[group a]\nlisten = http://127.0.0.1:80\nmodule = builtin:x\npreload = true\n",
    "bad-values": b"[group a]\nlisten = http://010.0.0.1:65536\ncount = 0\nmax_request_bytes = 2g\n",
    "bad-unknown-key": b"[server]\nport = 80\n",
    "bad-unknown-section": b"[servers]\n",
    "bad-group-name": b"[group a b]\nlisten = http://127.0.0.1:1\nmodule = builtin:x\n",
    "bad-missing-module": b"[group a]\nlisten = http://127.0.0.1:1\n[group b]\n",
    "bad-unclosed-quote": b"[server]\nuser = \"www\n",
    "durations": b"1.000000001s",
    "size": b"64k",
}

# ---- WebSocket (fuzz_websocket): streams of frames --------------------------
def ws(opcode, payload, fin=True, mask=None):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    m = 0x80 if mask is not None else 0
    if n <= 125:
        head += bytes([m | n])
    elif n <= 0xFFFF:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

KEY = b"\x37\xfa\x21\x3d"
WEBSOCKET = {
    # RFC 6455 §5.7, byte for byte
    "rfc-unmasked-text": b"\x81\x05\x48\x65\x6c\x6c\x6f",
    "rfc-masked-text": b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    "rfc-fragmented": b"\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f",
    "rfc-ping-pong": b"\x89\x05\x48\x65\x6c\x6c\x6f\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    "rfc-256-bytes": b"\x82\x7e\x01\x00" + bytes(256),
    "rfc-64k-header": b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + bytes(64),  # the payload cut short
    # client streams (masked)
    "masked-fragments-ping-between": ws(1, "héllo ".encode(), False, KEY) + ws(9, b"p", True, KEY)
                                     + ws(0, "wörld".encode(), True, KEY) + ws(8, b"\x03\xe8bye", True, KEY),
    "masked-char-cut-across-fragments": ws(1, b"\xe2\x82", False, KEY) + ws(0, b"\xac", True, KEY),
    "masked-binary-then-close-no-code": ws(2, b"\0\1\2", True, KEY) + ws(8, b"", True, KEY),
    "masked-close-bad-code": ws(8, b"\x03\xed", True, KEY),
    "masked-close-one-byte": ws(8, b"\x03", True, KEY),
    "masked-invalid-utf8": ws(1, b"\xed\xa0\x80", True, KEY),
    "masked-continuation-first": ws(0, b"x", True, KEY),
    "masked-text-while-open": ws(1, b"a", False, KEY) + ws(1, b"b", True, KEY),
    "masked-big-message": ws(2, b"x" * 30, False, KEY) + ws(0, b"y" * 30, True, KEY),
    # header errors
    "rsv1": b"\xc1\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    "opcode-3": b"\x83\x80\x01\x02\x03\x04",
    "ping-without-fin": b"\x09\x80\x01\x02\x03\x04",
    "ping-126": b"\x89\xfe\x00\x7e\x01\x02\x03\x04",
    "length-top-bit": b"\x82\xff\x80\0\0\0\0\0\0\0\x01\x02\x03\x04",
    "length-over-limit": b"\x82\xff\0\0\0\x01\0\0\0\0\x01\x02\x03\x04",
    "non-minimal-length": b"\x81\x7e\x00\x05Hello",
}

# ---- UTF-8 (fuzz_utf8) ------------------------------------------------------
UTF8 = {
    "ascii": b"plain ASCII text, longer than a word or two",
    "kosme": b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
    "first-of-each-length": b"\x01\xc2\x80\xe0\xa0\x80\xf0\x90\x80\x80",
    "last-of-each-length": b"\x7f\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf",
    "around-surrogates": b"\xed\x9f\xbf\xee\x80\x80",
    "noncharacters": b"\xef\xbf\xbe\xef\xbf\xbf",
    "mixed-long": "price: 5€, clef 𝄞, café ok!!".encode() + b"a" * 37 + "é".encode(),
    "cut-4-byte": b"\xf0\x9f\x98",
    "lone-continuation": b"ab\x80",
    "lead-then-space": b"\xc3 ",
    "fe-ff": b"\xfe\xff",
    "overlong-2": b"\xc0\xaf",
    "overlong-3": b"\xe0\x80\xaf",
    "overlong-4": b"\xf0\x8f\xbf\xbf",
    "surrogate": b"\xed\xa0\x80",
    "surrogate-pair": b"\xed\xa0\xb4\xed\xb4\x9e",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "nul-del": b"a\0b\x7f",
}

# ---- gateway link frames (fuzz_link): the handshake, streams, then bad ones --
LINK = {  # the handshake (HELLO nonce, CHALLENGE nonce+proof, PROOF token+proof), streams, bad frames
    'bad-challenge-no-proof': b'\x00\x00\x00!\x17 !"#$%&\'()*+,-./0123456789:;<=>?',
    'bad-drain-ack-fields': b'\x00\x00\x00\x02\x03x',
    'bad-event-short': b'\x00\x00\x00\x11\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02',
    'bad-hello-old-token': b'\x00\x00\x00\x05\x01\xde\xad\xbe\xef',
    'bad-hello-short': b'\x00\x00\x00\x04\x01\x00\x00\x01',
    'bad-kick-long': b'\x00\x00\x00\x0c\x15\x00\x00\x00\x00\x00\x00\x00\x07\x03\xe8x',
    'bad-length-0': b'\x00\x00\x00\x00\x01',
    'bad-length-huge': b'\xff\xff\xff\xff\x02',
    'bad-proof-short': b'\x00\x00\x00$\x04\x00\x00\x00\x07.\xdee\xad\x00\xa1\xe7\xfd\xc0\xa5\x120\xcc%8f\x82\x10?L\xe0X\x8c\xe2\\\xc0\xa8\x83\x96\x0c\xf0',
    'bad-send-many-count': b'\x00\x00\x00\x16\x13\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00',
    'bad-send-many-no-flag': b'\x00\x00\x00\r\x13\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x05',
    'bad-event-kind-0': struct.pack(">IBQQB", 1 + 17 + 1, 2, 1, 7, 0) + b"x",
    'bad-event-kind-7': struct.pack(">IBQQB", 1 + 17, 2, 1, 7, 7),
    'bad-event-kind-255': struct.pack(">IBQQB", 1 + 17 + 4, 2, 1, 7, 255) + b"ping",
    'event-kind-6-then-99': struct.pack(">IBQQB", 1 + 17 + 2, 2, 1, 7, 6) + b"hi" +
                            struct.pack(">IBQQB", 1 + 17 + 2, 2, 2, 7, 99) + b"hi",
    'bad-type-0': b'\x00\x00\x00\x01\x00',
    'bad-type-99': b'\x00\x00\x00\x04cabc',
    'business-stream': b'\x00\x00\x00A\x17 !"#$%&\'()*+,-./0123456789:;<=>?\xa6\xfbws\n\x1b|\xb5\xd5\xcb\xb4\xfe\x9d\x87\x863\x8dG\xeaV\xe1\xc5\x90S\x0b\'^w\xc7\xb8\xe5\xa7\x00\x00\x00\x13\x10\x00\x00\x10\x92\x00\x03\x00\x04\x00\x00\x00\x11chat 2\x00\x00\x00\t\x11\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x0c\x12\x00\x00\x00\x00\x00\x00\x00\x07\x00hi\x00\x00\x00 \x13\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x01\x00\x00\x00\n\x14\x00everyone\x00\x00\x00\x0b\x15\x00\x00\x00\x00\x00\x00\x00\x07\x03\xe8\x00\x00\x00\x01\x16',
    'challenge': b'\x00\x00\x00A\x17 !"#$%&\'()*+,-./0123456789:;<=>?\xa6\xfbws\n\x1b|\xb5\xd5\xcb\xb4\xfe\x9d\x87\x863\x8dG\xeaV\xe1\xc5\x90S\x0b\'^w\xc7\xb8\xe5\xa7',
    'event-then-partial': b'\x00\x00\x00\x16\x02\x00\x00\x00\x00\x00\x00\x00\t\x00\x00\x00\x00\x00\x00\x00\x01\x02line\x00\x00\x00\x1b\x02\x00\x00\x00\x00\x00\x00\x00\n\x00\x00\x00\x00\x00\x00\x00\x01\x02cut sh',
    'gateway-stream': b'\x00\x00\x00!\x01\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x00\x00\x00%\x04\xde\xad\xbe\xef.\xdee\xad\x00\xa1\xe7\xfd\xc0\xa5\x120\xcc%8f\x82\x10?L\xe0X\x8c\xe2\\\xc0\xa8\x83\x96\x0c\xf0\x7f\x00\x00\x00\x12\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x07d\x00\x00\x00\x1d\x02\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x07\x01GET / hello\x00\x00\x00\x18\x02\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x07\x05h\xc3\xa9llo\x00\x00\x00\x12\x02\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x07e\x00\x00\x00\x01\x03',
    'header-only': b'\x00\x00\x00\t',
    'hello': b'\x00\x00\x00!\x01\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f',
    'hello-then-event': b'\x00\x00\x00!\x01\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x00\x00\x00\x13\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x01x',
    'proof': b'\x00\x00\x00%\x04\xde\xad\xbe\xef.\xdee\xad\x00\xa1\xe7\xfd\xc0\xa5\x120\xcc%8f\x82\x10?L\xe0X\x8c\xe2\\\xc0\xa8\x83\x96\x0c\xf0\x7f',
    'send-binary-flag-2': b'\x00\x00\x00\x0b\x12\x00\x00\x00\x00\x00\x00\x00\x07\x02x',
    'send-many-none': b'\x00\x00\x00\x06\x13\x00\x00\x00\x00\x00',
    'adopt-two': struct.pack(">IBH", 1 + 2 + 8, 5, 2) + struct.pack(">II", 0x11223344, 0xdeadbeef),
    'broadcast-numbered': struct.pack(">IBQB", 1 + 9 + 8, 20, 7, 0) + b"everyone",
    'welcome-no-version': b'\x00\x00\x00\r\x10\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00',
}

# ---- WebSocket handshakes (fuzz_websocket_handshake) ------------------------
# Parsed ones are HTTP heads; built ones are the harness's own layout: method,
# a line whose first byte % 3 is the minor version, then "name:value" lines.
def upgrade(*extra, method=b"GET", version=b"1.1", key=b"dGhlIHNhbXBsZSBub25jZQ==", ws_version=b"13"):
    lines = [method + b" /chat HTTP/" + version, b"Host: server.example.com", b"Upgrade: websocket",
             b"Connection: Upgrade", b"Sec-WebSocket-Key: " + key, b"Origin: http://example.com",
             b"Sec-WebSocket-Version: " + ws_version, *extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"

def built(*headers, method=b"GET", minor=b"\x01"):
    return b"\n".join([method, minor, *headers])

GOOD_BUILT = [b"Host:a", b"Upgrade:websocket", b"Connection:Upgrade", b"Sec-WebSocket-Version:13",
              b"Sec-WebSocket-Key:dGhlIHNhbXBsZSBub25jZQ=="]

WEBSOCKET_HANDSHAKE = {
    "rfc-example": upgrade(),  # RFC 6455 §1.3
    "browser": b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: keep-alive, Upgrade\r\n"
               b"Upgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
               b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    "connection-on-two-lines": upgrade(b"Connection: Upgrade").replace(b"Connection: Upgrade\r\n",
                                                                       b"Connection: keep-alive\r\n", 1),
    "upgrade-list": upgrade().replace(b"Upgrade: websocket", b"Upgrade: h2c, \tWebsocket "),
    "version-8": upgrade(ws_version=b"8"),
    "version-twice": upgrade(b"Sec-WebSocket-Version: 13"),
    "no-version": upgrade().replace(b"Sec-WebSocket-Version: 13\r\n", b""),
    "key-twice": upgrade(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
    "key-17-bytes": upgrade(key=b"dGhlIHNhbXBsZSBub25jZTE="),
    "key-pad-bits-set": upgrade(key=b"dGhlIHNhbXBsZSBub25jZR=="),
    "key-no-padding": upgrade(key=b"dGhlIHNhbXBsZSBub25jZQ"),
    "post": upgrade(method=b"POST"),
    "http10": upgrade(version=b"1.0"),
    "no-upgrade": b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "built-good": built(*GOOD_BUILT),
    "built-spaces-kept": built(b"Host: a", b"Upgrade: websocket ,x", b"Connection:\tupgrade",
                               b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
    "built-http10": built(*GOOD_BUILT, minor=b"\x00"),
    "built-empty-host": built(b"Host:", *GOOD_BUILT[1:]),
    "built-names-any-case": built(b"HOST:a", b"upgrade:WEBSOCKET", b"CONNECTION:UPGRADE",
                                  b"sec-websocket-version:13", b"SEC-WEBSOCKET-KEY:AAAAAAAAAAAAAAAAAAAAAA=="),
}

# ---- hand-over frames (fuzz_handover): a whole stream, then bad ones ---------
def ho(type_, fields=b""):
    return struct.pack(">IB", 1 + len(fields), type_) + fields

def s32(b):
    return struct.pack(">I", len(b)) + b

HO_HELLO = ho(1, struct.pack(">IH", 0x534D484F, 1))
HO_LINK = ho(2, struct.pack(">HBII", 3, 2, 4242, 7) + s32(b"chat 2") + struct.pack(">HII", 2, 0x11223344, 0xdeadbeef)
             + struct.pack(">IQQ", 1, 9, 0x1122334400000005) + s32(b"\0\0\0\x09\x11part") + s32(b"unsent"))
HO_CLIENT = ho(3, struct.pack(">QBIHQQQBBIB", 0x1122334400000005, 4, 0x0100007F, 51234, 1765000000123, 1000, 2000, 3,
                             4 | 16, 5300, 1) + s32(b"first fragment") + s32(b"\x81\x85abcd\x01") + s32(b"o" * 40)
               + s32(b"GET /chat HTTP/1.1") + struct.pack(">QI", 9, 0) + struct.pack(">I", 2) + struct.pack(">QB", 9, 1) + s32(b"ping 1")
               + struct.pack(">QB", 10, 101) + s32(b""))
HO_END = ho(4, struct.pack(">QIII", 77, 1, 1, 1) + struct.pack(">QQ", 4242 << 32 | 7, 19))
# A client whose connection has closed: its events move, no descriptor (conn_state 6).
HO_CLOSED = ho(3, struct.pack(">QBIHQQQBBIB", 6, 1, 0, 0, 0, 0, 0, 6, 4, 0xFFFFFFFF, 0) + s32(b"") + s32(b"")
               + s32(b"") + s32(b"") + struct.pack(">QII", 0, 0xFFFFFFFF, 1) + struct.pack(">QB", 0, 101) + s32(b""))
HANDOVER = {
    "old-to-new": HO_HELLO + HO_LINK + HO_CLIENT + HO_CLOSED + HO_END + ho(5),
    "end-no-broadcasts": ho(4, struct.pack(">QIII", 1, 0, 0, 0)),
    "bad-broadcast-count": ho(4, struct.pack(">QIII", 1, 0, 0, 9) + struct.pack(">QQ", 1, 1)),
    "new-to-old": HO_HELLO + ho(16, struct.pack(">I", 2)) + ho(17, b"cannot take them"),
    "client-no-events": ho(3, struct.pack(">QBIHQQQBBIB", 5, 3, 0, 0, 0, 0, 0, 3, 0, 0xFFFFFFFF, 0) + s32(b"")
                          + s32(b"") + s32(b"") + s32(b"") + struct.pack(">QII", 0, 0xFFFFFFFF, 0)),
    "link-cut-short": HO_LINK[:-3],
    "bad-magic": ho(1, struct.pack(">IH", 0x534D4800, 1)),
    "bad-type-9": ho(9, b"x"),
    "bad-length-0": b"\0\0\0\0\x01",
    "bad-confirm-long": ho(16, struct.pack(">I", 2) + b"x"),
    "bad-waiting-count": ho(3, HO_CLIENT[5:-30][:-4] + struct.pack(">I", 1000)),
    "bad-message-state": ho(3, struct.pack(">QBIHQQQBBIB", 5, 3, 0, 0, 0, 0, 0, 3, 0, 0, 7)),
}

CORPORA = {
    "http_head": HTTP_HEAD,
    "http_chunked": HTTP_CHUNKED,
    "framing": FRAMING,
    "config": CONFIG,
    "websocket": WEBSOCKET,
    "utf8": UTF8,
    "link": LINK,
    "handover": HANDOVER,
    "websocket_handshake": WEBSOCKET_HANDSHAKE,
}

for name, seeds in CORPORA.items():
    folder = HERE / "corpus" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for seed, data in seeds.items():
        (folder / seed).write_bytes(data)
    print(f"{folder.relative_to(HERE.parents[1])}: {len(seeds)} seeds")
