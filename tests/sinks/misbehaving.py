#!/usr/bin/python3
"""Servers that misbehave the way real mail servers and SMS gateways do,
for rapport's integration tests (tests/integration/test_misbehaving_servers.sh).

Raw asyncio sockets, no protocol library: the point is to send what a
library would refuse to (a reply split over TCP segments, a connection
dropped after the end-of-DATA dot, a body that never ends).

  misbehaving.py smtp|http --mode MODE [--times N] --log FILE --ready-file F

--times N: misbehave on the first N occasions (SMTP: connections for the
greeting modes, mail transactions otherwise; HTTP: requests), then behave.
0 (the default) means always.

Every event is appended to --log as one JSON line: {"event": "connect"},
{"event": "message", "rcpt": [...], "bytes": N, "reply": "..."} for every
message whose end-of-DATA dot arrived (whether it was answered or not:
such a server may well have delivered it), {"event": "request", "path",
"headers", "body", "reply"} for HTTP.

SMTP modes:
  ok            a well-behaved server (multi-line EHLO)
  greet-421     421 instead of the greeting, then close
  silent        accept the connection, never say anything
  mail-421      421 to MAIL FROM, then close (shutting down mid-session)
  rcpt-452      452 4.2.2 to RCPT TO
  rcpt-550      550 5.1.1 to RCPT TO
  rcpt-552      552 to RCPT TO (RFC 821's "too many recipients")
  dot-552       552 5.3.4 to the end of DATA
  dot-554       554 5.7.1 to the end of DATA
  dot-close     close the connection after the dot, without a reply
  dot-silent    never answer the dot
  dot-late      answer the dot (250) after --late seconds
  multiline     every reply multi-line, the final one to the dot too
  split         every reply sent in 3-byte TCP segments
  slow          every reply sent one byte at a time, --byte-delay apart

HTTP modes (every request is read in full and logged first):
  ok            200, a JSON body with an id
  status        --status CODE, with --header NAME:VALUE (repeatable) and
                --body TEXT
  big           200, a JSON body with an id, padded to --size bytes
  endless       200 with Content-Length 1000, 10 bytes of it, then nothing
  endless-headers  "HTTP/1.1 200 OK" and one header line, then nothing
  chunked       200, the JSON body in chunked encoding, a chunk a segment
  close-body    200 with Content-Length 1000, 10 bytes, then close
  close-headers "HTTP/1.1 200 OK" and one header line, then close
  http10        HTTP/1.0 200 with no Content-Length: body ends at close
"""

import argparse
import asyncio
import json
import os
import signal
import sys


class State:
    def __init__(self, args):
        self.args = args
        self.count = 0
        self.seq = 0

    def misbehave(self):
        """Whether this occasion misbehaves (counts it)."""
        self.count += 1
        return self.args.times == 0 or self.count <= self.args.times

    def log(self, entry):
        with open(self.args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


# ------------------------------------------------------------------ SMTP

EHLO_LINES = ["misbehaving.example.com greets you", "PIPELINING", "SIZE 10240000",
              "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"]


async def smtp_session(st, reader, writer):
    args = st.args
    st.log({"event": "connect"})
    mode = args.mode
    greeting_modes = ("greet-421", "silent")
    if mode in greeting_modes and not st.misbehave():
        mode = "ok"

    async def send(text):
        data = text.encode()
        if mode == "split":
            for i in range(0, len(data), 3):
                writer.write(data[i:i + 3])
                await writer.drain()
                # The pause is the misbehaviour, not a wait for anything: it
                # keeps each piece its own TCP segment (Nagle off or not).
                await asyncio.sleep(0.02)
        elif mode == "slow":
            for i in range(len(data)):
                writer.write(data[i:i + 1])
                await writer.drain()
                # A slow server is the case under test: nothing to wait on.
                await asyncio.sleep(args.byte_delay)
        else:
            writer.write(data)
            await writer.drain()

    def multi(code, lines):
        return "".join(f"{code}-{l}\r\n" for l in lines[:-1]) + f"{code} {lines[-1]}\r\n"

    try:
        if mode == "greet-421":
            await send("421 4.3.2 misbehaving.example.com service not available, closing\r\n")
            return
        if mode == "silent":
            await reader.read()  # until the client gives up
            return
        await send("220 misbehaving.example.com ESMTP\r\n")
        rcpt = []
        txn_mode = None  # this transaction's mode: decided at MAIL FROM
        while True:
            line = await reader.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                lines = EHLO_LINES
                if mode == "multiline":
                    lines = EHLO_LINES + [f"X-PADDING-{i} " + "x" * 60 for i in range(40)] + ["HELP"]
                await send(multi("250", lines))
            elif verb == "HELO":
                await send("250 misbehaving.example.com\r\n")
            elif verb == "MAIL":
                rcpt = []
                txn_mode = mode if mode not in greeting_modes and st.misbehave() else "ok"
                if txn_mode == "mail-421":
                    await send("421 4.3.2 System shutting down, closing connection\r\n")
                    return
                await send(multi("250", ["2.1.0 Sender", "ok"]) if txn_mode == "multiline" else "250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                if txn_mode == "rcpt-452":
                    await send("452 4.2.2 Mailbox full, try again later\r\n")
                elif txn_mode == "rcpt-550":
                    await send("550 5.1.1 No such user here\r\n")
                elif txn_mode == "rcpt-552":
                    await send("552 Too many recipients\r\n")
                else:
                    rcpt.append(cmd[cmd.find("<") + 1:cmd.rfind(">")])
                    await send("250 2.1.5 Ok\r\n")
            elif verb == "DATA":
                if not rcpt:
                    await send("554 5.5.1 No valid recipients\r\n")
                    continue
                await send("354 End data with <CR><LF>.<CR><LF>\r\n")
                size = 0
                while True:
                    l = await reader.readline()
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    size += len(l)
                replies = {
                    "dot-552": "552 5.3.4 Message size exceeds fixed limit\r\n",
                    "dot-554": "554 5.7.1 Message rejected as spam\r\n",
                    "multiline": "250-2.0.0 Ok: queued\r\n250-as part of a\r\n250 2.0.0 multi-line reply\r\n",
                }
                st.seq += 1
                reply = replies.get(txn_mode, f"250 2.0.0 Ok: queued as M{st.seq}\r\n")
                if txn_mode in ("dot-close", "dot-silent"):
                    reply = txn_mode
                st.log({"event": "message", "rcpt": rcpt, "bytes": size, "reply": reply.strip()})
                if txn_mode == "dot-close":
                    return
                if txn_mode == "dot-silent":
                    await reader.read()
                    return
                if txn_mode == "dot-late":
                    # The reply's lateness is the case under test (past the
                    # client's timeout): nothing to wait on.
                    await asyncio.sleep(args.late)
                await send(reply)
            elif verb in ("RSET", "NOOP"):
                await send("250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                await send("221 2.0.0 Bye\r\n")
                return
            else:
                await send("502 5.5.2 Command not recognized\r\n")
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


# ------------------------------------------------------------------ HTTP

async def http_session(st, reader, writer):
    args = st.args
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for l in lines[1:]:
                if ":" in l:
                    k, v = l.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            mode = args.mode if st.misbehave() else "ok"
            st.seq += 1
            st.log({"event": "request", "method": method, "path": path, "headers": headers,
                    "body": body.decode("utf-8", "replace"), "reply": mode})
            ok_body = json.dumps({"id": f"MB{st.seq}", "status": "queued"}).encode()
            if mode == "ok":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(ok_body), ok_body))
            elif mode == "status":
                body = args.body.encode()
                extra = "".join(h + "\r\n" for h in args.header)
                writer.write(f"HTTP/1.1 {args.status} Whatever\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            elif mode == "big":
                pad = b" " * max(0, args.size - len(ok_body))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                             % (len(ok_body) + len(pad)))
                writer.write(ok_body)
                for i in range(0, len(pad), 65536):
                    writer.write(pad[i:i + 65536])
                    await writer.drain()
            elif mode in ("endless", "close-body"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                             + ok_body[:10])
                await writer.drain()
                if mode == "close-body":
                    return
                await reader.read()
                return
            elif mode in ("endless-headers", "close-headers"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                await writer.drain()
                if mode == "close-headers":
                    return
                await reader.read()
                return
            elif mode == "chunked":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                for i in range(0, len(ok_body), 7):
                    c = ok_body[i:i + 7]
                    writer.write(b"%x\r\n%s\r\n" % (len(c), c))
                    await writer.drain()
                    # The pause is the misbehaviour: one chunk a TCP segment.
                    await asyncio.sleep(0.01)
                writer.write(b"0\r\n\r\n")
            elif mode == "http10":
                writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + ok_body)
                await writer.drain()
                return
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("proto", choices=["smtp", "http"])
    p.add_argument("--mode", default="ok")
    p.add_argument("--times", type=int, default=0)
    p.add_argument("--log", required=True)
    p.add_argument("--ready-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--byte-delay", type=float, default=0.05)
    p.add_argument("--late", type=float, default=10)
    p.add_argument("--status", type=int, default=200)
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--body", default="")
    p.add_argument("--size", type=int, default=5 * 1024 * 1024)
    args = p.parse_args()
    st = State(args)
    open(args.log, "a").close()
    handler = smtp_session if args.proto == "smtp" else http_session
    server = await asyncio.start_server(lambda r, w: handler(st, r, w), "127.0.0.1", args.port)
    port = server.sockets[0].getsockname()[1]
    with open(args.ready_file, "w") as f:
        f.write(f"ready {port}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
