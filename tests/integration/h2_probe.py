#!/usr/bin/python3
"""HTTP/2 client for tests/integration/proxy_h2.c: well-behaved requests with the `h2`
library (Debian python3-h2) and the adversarial frame sequences of RFC 9113's security
considerations written frame by frame with hyperframe/hpack (which `h2` depends on), so
the proxy sees exactly what an attacker would send.

Usage: h2_probe.py PORT SCENARIO [ARG]. Prints one JSON object on stdout: what the
attacked connection received (GOAWAY / RST_STREAM codes, statuses) and the statuses a
second, well-behaved connection got before and after the attack (`good_before`,
`good_after`, `fresh_after`). Exit status 0 unless the script itself failed.
"""
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HOST = "app.test"
TIMEOUT = 20.0


class Good:
    """A well-behaved client connection (h2 library)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())

    def request(self, path="/", method="GET", body=None, headers=()):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", HOST)] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        status, data = None, b""
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            chunk = self.sock.recv(65536)
            if not chunk:
                return -1, data
            for ev in self.conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    data += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    self.sock.sendall(self.conn.data_to_send())
                    return status, data
                elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                    return -int(ev.error_code), data
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    return -1000 - int(ev.error_code), data
            self.sock.sendall(self.conn.data_to_send())
        return -2, data


def good_status(port):
    try:
        return Good(port).request()[0]
    except OSError:
        return -3


class Raw:
    """A connection written frame by frame."""

    def __init__(self, port, settings=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.enc = Encoder()
        self.buf = b""
        self.sock.sendall(PREFACE + SettingsFrame(0, settings=settings or {}).serialize())

    def send(self, *frames):
        try:
            self.sock.sendall(b"".join(f.serialize() for f in frames))
            return True
        except OSError:
            return False

    def block(self, path="/", method="GET", extra=()):
        return self.enc.encode([(":method", method), (":path", path), (":scheme", "http"),
                                (":authority", HOST)] + list(extra))

    def headers(self, sid, end_stream=True, path="/", method="GET", extra=()):
        f = HeadersFrame(sid, self.block(path, method, extra))
        f.flags.add("END_HEADERS")
        if end_stream:
            f.flags.add("END_STREAM")
        return f

    def frames(self, until, timeout=TIMEOUT):
        """Reads frames until until(frame) is true, EOF or timeout; returns them all."""
        got = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            while len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
                got.append(f)
                if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                    ack = SettingsFrame(0)
                    ack.flags.add("ACK")
                    self.send(ack)
                if until(f):
                    return got
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not chunk:
                break
            self.buf += chunk
        return got


def goaway_of(frames):
    for f in frames:
        if isinstance(f, GoAwayFrame):
            return {"goaway": f.error_code, "last_stream_id": f.last_stream_id}
    return {"goaway": None}


def rsts_of(frames):
    return {str(f.stream_id): f.error_code for f in frames if isinstance(f, RstStreamFrame)}


def is_goaway(f):
    return isinstance(f, GoAwayFrame)


# ---- scenarios: each returns a dict ----

def rapid_reset(port, n):
    r = Raw(port)
    sent = 0
    for i in range(n):
        sid = 1 + 2 * i
        if not r.send(r.headers(sid), RstStreamFrame(sid, error_code=8)):
            break
        sent += 1
    out = goaway_of(r.frames(is_goaway))
    out["sent"] = sent
    return out


def continuation_flood(port, n):
    r = Raw(port)
    first = HeadersFrame(1, r.block())
    sent = 0
    ok = r.send(first)
    for i in range(n):
        if not ok:
            break
        ok = r.send(ContinuationFrame(1, r.enc.encode([("x-flood-%d" % i, "a")])))
        sent += 1
    out = goaway_of(r.frames(is_goaway))
    out["sent"] = sent
    return out


def ping_flood(port, n):
    r = Raw(port)
    sent = 0
    for i in range(n):
        if not r.send(PingFrame(0, opaque_data=i.to_bytes(8, "big"))):
            break
        sent += 1
    out = goaway_of(r.frames(is_goaway))
    out["sent"] = sent
    return out


def settings_flood(port, n):
    r = Raw(port)
    sent = 0
    for _ in range(n):
        if not r.send(SettingsFrame(0, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})):
            break
        sent += 1
    out = goaway_of(r.frames(is_goaway))
    out["sent"] = sent
    return out


def empty_data_flood(port, n):
    r = Raw(port)
    r.send(r.headers(1, end_stream=False, method="POST", path="/slow"))
    sent = 0
    for _ in range(n):
        if not r.send(DataFrame(1, b"")):
            break
        sent += 1
    out = goaway_of(r.frames(is_goaway))
    out["sent"] = sent
    return out


def window_overflow_conn(port, _n):
    r = Raw(port)
    r.send(WindowUpdateFrame(0, window_increment=2**31 - 1))
    return goaway_of(r.frames(is_goaway))


def window_overflow_stream(port, _n):
    r = Raw(port)
    r.send(r.headers(1, end_stream=False, method="POST", path="/slow"),
           WindowUpdateFrame(1, window_increment=2**31 - 1))
    frames = r.frames(lambda f: isinstance(f, (RstStreamFrame, GoAwayFrame)))
    out = goaway_of(frames)
    out["rst"] = rsts_of(frames)
    # the connection goes on: another stream is answered
    r.send(r.headers(3))
    more = r.frames(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 3, timeout=10)
    out["after"] = any(isinstance(f, HeadersFrame) and f.stream_id == 3 for f in more)
    return out


def data_overflow(port, _n):
    """More DATA than the stream window allows (RFC 9113 §6.9.1)."""
    r = Raw(port)
    r.send(r.headers(1, end_stream=False, method="POST", path="/hole"))
    r.frames(lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags, timeout=5)
    chunk = b"x" * 16384
    for _ in range(5):  # 80 KiB > 65,535
        r.send(DataFrame(1, chunk))
    frames = r.frames(lambda f: isinstance(f, (RstStreamFrame, GoAwayFrame)))
    out = goaway_of(frames)
    out["rst"] = rsts_of(frames)
    return out


def refuse(port, n):
    """n + 1 streams kept open (bodies never end) against SETTINGS_MAX_CONCURRENT_STREAMS n."""
    r = Raw(port)
    r.frames(lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags, timeout=5)
    for i in range(n + 1):
        r.send(r.headers(1 + 2 * i, end_stream=False, method="POST", path="/slow"))
    frames = r.frames(lambda f: isinstance(f, (RstStreamFrame, GoAwayFrame)), timeout=10)
    out = goaway_of(frames)
    out["rst"] = rsts_of(frames)
    out["last"] = 1 + 2 * n
    return out


def big_headers(port, size):
    g = Good(port)
    status, _ = g.request(headers=[("x-big", "a" * size)])
    after, _ = g.request()
    return {"status": status, "after": after}


def stall_download(port, secs):
    """Asks for a large body and never opens the window: the proxy must stop reading."""
    r = Raw(port, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
    r.send(r.headers(1, path="/big"))
    frames = r.frames(lambda f: False, timeout=float(secs))
    got = sum(len(f.data) for f in frames if isinstance(f, DataFrame))
    return {"received": got, "status_seen": any(isinstance(f, HeadersFrame) for f in frames)}


def upload(port, mib):
    """Sends <mib> MiB to /sink as fast as the windows allow; reports what was sent in time."""
    g = Good(port)
    c, s = g.conn, g.sock
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "POST"), (":path", "/sink"), (":scheme", "http"),
                         (":authority", HOST)])
    s.sendall(c.data_to_send())
    total = mib * 1024 * 1024
    sent = 0
    deadline = time.time() + 3.0
    s.setblocking(False)
    while sent < total and time.time() < deadline:
        win = min(c.local_flow_control_window(sid), c.max_outbound_frame_size, total - sent)
        if win > 0:
            c.send_data(sid, b"u" * win)
            sent += win
            data = c.data_to_send()
            while data:
                try:
                    k = s.send(data)
                    data = data[k:]
                except BlockingIOError:
                    time.sleep(0.01)
                    if time.time() > deadline:
                        break
        try:
            chunk = s.recv(65536)
            if chunk:
                for ev in c.receive_data(chunk):
                    pass
                out = c.data_to_send()
                if out:
                    s.sendall(out)
        except BlockingIOError:
            time.sleep(0.01)
    return {"sent": sent}


def graceful(port, _n):
    """A slow request in flight when the proxy stops: GOAWAY, then the response completes."""
    r = Raw(port)
    r.send(r.headers(1, path="/slow"))
    print("READY", flush=True, file=sys.stderr)
    frames = r.frames(lambda f: isinstance(f, DataFrame) and "END_STREAM" in f.flags and f.stream_id == 1
                      or isinstance(f, HeadersFrame) and f.stream_id == 1 and "END_STREAM" in f.flags,
                      timeout=30)
    goaways = [(f.last_stream_id, f.error_code) for f in frames if isinstance(f, GoAwayFrame)]
    status = None
    for f in frames:
        if isinstance(f, HeadersFrame) and f.stream_id == 1:
            status = 200 if b"\x88" in f.data[:1] else "other"
    done = any(isinstance(f, (DataFrame, HeadersFrame)) and f.stream_id == 1 and "END_STREAM" in f.flags
               for f in frames)
    return {"goaways": goaways, "status": status, "done": done}


def heads(port, _n):
    """Request heads of every kind on one connection: the common one (forwarded from its
    fields), others parsed as HTTP/1.1 text, and malformed ones. Each: its status, or the
    negated RST_STREAM code. The client sends the fields as given (no validation)."""
    g = Good(port)
    g.conn.config.validate_outbound_headers = False
    g.conn.config.normalize_outbound_headers = False
    base = [(":method", "GET"), (":path", "/hello"), (":scheme", "http"), (":authority", HOST)]
    cases = {
        "plain": base + [("user-agent", "probe"), ("accept", "*/*")],
        "cookies": base + [("cookie", "a=1"), ("cookie", "b=2")],
        "query_method": [(":method", "QUERY")] + base[1:],
        "te_trailers": base + [("te", "trailers")],
        "expect_bad": base + [("expect", "200-ok")],
        "host_field_only": base[:3] + [("host", HOST)],
        "two_host_fields": base[:3] + [("host", HOST), ("host", "other.test")],
        "no_host": base[:3],
        "fragment": [base[0], (":path", "/a#b")] + base[2:],
        "asterisk_get": [base[0], (":path", "*")] + base[2:],
        "ctl_in_value": base + [("x-a", "a\x01b")],
        "del_in_path": [base[0], (":path", "/a\x7fb")] + base[2:],
        "bad_authority": base[:3] + [(":authority", "app.test/x")],
        "space_in_authority": base[:3] + [(":authority", "app test")],
    }
    out, bodies = {}, {}
    for name, hdrs in cases.items():
        sid = g.conn.get_next_available_stream_id()
        g.conn.send_headers(sid, hdrs, end_stream=True)
        g.sock.sendall(g.conn.data_to_send())
        status, body, done = None, b"", False
        deadline = time.time() + TIMEOUT
        while not done and time.time() < deadline:
            chunk = g.sock.recv(65536)
            if not chunk:
                status, done = -1000, True
                break
            for ev in g.conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    if ev.stream_id == sid:
                        body += ev.data
                    g.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    done = True
                elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                    status, done = (status if status else -int(ev.error_code)), True
            g.sock.sendall(g.conn.data_to_send())
        out[name] = status
        bodies[name] = body.decode("utf-8", "replace")
        if status == -1000:
            break
    return {"heads": out, "bodies": bodies}


SCENARIOS = {
    "heads": heads,
    "rapid_reset": rapid_reset,
    "continuation": continuation_flood,
    "ping_flood": ping_flood,
    "settings_flood": settings_flood,
    "empty_data": empty_data_flood,
    "window_conn": window_overflow_conn,
    "window_stream": window_overflow_stream,
    "data_overflow": data_overflow,
    "refuse": refuse,
    "big_headers": big_headers,
    "stall_download": stall_download,
    "upload": upload,
    "graceful": graceful,
}


def main():
    port, name = int(sys.argv[1]), sys.argv[2]
    arg = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    out = {}
    keep = None
    if name not in ("graceful",):
        keep = Good(port)
        out["good_before"] = keep.request()[0]
    out.update(SCENARIOS[name](port, arg))
    if keep is not None:
        out["good_after"] = keep.request()[0]
        out["fresh_after"] = good_status(port)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
