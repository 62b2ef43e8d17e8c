#!/usr/bin/env python3
"""A Herald webhook receiver with nothing but the Python standard library.

Every request must carry all of Herald's signatures, and each must verify over the raw body:

  X-Mia-Signature   hex(sha256(body + secret))          (a "sha256=" prefix is accepted)
  X-Mia-Token       the same value
  X-Signature       hex(HMAC-SHA256(key=secret, body))
  webhook-id, webhook-timestamp, webhook-signature
                    Standard Webhooks: space-separated "v1,<base64 HMAC-SHA256(key=secret,
                    "{id}.{timestamp}.{body}")>" entries; one verifying entry is enough.

Replays are refused: the webhook-timestamp must be within five minutes of this machine's clock,
a webhook-id is accepted once, and an eventTimestamp older than the newest accepted one is
refused. The answer is 204 on success and 401 with a one-line reason otherwise.

    HERALD_WEBHOOK_SECRET=... PORT=9000 python3 receiver.py
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("HERALD_WEBHOOK_SECRET", "").encode("utf-8")
PORT = int(os.environ.get("PORT", "9000"))
HOST = os.environ.get("HOST", "127.0.0.1")
TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 1024 * 1024


class Rejected(Exception):
    """A request that is answered 401 with this exception's message."""


class ReplayGuard:
    """What has been accepted so far, kept in memory for the life of the process."""

    def __init__(self):
        self.lock = threading.Lock()
        self.newest_event_timestamp = None
        self.seen_ids = {}  # webhook-id -> webhook-timestamp it was accepted with

    def admit(self, webhook_id, webhook_timestamp, event_timestamp, now):
        with self.lock:
            # An id older than the tolerance would be refused by its timestamp anyway.
            for old_id in [i for i, t in self.seen_ids.items() if t < now - 2 * TOLERANCE_SECONDS]:
                del self.seen_ids[old_id]
            if webhook_id in self.seen_ids:
                raise Rejected("webhook-id already seen (replay)")
            if self.newest_event_timestamp is not None and event_timestamp < self.newest_event_timestamp:
                raise Rejected("eventTimestamp is older than the newest accepted event (replay)")
            self.seen_ids[webhook_id] = webhook_timestamp
            self.newest_event_timestamp = event_timestamp


GUARD = ReplayGuard()


def one_header(headers, name):
    """The header's single value; a missing or repeated header is refused."""
    values = headers.get_all(name) or []
    if len(values) == 0:
        raise Rejected(f"missing {name} header")
    if len(values) > 1:
        raise Rejected(f"repeated {name} header")
    return values[0].strip()


def same(expected, received):
    """Constant-time comparison of two ASCII strings."""
    return hmac.compare_digest(expected.encode("ascii"), received.encode("utf-8", "replace"))


def hex_value(value):
    if value.lower().startswith("sha256="):
        value = value[len("sha256="):]
    return value.lower()


def verify(headers, body, now):
    if not SECRET:
        raise Rejected("no secret configured (set HERALD_WEBHOOK_SECRET)")

    console = hashlib.sha256(body + SECRET).hexdigest()
    if not same(console, hex_value(one_header(headers, "X-Mia-Signature"))):
        raise Rejected("X-Mia-Signature does not verify")
    if not same(console, hex_value(one_header(headers, "X-Mia-Token"))):
        raise Rejected("X-Mia-Token does not verify")

    keyed = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not same(keyed, hex_value(one_header(headers, "X-Signature"))):
        raise Rejected("X-Signature does not verify")

    webhook_id = one_header(headers, "webhook-id")
    timestamp_text = one_header(headers, "webhook-timestamp")
    signatures = one_header(headers, "webhook-signature")
    if not (timestamp_text.isascii() and timestamp_text.isdigit()):
        raise Rejected("webhook-timestamp is not whole unix seconds")
    timestamp = int(timestamp_text)
    signed = f"{webhook_id}.{timestamp_text}.".encode("utf-8") + body
    expected = base64.b64encode(hmac.new(SECRET, signed, hashlib.sha256).digest()).decode("ascii")
    matched = False
    for entry in signatures.split(" "):
        version, _, signature = entry.partition(",")
        # Look at every entry, so the time taken does not tell which one matched.
        if version == "v1" and same(expected, signature):
            matched = True
    if not matched:
        raise Rejected("webhook-signature does not verify")
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise Rejected("webhook-timestamp is more than five minutes away")
    return webhook_id, timestamp


class Handler(BaseHTTPRequestHandler):
    server_version = "herald-example-python"

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise Rejected("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise Rejected("body too large")
        return self.rfile.read(length)

    def handle_event(self):
        try:
            body = self.read_body()
            now = int(time.time())
            webhook_id, timestamp = verify(self.headers, body, now)
            # Parse only what has been verified.
            try:
                event = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise Rejected("body is not JSON")
            event_timestamp = event.get("eventTimestamp") if isinstance(event, dict) else None
            if isinstance(event_timestamp, bool) or not isinstance(event_timestamp, (int, float)):
                raise Rejected("body has no numeric eventTimestamp")
            GUARD.admit(webhook_id, timestamp, event_timestamp, now)
        except Rejected as reason:
            self.answer(401, str(reason))
            return
        except ValueError:
            self.answer(401, "malformed request")
            return
        print(f"accepted {event.get('eventName')} id={webhook_id} eventTimestamp={event_timestamp}", flush=True)
        self.answer(204)

    do_POST = handle_event
    do_PUT = handle_event

    def answer(self, status, reason=None):
        data = (reason + "\n").encode("utf-8") if reason else b""
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        # One line per accepted event is printed above; refusals are in the 401 bodies.
        pass


def main():
    if not SECRET:
        print("warning: HERALD_WEBHOOK_SECRET is not set; every request will be refused", file=sys.stderr)
    server = ThreadingHTTPServer((HOST, PORT), Handler)
    print(f"listening on http://{HOST}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
