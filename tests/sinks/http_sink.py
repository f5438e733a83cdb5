#!/usr/bin/python3
"""HTTP sink standing in for the SMS provider in rapport's integration tests.

Every request is appended to --log as one JSON line:
  {"seq", "time", "method", "path", "query", "headers" (lower-cased names),
   "header_list" ([name, value] as sent), "body" (text), "form" (name -> last
   value, when form-encoded), "form_list" ([name, value] in order), "json"
   (when the body is JSON), "auth_user"/"auth_pass" (HTTP Basic), "reply",
   "peer_port" (the client's port: one per connection)}
The line is written before the response, so a client that timed out on a
"hang" still left its request in the log.

Responses are scripted through --script, one line consumed per request
(the file is rewritten without it, so tests may append more at any time):
  200 | 400 | 500 | ...        that status; 2xx gets the default body
  429 Retry-After=2 X-Foo=bar   extra tokens NAME=VALUE are response headers
                                (VALUE percent-decoded: Retry-After=Tue,%2001%20...)
  503 body={"message":"busy"}   body= takes the rest of the line verbatim
  hang                          read the request, answer nothing for 600 s
  close                         read the request, drop the connection
Blank lines and lines starting with # are skipped. When the script is
empty: 200 with {"sid":"SM<n>","id":"<n>","status":"queued"}.
"""

import argparse
import base64
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink:
    def __init__(self, args):
        self.log_path = args.log
        self.script_path = args.script
        self.lock = threading.Lock()
        self.seq = 0
        self.accepted = 0

    def next_action(self):
        """Pop the first meaningful script line; called with self.lock held."""
        if not self.script_path or not os.path.exists(self.script_path):
            return None
        with open(self.script_path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        action = None
        rest = []
        for i, line in enumerate(lines):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            action = stripped
            rest = lines[i + 1:]
            break
        if action is None:
            return None
        tmp = self.script_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(l + "\n" for l in rest))
        os.replace(tmp, self.script_path)
        return action

    def log(self, entry):
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def parse_action(action):
    """Return (kind, status, headers, body) for one script line."""
    if action is None:
        return ("default", 200, [], None)
    word, _, rest = action.partition(" ")
    if word in ("hang", "close"):
        return (word, None, [], None)
    status = int(word)
    headers = []
    body = None
    rest = rest.strip()
    while rest:
        if rest.startswith("body="):
            body = rest[len("body="):]
            break
        token, _, rest = rest.partition(" ")
        rest = rest.strip()
        name, eq, value = token.partition("=")
        if not eq:
            raise ValueError("bad script token %r" % token)
        headers.append((name, urllib.parse.unquote(value)))
    return ("status", status, headers, body)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as libcurl reuses connections
    server_version = "rapport-http-sink/1"

    def log_message(self, fmt, *args):  # stderr noise helps nobody here
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        sink = self.server.sink
        raw = self.read_body()
        body = raw.decode("utf-8", errors="replace")
        url = urllib.parse.urlsplit(self.path)
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()

        with sink.lock:
            sink.seq += 1
            seq = sink.seq
            try:
                kind, status, extra_headers, reply_body = parse_action(sink.next_action())
            except ValueError as e:
                kind, status, extra_headers, reply_body = ("status", 599, [], str(e))
            if kind == "default" or (kind == "status" and 200 <= status < 300
                                     and reply_body is None):
                sink.accepted += 1
                reply_body = json.dumps({"sid": "SM%d" % sink.accepted,
                                         "id": str(sink.accepted),
                                         "status": "queued"})
            elif kind == "status" and reply_body is None:
                reply_body = json.dumps({"code": status,
                                         "message": "scripted failure %d" % status})

            entry = {
                "seq": seq,
                "peer_port": self.client_address[1],
                "time": time.time(),
                "method": self.command,
                "path": self.path,
                "query": dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True)),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "header_list": [[k, v] for k, v in self.headers.items()],
                "body": body,
                "reply": kind if kind in ("hang", "close") else status,
            }
            if ctype == "application/x-www-form-urlencoded":
                pairs = urllib.parse.parse_qsl(body, keep_blank_values=True)
                entry["form"] = dict(pairs)
                entry["form_list"] = [[k, v] for k, v in pairs]
            if ctype == "application/json" or ctype.endswith("+json"):
                try:
                    entry["json"] = json.loads(body)
                except ValueError:
                    entry["json_error"] = True
            auth = self.headers.get("Authorization", "")
            if auth.lower().startswith("basic "):
                try:
                    user, _, pw = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
                    entry["auth_user"], entry["auth_pass"] = user, pw
                except ValueError:
                    pass
            sink.log(entry)

        if kind == "hang":
            # The fault itself: a gateway that takes the request and never
            # answers; the client's timeout, not this, ends the exchange.
            time.sleep(600)
            self.close_connection = True
            return
        if kind == "close":
            self.close_connection = True
            return
        data = reply_body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True, help="0 = any free port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--log", required=True)
    p.add_argument("--script")
    p.add_argument("--ready-file", help='write "ready PORT" here once listening')
    args = p.parse_args()

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True  # a "hang" thread must not block exit
    server.sink = Sink(args)
    open(args.log, "a").close()

    # Signals are handled by the main thread waiting in sigwait; the serving
    # thread inherits the blocked mask and is never interrupted.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    threading.Thread(target=server.serve_forever, daemon=True).start()

    port = server.server_address[1]
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready %d\n" % port)
    print("http sink listening on %s:%d" % (args.host, port), flush=True)

    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
