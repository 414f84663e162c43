#!/usr/bin/env python3
"""Frame-level HTTP/2 cases against tern, for tests/http2.rs.

Usage: http2_frames.py CASE PORT [tls]
Prints one line saying what tern answered (e.g. "RST_STREAM 1
PROTOCOL_ERROR", "GOAWAY PROTOCOL_ERROR", "RESPONSE 200 <body>"), which
the Rust test compares with what RFC 9113 requires. Uses the Python `h2`
package (hyper-h2) for HPACK and the connection state, with its own
checks turned off so that malformed frames can be sent, and hyperframe
for frames h2 refuses to build. Every wait is bounded (socket timeout).
"""

import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
from hyperframe import frame as hf

TIMEOUT = 10


def connect(port, tls):
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    config = h2.config.H2Configuration(
        client_side=True,
        header_encoding="utf-8",
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
    )
    conn = h2.connection.H2Connection(config=config)
    return sock, conn


def start(sock, conn, settings=None):
    conn.initiate_connection()
    if settings:
        conn.update_settings(settings)
    sock.sendall(conn.data_to_send())


def flush(sock, conn):
    """Sends what the h2 state machine has queued (acknowledgements, window
    updates). A peer that has already closed is not an error here: what it
    sent before closing (a GOAWAY, say) is still there to be read, and the
    next read reports the close."""
    data = conn.data_to_send()
    if data:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def events(sock, conn, deadline):
    """Yields events until the deadline or the connection closes."""
    while time.time() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return
        except (ConnectionResetError, ssl.SSLError):
            yield "CLOSED"
            return
        if not data:
            yield "CLOSED"
            return
        try:
            evs = conn.receive_data(data)
        except h2.exceptions.ProtocolError as err:
            yield "LOCAL_ERROR %s: %s" % (type(err).__name__, err)
            return
        flush(sock, conn)
        for ev in evs:
            yield ev


def outcome(sock, conn, stream_id=None, seconds=TIMEOUT):
    """The first stream reset, GOAWAY or finished response."""
    status = None
    body = b""
    for ev in events(sock, conn, time.time() + seconds):
        if isinstance(ev, str):
            return ev
        if isinstance(ev, h2.events.StreamReset) and stream_id in (None, ev.stream_id):
            return "RST_STREAM %d %s" % (ev.stream_id, h2.errors.ErrorCodes(ev.error_code).name)
        if isinstance(ev, h2.events.ConnectionTerminated):
            return "GOAWAY %s" % h2.errors.ErrorCodes(ev.error_code).name
        if isinstance(ev, h2.events.ResponseReceived) and stream_id in (None, ev.stream_id):
            status = dict(ev.headers).get(":status")
        if isinstance(ev, h2.events.DataReceived):
            body += ev.data
            conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            flush(sock, conn)
        if isinstance(ev, h2.events.StreamEnded) and stream_id in (None, ev.stream_id):
            return "RESPONSE %s %s" % (status, body.decode("latin-1")[:200])
    return "TIMEOUT"


def request_headers(path="/", extra=(), method="GET"):
    return [
        (":method", method),
        (":path", path),
        (":scheme", "http"),
        (":authority", "localhost"),
    ] + list(extra)


def raw(sock, frame):
    sock.sendall(frame.serialize())


def simple(extra=(), drop=None):
    def case(sock, conn):
        headers = [h for h in request_headers("/x", extra) if h[0] != drop]
        conn.send_headers(1, headers, end_stream=True)
        flush(sock, conn)
        return outcome(sock, conn, 1)

    return case


def case_get(sock, conn):
    return simple()(sock, conn)


def case_even_stream_id(sock, conn):
    conn.send_headers(1, request_headers(), end_stream=True)
    frame = hf.HeadersFrame(2)
    frame.data = conn.encoder.encode(request_headers())
    frame.flags.add("END_HEADERS")
    frame.flags.add("END_STREAM")
    flush(sock, conn)
    raw(sock, frame)
    return outcome_goaway(sock, conn)


def outcome_goaway(sock, conn):
    for ev in events(sock, conn, time.time() + TIMEOUT):
        if isinstance(ev, str):
            return ev
        if isinstance(ev, h2.events.ConnectionTerminated):
            return "GOAWAY %s" % h2.errors.ErrorCodes(ev.error_code).name
    return "TIMEOUT"


def case_data_on_idle_stream(sock, conn):
    frame = hf.DataFrame(5)
    frame.data = b"hello"
    raw(sock, frame)
    return outcome_goaway(sock, conn)


def case_oversized_frame(sock, conn):
    conn.send_headers(1, request_headers("/x", method="POST"), end_stream=False)
    flush(sock, conn)
    frame = hf.DataFrame(1)
    frame.data = b"x" * 20000  # over the default SETTINGS_MAX_FRAME_SIZE
    raw(sock, frame)
    return outcome_goaway(sock, conn)


def case_bad_initial_window(sock, conn):
    frame = hf.SettingsFrame(0)
    frame.settings = {hf.SettingsFrame.INITIAL_WINDOW_SIZE: 2**31}
    raw(sock, frame)
    return outcome_goaway(sock, conn)


def case_window_update_zero(sock, conn):
    frame = hf.WindowUpdateFrame(0)
    frame.window_increment = 0
    raw(sock, frame)
    return outcome_goaway(sock, conn)


def case_window_overflow(sock, conn):
    frame = hf.WindowUpdateFrame(0)
    frame.window_increment = 2**31 - 1
    raw(sock, frame)
    return outcome_goaway(sock, conn)


def case_max_concurrent_streams(sock, conn):
    """Against a silent upstream: opens as many streams as tern advertises
    (SETTINGS_MAX_CONCURRENT_STREAMS), then one more, which is refused."""
    advertised = None
    deadline = time.time() + TIMEOUT
    for ev in events(sock, conn, deadline):
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            changed = ev.changed_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
            advertised = changed.new_value if changed else None
            break
    if not advertised or advertised > 1000:
        return "MAX %s" % advertised
    for i in range(advertised):
        conn.send_headers(1 + 2 * i, request_headers("/hold%d" % i), end_stream=True)
    flush(sock, conn)
    # One more than advertised: the Python h2 won't open it, so by hand.
    frame = hf.HeadersFrame(1 + 2 * advertised)
    frame.data = conn.encoder.encode(request_headers("/one-too-many"))
    frame.flags.add("END_HEADERS")
    frame.flags.add("END_STREAM")
    raw(sock, frame)
    return "MAX %s %s" % (advertised, raw_reset(sock, 1 + 2 * advertised))


def read_frames(sock, deadline):
    """Yields frames parsed by hand (for streams the Python h2 doesn't know)."""
    buf = b""
    while time.time() < deadline:
        while len(buf) >= 9:
            frame, length = hf.Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            frame.parse_body(memoryview(buf[9 : 9 + length]))
            buf = buf[9 + length :]
            yield frame
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return
        except ConnectionResetError:
            return
        if not data:
            return
        buf += data


def raw_reset(sock, stream_id):
    for frame in read_frames(sock, time.time() + TIMEOUT):
        if isinstance(frame, hf.RstStreamFrame) and frame.stream_id == stream_id:
            return "RST_STREAM %d %s" % (stream_id, h2.errors.ErrorCodes(frame.error_code).name)
        if isinstance(frame, hf.GoAwayFrame):
            return "GOAWAY %s" % h2.errors.ErrorCodes(frame.error_code).name
    return "TIMEOUT"


def case_window_stall(sock, conn):
    """A client window of 1000 bytes: tern sends 1000 of a larger body and
    waits; a WINDOW_UPDATE lets the rest come."""
    conn.send_headers(1, request_headers("/big"), end_stream=True)
    flush(sock, conn)
    got = 0
    stalled_at = None
    deadline = time.time() + TIMEOUT
    sock.settimeout(1)
    while time.time() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            if stalled_at is None:
                stalled_at = got
                conn.increment_flow_control_window(200000)
                conn.increment_flow_control_window(200000, 1)
                flush(sock, conn)
            continue
        if not data:
            return "CLOSED after %d" % got
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                got += len(ev.data)
            if isinstance(ev, h2.events.StreamEnded):
                return "STALLED %s TOTAL %d" % (stalled_at, got)
            if isinstance(ev, h2.events.StreamReset):
                return "RST_STREAM after %d" % got
        flush(sock, conn)
    return "TIMEOUT after %d" % got


def case_chunked_body(sock, conn):
    """A body without content-length, in three DATA frames."""
    conn.send_headers(1, request_headers("/upload", method="POST"), end_stream=False)
    for part in (b"one-", b"two-", b"three"):
        conn.send_data(1, part)
        flush(sock, conn)
        time.sleep(0.05)
    conn.end_stream(1)
    flush(sock, conn)
    return outcome(sock, conn, 1)


def length_then(more):
    """A POST with content-length 100 and its 100 bytes; 300 ms later, in a
    frame of its own, `more` bytes with END_STREAM (none: an empty DATA
    frame ending the stream)."""

    def case(sock, conn):
        headers = request_headers("/upload", [("content-length", "100")], method="POST")
        conn.send_headers(1, headers, end_stream=False)
        conn.send_data(1, b"a" * 100)
        flush(sock, conn)
        time.sleep(0.3)
        conn.send_data(1, b"b" * more, end_stream=True)
        flush(sock, conn)
        return outcome(sock, conn, 1)

    return case


def body_past_limit(extra=()):
    """A 2,000-byte body in four DATA frames (with `extra` headers), all
    sent before anything is read (a server that answers midway is read
    after): the answer tern gives, not whether a client kept sending."""

    def case(sock, conn):
        headers = request_headers("/upload", extra, method="POST")
        conn.send_headers(1, headers, end_stream=False)
        for _ in range(4):
            conn.send_data(1, b"b" * 500)
            flush(sock, conn)
            time.sleep(0.02)
        conn.end_stream(1)
        flush(sock, conn)
        return outcome(sock, conn, 1)

    return case


def case_rapid_reset(sock, conn):
    """CVE-2023-44487: streams opened and reset at once, many times."""
    sent = 0
    for i in range(2000):
        stream = 1 + 2 * i
        conn.send_headers(stream, request_headers("/r%d" % i), end_stream=True)
        conn.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)
        sent += 1
        if i % 50 == 49:
            try:
                flush(sock, conn)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
    try:
        flush(sock, conn)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass
    return outcome_goaway(sock, conn)


def goaway_seen(sock, conn):
    """The GOAWAY tern sent, read without waiting ("CLOSED" if the
    connection ended without one); None while none came."""
    sock.settimeout(0)
    try:
        while True:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, socket.timeout):
                return None
            except (ConnectionResetError, ssl.SSLError):
                return "CLOSED"
            if not data:
                return "CLOSED"
            try:
                evs = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                return "CLOSED"
            for ev in evs:
                if isinstance(ev, h2.events.ConnectionTerminated):
                    return "GOAWAY %s" % h2.errors.ErrorCodes(ev.error_code).name
            flush(sock, conn)
    finally:
        sock.settimeout(TIMEOUT)


def reset_in_rounds(batch, pause, most):
    """Rapid reset with a delay: rounds of `batch` streams opened, `pause`
    seconds for tern to accept them, then all reset; up to `most` streams.
    Prints what ended it and how many streams were opened."""

    def case(sock, conn):
        # Each round's HEADERS and RST_STREAM frames leave at once, never
        # joined in one segment (Nagle's algorithm would hold the resets
        # back until tern acknowledged the HEADERS).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        opened = 0
        while opened < most:
            streams = []
            try:
                for _ in range(batch):
                    stream = conn.get_next_available_stream_id()
                    conn.send_headers(stream, request_headers("/r%d" % opened), end_stream=True)
                    streams.append(stream)
                    opened += 1
                flush(sock, conn)
                time.sleep(pause)
                for stream in streams:
                    conn.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)
                flush(sock, conn)
            except (h2.exceptions.ProtocolError, BrokenPipeError, ConnectionResetError):
                break
            seen = goaway_seen(sock, conn)
            if seen:
                return "%s after %d streams" % (seen, opened)
        seen = outcome_goaway(sock, conn) if opened < most else goaway_seen(sock, conn)
        return "%s after %d streams" % (seen or "NO GOAWAY", opened)

    return case


def case_continuation_flood(sock, conn):
    """CVE-2024-27316: a header block that never ends."""
    frame = hf.HeadersFrame(1)
    frame.data = conn.encoder.encode(request_headers())
    raw(sock, frame)
    for i in range(10000):
        cont = hf.ContinuationFrame(1)
        cont.data = conn.encoder.encode([("x-flood-%d" % i, "y" * 100)])
        try:
            raw(sock, cont)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            break
    return outcome_goaway(sock, conn)


def case_header_list_too_large(sock, conn):
    """A decoded header list over the limit (an HPACK bomb decodes to
    this): refused with 431, the connection goes on."""
    big = [("x-big-%d" % i, "z" * 4000) for i in range(20)]
    conn.send_headers(1, request_headers("/x", big), end_stream=True)
    flush(sock, conn)
    first = outcome(sock, conn, 1)
    conn.send_headers(3, request_headers("/after"), end_stream=True)
    flush(sock, conn)
    return first + " | " + outcome(sock, conn, 3)


# PING and SETTINGS floods: fewer frames than the default limit of frames of
# no progress a second (10,000), so under it the connection goes on however
# fast they arrive; a tern with a low limit ends it.
FLOOD_UNDER_DEFAULT = 5000


def flood_then_request(frames, path):
    """Sends frames, then a request on stream 1; its response or the GOAWAY."""

    def case(sock, conn):
        if not send_all(sock, frames()):
            return outcome_goaway(sock, conn)
        conn.send_headers(1, request_headers(path), end_stream=True)
        try:
            flush(sock, conn)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return outcome_goaway(sock, conn)
        return outcome(sock, conn, 1)

    return case


def pings():
    for i in range(FLOOD_UNDER_DEFAULT):
        frame = hf.PingFrame(0)
        frame.opaque_data = i.to_bytes(8, "big")
        yield frame


def settings():
    """Many SETTINGS frames, each wanting an ACK."""
    for _ in range(FLOOD_UNDER_DEFAULT):
        frame = hf.SettingsFrame(0)
        frame.settings = {hf.SettingsFrame.HEADER_TABLE_SIZE: 4096}
        yield frame


def case_goaway_on_stop(sock, conn):
    """Opens a held stream, then waits for tern's GOAWAY (the test stops
    tern meanwhile) and for the held stream's response. Read frame by frame
    by hand: the Python h2 takes a GOAWAY as the end of the connection and
    refuses the PING of a graceful shutdown that follows it."""
    import hpack

    conn.send_headers(1, request_headers("/held"), end_stream=True)
    flush(sock, conn)
    print("SENT", flush=True)
    decoder = hpack.Decoder()
    buf = b""
    goaway = None
    status = None
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        while len(buf) >= 9:
            frame, length = hf.Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            frame.parse_body(memoryview(buf[9 : 9 + length]))
            buf = buf[9 + length :]
            if isinstance(frame, hf.GoAwayFrame):
                name = h2.errors.ErrorCodes(frame.error_code).name
                goaway = "%s last=%d" % (name, frame.last_stream_id)
            if isinstance(frame, hf.HeadersFrame) and frame.stream_id == 1:
                status = dict(decoder.decode(frame.data)).get(":status")
            if isinstance(frame, hf.PingFrame) and "ACK" not in frame.flags:
                pong = hf.PingFrame(0)
                pong.flags.add("ACK")
                pong.opaque_data = frame.opaque_data
                raw(sock, pong)
            if frame.stream_id == 1 and "END_STREAM" in frame.flags:
                return "GOAWAY %s RESPONSE %s" % (goaway, status)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        if not data:
            return "CLOSED after GOAWAY %s" % goaway
        buf += data
    return "TIMEOUT GOAWAY %s" % goaway


def case_idle(sock, conn):
    """One request, then silence: tern closes the idle connection with
    GOAWAY (read by hand, as the graceful GOAWAY comes with a PING)."""
    first = simple()(sock, conn)
    goaway = "no GOAWAY"
    # A graceful GOAWAY comes twice: first with the largest id and a PING,
    # then, once the PING is answered, with the last stream id.
    for frame in read_frames(sock, time.time() + TIMEOUT):
        if isinstance(frame, hf.PingFrame) and "ACK" not in frame.flags:
            pong = hf.PingFrame(0)
            pong.flags.add("ACK")
            pong.opaque_data = frame.opaque_data
            raw(sock, pong)
        if isinstance(frame, hf.GoAwayFrame):
            name = h2.errors.ErrorCodes(frame.error_code).name
            goaway = "GOAWAY %s last=%d" % (name, frame.last_stream_id)
    return "%s | %s" % (first.split(" ")[1], goaway)


def case_idle_silent(sock, conn):
    """One request, then a client that says nothing more, not even the
    answer to the PING that comes with a graceful GOAWAY: whether tern
    closes the connection all the same (well before TIMEOUT)."""
    first = simple()(sock, conn)
    goaway = "no GOAWAY"
    deadline = time.time() + TIMEOUT
    for frame in read_frames(sock, deadline):
        if isinstance(frame, hf.GoAwayFrame):
            goaway = "GOAWAY %s" % h2.errors.ErrorCodes(frame.error_code).name
    # read_frames ends early only when the connection closed.
    state = "closed" if time.time() < deadline - 1 else "still open"
    return "%s | %s | %s" % (first.split(" ")[1], goaway, state)


def case_idle_after_slow_response(sock, conn):
    """One request the upstream is slow to answer, then silence: prints
    how long after the response the first GOAWAY came (in ms)."""
    first = simple()(sock, conn)
    answered = time.time()
    for frame in read_frames(sock, answered + TIMEOUT):
        if isinstance(frame, hf.GoAwayFrame):
            waited = (time.time() - answered) * 1000
            return "%s | GOAWAY %d ms after the response" % (first.split(" ")[1], waited)
    return "%s | no GOAWAY" % first.split(" ")[1]


def case_two_streams_with_pause(sock, conn):
    """Stream 1, then (after a line on stdin: the test reloads tern
    meanwhile) stream 3 on the same connection."""
    conn.send_headers(1, request_headers("/local"), end_stream=True)
    flush(sock, conn)
    print(outcome(sock, conn, 1), flush=True)
    sys.stdin.readline()
    conn.send_headers(3, request_headers("/local"), end_stream=True)
    flush(sock, conn)
    return outcome(sock, conn, 3)


def case_reset_while_waiting(sock, conn):
    """A long-poll abandoned: the stream is reset while tern waits on the
    upstream (the test then checks the upstream connection was closed)."""
    conn.send_headers(1, request_headers("/poll"), end_stream=True)
    flush(sock, conn)
    print("SENT", flush=True)
    sys.stdin.readline()
    conn.reset_stream(1, h2.errors.ErrorCodes.CANCEL)
    flush(sock, conn)
    sys.stdin.readline()
    return "DONE"


def case_hold_window(sock, conn):
    """Asks for a large response with a 1000-byte window and never opens it
    further, holding the connection until a line comes on stdin."""
    conn.send_headers(1, request_headers("/huge"), end_stream=True)
    flush(sock, conn)
    print("SENT", flush=True)
    sys.stdin.readline()
    return "DONE"


def head_of(sock, conn, stream_id):
    """The status of `stream_id`'s response HEADERS (which no window
    holds back), or what came instead."""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        for ev in events(sock, conn, deadline):
            if isinstance(ev, str):
                return ev
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == stream_id:
                return dict(ev.headers).get(":status")
            if isinstance(ev, h2.events.StreamReset) and ev.stream_id == stream_id:
                return "RST_STREAM"
            if isinstance(ev, h2.events.ConnectionTerminated):
                return "GOAWAY"
    return "TIMEOUT"


def case_small_body_unread(sock, conn):
    """With a zero window, stream 1's small body can't be sent; stream 3
    then asks the same upstream (which takes one connection at a time):
    its head comes only if stream 1 let its upstream connection go."""
    conn.send_headers(1, request_headers("/small/1"), end_stream=True)
    flush(sock, conn)
    first = head_of(sock, conn, 1)
    conn.send_headers(3, request_headers("/small/3"), end_stream=True)
    flush(sock, conn)
    return "1: %s, 3: %s" % (first, head_of(sock, conn, 3))


def open_websocket(sock, conn, path):
    """Opens stream 1 as an RFC 8441 WebSocket to `path`."""
    headers = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
        ("sec-websocket-version", "13"),
    ]
    conn.send_headers(1, headers, end_stream=False)
    flush(sock, conn)


def case_websocket(sock, conn):
    """RFC 8441: extended CONNECT, bytes both ways, then END_STREAM from the
    client and (after the upstream's close) from tern."""
    enabled = None
    for ev in events(sock, conn, time.time() + TIMEOUT):
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            setting = ev.changed_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
            enabled = setting.new_value if setting else None
            break
    open_websocket(sock, conn, "/ws")
    status = None
    got = b""
    sent = False
    ended = False
    for ev in events(sock, conn, time.time() + TIMEOUT):
        if isinstance(ev, str):
            return ev
        if isinstance(ev, h2.events.ResponseReceived):
            status = dict(ev.headers).get(":status")
            conn.send_data(1, b"ping over h2")
            flush(sock, conn)
            sent = True
        if isinstance(ev, h2.events.DataReceived):
            got += ev.data
            conn.acknowledge_received_data(ev.flow_controlled_length, 1)
            if got == b"ping over h2" and not ended:
                ended = True
                conn.end_stream(1)
            flush(sock, conn)
        if isinstance(ev, h2.events.StreamEnded):
            return "SETTING %s STATUS %s ECHO %s ENDED" % (enabled, status, got.decode())
        if isinstance(ev, h2.events.StreamReset):
            return "RST_STREAM %s after %r" % (ev.error_code, got)
    return "TIMEOUT status=%s sent=%s got=%r" % (status, sent, got)


def case_websocket_window_shut(sock, conn):
    """RFC 8441 WebSocket whose client never opens its window past 1000
    bytes while the upstream pushes: how the stream ends (tern should end
    the tunnel at its timeout), or TIMEOUT after 15 s."""
    open_websocket(sock, conn, "/ws")
    status = None
    for ev in events(sock, conn, time.time() + 15):
        if isinstance(ev, str):
            return "%s status=%s" % (ev, status)
        if isinstance(ev, h2.events.ResponseReceived):
            status = dict(ev.headers).get(":status")
        if isinstance(ev, h2.events.StreamEnded):
            return "ENDED status=%s" % status
        if isinstance(ev, h2.events.StreamReset):
            return "RST_STREAM status=%s" % status
        flush(sock, conn)
    return "TIMEOUT status=%s" % status


def get(path):
    """A GET of `path`; its outcome (a response, or the stream's reset)."""

    def case(sock, conn):
        conn.send_headers(1, request_headers(path), end_stream=True)
        flush(sock, conn)
        return outcome(sock, conn, 1)

    return case


def case_websocket_not_switched(sock, conn):
    """RFC 8441: an extended CONNECT whose upstream answers without a 101:
    the outcome the client sees (a 2xx would tell it the tunnel is open)."""
    for ev in events(sock, conn, time.time() + TIMEOUT):
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            break
    open_websocket(sock, conn, "/ws-plain")
    return outcome(sock, conn, 1)


def case_panic_then_ok(sock, conn):
    """A stream whose task panics (debug builds, TERN_DEBUG_PANIC), then a
    second stream on the same connection."""
    conn.send_headers(1, request_headers("/inject-a-panic"), end_stream=True)
    flush(sock, conn)
    first = outcome(sock, conn, 1)
    conn.send_headers(3, request_headers("/after"), end_stream=True)
    flush(sock, conn)
    return first + " | " + outcome(sock, conn, 3)


def case_early_hints(sock, conn):
    """An upstream's 103 comes as an interim HEADERS before the response."""
    conn.send_headers(1, request_headers("/hints"), end_stream=True)
    flush(sock, conn)
    seen = []
    for ev in events(sock, conn, time.time() + TIMEOUT):
        if isinstance(ev, str):
            return ev
        if isinstance(ev, h2.events.InformationalResponseReceived):
            headers = dict(ev.headers)
            seen.append("%s link=%s" % (headers.get(":status"), headers.get("link")))
        if isinstance(ev, h2.events.ResponseReceived):
            seen.append(dict(ev.headers).get(":status"))
        if isinstance(ev, h2.events.StreamEnded):
            return " ".join(seen)
    return "TIMEOUT " + " ".join(seen)



def send_all(sock, frames):
    """Sends frames in batches; False once tern closed the connection."""
    batch = b""
    for i, frame in enumerate(frames):
        batch += frame.serialize()
        if len(batch) > 60000:
            try:
                sock.sendall(batch)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
                return False
            batch = b""
    try:
        sock.sendall(batch)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
        return False
    return True


FLOOD = 100000


def no_progress_flood(make):
    """Frames that make no progress, FLOOD of them, on an open upload
    stream (1); then a request on stream 3. Prints what came of it."""

    def case(sock, conn):
        conn.send_headers(1, request_headers("/upload", method="POST"), end_stream=False)
        flush(sock, conn)
        if not send_all(sock, (make(i) for i in range(FLOOD))):
            return outcome_goaway(sock, conn)
        conn.send_headers(3, request_headers("/after-flood"), end_stream=True)
        try:
            flush(sock, conn)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return outcome_goaway(sock, conn)
        return outcome(sock, conn, 3)

    return case


def empty_data(i):
    return hf.DataFrame(1)


def window_update(i):
    frame = hf.WindowUpdateFrame(1 if i % 2 else 0)
    frame.window_increment = 1
    return frame


def unknown_type(i):
    """A frame of a type HTTP/2 doesn't define: ignored (RFC 9113 §4.1)."""
    return hf.ExtensionFrame(0xFA, 0, 0, b"")


def priority(i):
    frame = hf.PriorityFrame(1 + 2 * (i % 1000))
    frame.depends_on = 0
    frame.stream_weight = 15
    return frame


def case_headers_flood(sock, conn):
    """Streams opened by HEADERS and never finished nor reset (uploads
    whose body never comes), far past the concurrent-stream limit."""
    frames = []
    for i in range(5000):
        frame = hf.HeadersFrame(1 + 2 * i)
        frame.data = conn.encoder.encode(request_headers("/upload/%d" % i, method="POST"))
        frame.flags.add("END_HEADERS")
        frames.append(frame)
    send_all(sock, frames)
    resets = 0
    for frame in read_frames(sock, time.time() + TIMEOUT):
        if isinstance(frame, hf.RstStreamFrame):
            resets += 1
        if isinstance(frame, hf.GoAwayFrame):
            return "GOAWAY %s" % h2.errors.ErrorCodes(frame.error_code).name
    return "TIMEOUT after %d resets" % resets


def case_hpack_bomb(sock, conn):
    """A 4,000-byte header inserted once in the dynamic table and referenced
    16,000 times (64 MB decoded) in one small header block: the header list
    limit refuses it (431) and the connection goes on."""
    bomb = ("x-bomb", "b" * 4000)
    headers = request_headers("/bomb")
    block = conn.encoder.encode(headers + [bomb])
    ref = conn.encoder.encode([bomb])  # now one indexed reference
    frames = []
    body = block + ref * 12000
    first = hf.HeadersFrame(1)
    first.data = body[:16384]
    first.flags.add("END_STREAM")
    frames.append(first)
    rest = body[16384:]
    while rest:
        cont = hf.ContinuationFrame(1)
        cont.data = rest[:16000]
        rest = rest[16000:]
        frames.append(cont)
    frames[-1].flags.add("END_HEADERS")
    if not send_all(sock, frames):
        return "CLOSED"
    first = outcome(sock, conn, 1)
    if first.startswith("GOAWAY") or first == "CLOSED":
        return first
    conn.send_headers(3, request_headers("/after"), end_stream=True)
    flush(sock, conn)
    return "%s | %s" % (first, outcome(sock, conn, 3))


def case_zero_window_streams(sock, conn):
    """Streams with a zero window that is never opened: each gets its
    HEADERS and no DATA. Holds them until told to end on stdin."""
    for i in range(100):
        conn.send_headers(1 + 2 * i, request_headers("/big/%d" % i), end_stream=True)
    flush(sock, conn)
    heads = 0
    sock.settimeout(1)
    deadline = time.time() + TIMEOUT
    while heads < 100 and time.time() < deadline:
        for ev in events(sock, conn, time.time() + 1):
            if isinstance(ev, h2.events.ResponseReceived):
                heads += 1
    print("HEADS %d" % heads, flush=True)
    sys.stdin.readline()
    return "END"



CASES = {
    "body_past_limit": body_past_limit(),
    "length_past_limit": body_past_limit([("content-length", "2000")]),
    "early_hints": case_early_hints,
    "settings_flood": flood_then_request(settings, "/after-settings"),
    "panic_then_ok": case_panic_then_ok,
    "websocket": case_websocket,
    "websocket_not_switched": case_websocket_not_switched,
    "websocket_window_shut": case_websocket_window_shut,
    "cut_chunked": get("/cut-chunked"),
    "cut_before_body": get("/cut-before-body"),
    "whole_chunked": get("/whole-chunked"),
    "hold_window": case_hold_window,
    "reset_while_waiting": case_reset_while_waiting,
    "two_streams_with_pause": case_two_streams_with_pause,
    "idle": case_idle,
    "idle_after_slow_response": case_idle_after_slow_response,
    "idle_silent": case_idle_silent,
    "get": case_get,
    "connection_header": simple([("connection", "keep-alive")]),
    "te_gzip": simple([("te", "gzip")]),
    "te_trailers": simple([("te", "trailers")]),
    "uppercase_name": simple([("X-Upper", "1")]),
    "missing_path": simple(drop=":path"),
    "missing_method": simple(drop=":method"),
    "host_conflict": simple([("host", "elsewhere.example")]),
    "even_stream_id": case_even_stream_id,
    "data_on_idle_stream": case_data_on_idle_stream,
    "oversized_frame": case_oversized_frame,
    "bad_initial_window": case_bad_initial_window,
    "window_update_zero": case_window_update_zero,
    "window_overflow": case_window_overflow,
    "max_concurrent_streams": case_max_concurrent_streams,
    "window_stall": case_window_stall,
    "chunked_body": case_chunked_body,
    "length_then_more_data": length_then(50),
    "length_then_end": length_then(0),
    "rapid_reset": case_rapid_reset,
    # 10 streams at a time, each reset 5 ms after it was opened.
    "reset_after_accept": reset_in_rounds(10, 0.005, 3000),
    # 16 streams (tern's window in the test) at a time, reset after 50 ms.
    "reset_held_streams": reset_in_rounds(16, 0.05, 320),
    "continuation_flood": case_continuation_flood,
    "header_list_too_large": case_header_list_too_large,
    "ping_flood": flood_then_request(pings, "/after-pings"),
    "goaway_on_stop": case_goaway_on_stop,
    "empty_data_flood": no_progress_flood(empty_data),
    "window_update_flood": no_progress_flood(window_update),
    "priority_flood": no_progress_flood(priority),
    "unknown_type_flood": no_progress_flood(unknown_type),
    "hpack_bomb": case_hpack_bomb,
    "headers_flood": case_headers_flood,
    "zero_window_streams": case_zero_window_streams,
    "small_body_unread": case_small_body_unread,
}


def main():
    name, port = sys.argv[1], int(sys.argv[2])
    tls = len(sys.argv) > 3 and sys.argv[3] == "tls"
    sock, conn = connect(port, tls)
    settings = None
    if name in ("window_stall", "hold_window", "websocket_window_shut"):
        settings = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000}
    if name in ("zero_window_streams", "small_body_unread"):
        settings = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
    start(sock, conn, settings)
    if name == "window_stall":
        # Keep the connection window small too: it starts at 65535.
        pass
    print(CASES[name](sock, conn), flush=True)


if __name__ == "__main__":
    main()
