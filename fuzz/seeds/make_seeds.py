#!/usr/bin/env python3
"""Writes hand-made starting inputs for every fuzz target into fuzz/seeds/out/
(git-ignored). scripts/fuzz.sh --seed starts from them; the committed corpus
in fuzz/corpus/ is what `cargo fuzz cmin` kept after fuzzing from them."""
import glob
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


def req(lines, body=b""):
    return b"\r\n".join(l.encode() if isinstance(l, str) else l for l in lines) + b"\r\n\r\n" + body


REQUESTS = [
    req(["GET / HTTP/1.1", "Host: example.com"]),
    req(["GET /api/users?id=1 HTTP/1.1", "Host: www.example.org:8080", "Cookie2: x", "X-Forwarded-For: 10.0.0.1"]),
    req(["POST /r/abc/def?x=1 HTTP/1.1", "Host: a", "Content-Length: 5"], b"hello"),
    req(["POST /up HTTP/1.1", "Host: a", "Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n\r\n"),
    req(["GET http://Example.com:80/x?q HTTP/1.1", "Host: other"]),
    req(["OPTIONS * HTTP/1.1", "Host: a"]),
    req(["GET /chat HTTP/1.1", "Host: a", "Upgrade: websocket", "Connection: Upgrade, X-Drop", "X-Drop: 1", "Keep-Alive: 5"]),
    req(["GET /old HTTP/1.0", "Connection: keep-alive"]),
    req(["PUT /p HTTP/1.1", "Host: a", "Expect: 100-continue", "Content-Length: 0", "TE: trailers"]),
    req(["GET /?id=2&mode=raw HTTP/1.1", "Host: shop.example", "X-Env: prod", "Accept: text/html"]),
    req(["GET /go/x HTTP/1.1", "Host: a", "Proxy-Connection: close"]),
    req(["HEAD /hi HTTP/1.1", "Host: a", "Connection: close"]),
    req(["GET / HTTP/2.0", "Host: a"]),
    req(["CONNECT a:443 HTTP/1.1", "Host: a:443"]),
    req(["POST / HTTP/1.1", "Host: a", "Content-Length: 5, 5", "Transfer-Encoding: gzip, chunked"]),
    b"\r\n\r\n" + req(["GET / HTTP/1.1", "Host: a", "Host: b"]),
]

RESPONSES = [
    req(["HTTP/1.1 200 OK", "Content-Length: 5", "Server: x"], b"hello"),
    req(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Connection: close, X-Hop", "X-Hop: 1"]),
    req(["HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked", "Keep-Alive: timeout=5"]),
    req(["HTTP/1.0 200 OK", "Connection: keep-alive", "Content-Length: 1"]),
    req(["HTTP/1.1 304 Not Modified", "Content-Length: 10", "ETag: \"a\""]),
    req(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: upgrade"]),
    req(["HTTP/1.1 103 Early Hints", "Link: </a.css>; rel=preload"]),
    req(["HTTP/1.1 302 Found", "Location: http://internal.example/v1/a?b#c", "Content-Location: /v1/x", "Refresh: 5; url=http://127.0.0.1:9/v1/", "Set-Cookie: id=1; Domain=.internal.example; Path=/v1/a; HttpOnly"]),
    req(["HTTP/1.1 200 OK"]),
    req(["HTTP/1.1 204 No Content", "Trailer: x"]),
]
RESPONSE_KNOBS = [0, 1, 2, 4, 8, 16, 18, 31]

CHUNKED = [
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5;ext=1;q=\"a b\"\r\nhello\r\n3 \t; x\r\nabc\r\n0\r\nX-Trailer: v\r\nY: w\r\n\r\nGET / HTTP/1.1\r\n",
    b"A\r\n0123456789\r\nffffffffffffffff\r\n",
    b"0\r\n\r\n",
    b"1\n\r\nx",
    b"00000000000000001\r\nx\r\n0\r\n\r\n",
]

CONFIGS = [
    b"""[server]
workers = 2
pid_file = "/run/tern.pid"
[server.limits]
max_headers = 300
[server.timeouts]
client_idle = "1m30s"
[server.no_route]
status = 421
body = "no"
[log]
access = "/var/log/tern/access.log"
format = "json"
error = "stderr"
level = "debug"
[admin]
bind = "127.0.0.1:9901"
[[listener]]
bind = ["127.0.0.1:8443", "[::1]:8443", "localhost:80"]
tls = { certificates = [{ cert = "/etc/c.pem", key = "/etc/k.pem" }] }
[[route]]
listener = ["0"]
backend_up = "b"
static = { root = "/tmp", listing = true, cache_control = "no-cache" }
[backend.b]
balance = "least_conn"
tls = true
tls_ca = "/etc/ca.pem"
tls_server_name = "api.example"
servers = [{ address = "api.example:443", weight = 0 }]
health_check = { path = "/health", interval = "2s", status = [200, 204] }
passive = { failures = 3, down_for = "30s" }
timeouts = { connect = "1s", queue = "5ms" }
""",
]

HOSTS = [b"example.com", b"Example.COM:8080", b"[::1]:80", b"[::1]", b"*.example.org", b"a.b.c.", b"host name", b"a@b", b" pad\t", b"", b"xn--bcher-kva.example:0"]

COOKIES = [
    b"a=1; SRV=s2; b=2",
    b"SRV=\"balancer.node1\"",
    b" SRV = v ;x=1",
    b"id=1; Domain=.internal.example; Path=/v1/a; HttpOnly",
    b"id=1; domain=127.0.0.1; path=/",
    b"http://internal.example/v1/a?b#c",
    b"HTTPS://127.0.0.1:9/v1",
    b"/v1/x?y",
    b"5; url='http://internal.example/v1/'",
]

STATIC = [
    req(["GET / HTTP/1.1", "Host: a"]),
    req(["GET /a.css HTTP/1.1", "Host: a", "Accept-Encoding: gzip, br", "Range: bytes=2-5"]),
    req(["GET /a.css HTTP/1.1", "Host: a", "Range: bytes=-3,5-", "If-Range: \"x\""]),
    req(["HEAD /docs/read%20me.txt HTTP/1.1", "Host: a", "If-None-Match: W/\"a\", *", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"]),
    req(["GET /docs HTTP/1.0"]),
    req(["GET /docs/ HTTP/1.1", "Host: a"]),
    req(["GET /in/read%20me.txt HTTP/1.1", "Host: a", "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT"]),
    req(["GET /out/secret.txt HTTP/1.1", "Host: a"]),
    req(["GET /%2e%2e/secret.txt HTTP/1.1", "Host: a"]),
    req(["GET /a%2fb/.%2E/x%00 HTTP/1.1", "Host: a"]),
    req(["POST /a.css HTTP/1.1", "Host: a", "Content-Length: 0"]),
]


def frame(kind, flags, stream, payload, length=None):
    """An HTTP/2 frame; `length` overrides the payload's own."""
    n = len(payload) if length is None else length
    return n.to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def settings(entries, flags=0):
    return frame(4, flags, 0, b"".join(i.to_bytes(2, "big") + v.to_bytes(4, "big") for i, v in entries))


def reads(sizes, stream):
    """An h2_watch input: how many read sizes, the sizes, the stream after the preface."""
    return bytes([len(sizes) - 1]) + bytes(sizes) + stream


PING = frame(6, 0, 0, bytes(8))
WINDOW_UPDATE = frame(8, 0, 0, (1 << 20).to_bytes(4, "big"))
H2_WATCH = [
    # A good window (the largest), then more frames.
    reads([7], settings([(4, 0x7FFF_FFFF), (3, 100)]) + WINDOW_UPDATE + settings([], flags=1)),
    # A bad window after a PING and another setting: the watch stops at its frame.
    reads([30], PING + settings([(3, 100), (4, 0x8000_0000)]) + PING),
    # The bad entry split over reads (the preface too).
    reads([36, 4, 1], settings([(1, 4096), (4, 0xFFFF_FFFF)])),
    # A PING flood in odd-sized reads.
    reads([17, 3], PING * 64),
    # A huge DATA length: what follows is payload, not a SETTINGS frame.
    reads([0, 200], frame(0, 0, 1, b"", length=0xFF_FFFF) + settings([(4, 0xFFFF_FFFF)])),
    # A SETTINGS ACK is not read for entries; a payload that is no whole
    # number of entries; then a bad one.
    reads([9, 9, 2], settings([(4, 0xFFFF_FFFF)], flags=1) + frame(4, 0, 0, bytes(7)) + settings([(4, 0x8000_0001)])),
    # A length's top byte counts: 64 KiB of payload hides the bad SETTINGS.
    reads([50], frame(1, 0, 1, b"", length=0x01_0000) + settings([(4, 0x8000_0000)])),
]


def write(target, items):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    for i, data in enumerate(items):
        with open(os.path.join(d, f"seed-{i:03}"), "wb") as f:
            f.write(data)


def main():
    write("request_head", [bytes([k]) + r for k in (0, 7) for r in REQUESTS])
    write("response_head", [bytes([k]) + r for k in RESPONSE_KNOBS for r in RESPONSES])
    write("chunked", [bytes([k]) + c for k in (0, 2, 255) for c in CHUNKED])
    configs = sorted(glob.glob(os.path.join(HERE, "..", "..", "config", "*.toml")))
    plan = open(os.path.join(HERE, "..", "..", "src", "fuzzing", "plan.rs")).read()
    routing = plan.split('r#"', 1)[1].split('"#', 1)[0].encode()
    write("config", [open(p, "rb").read() for p in configs] + [routing] + CONFIGS)
    write("static_path", STATIC)
    write("host", HOSTS)
    write("cookie", COOKIES)
    write("h2_watch", H2_WATCH)


main()
