#!/usr/bin/python3
"""SMTP sink for rapport's integration tests.

Accepts mail on 127.0.0.1 and stores every accepted message in a Maildir,
byte for byte as received, prefixed with X-Envelope-From / X-Envelope-To /
X-Envelope-Mail-Options / X-Sink-Seq headers so tests can check the SMTP
envelope (which is not part of the message) and the delivery order.

Faults for the daemon's error paths:
  --fail-rcpt ADDR[=REPLY]
                       550 5.1.1 (hard bounce), or the whole REPLY given
                       (e.g. "550 5.7.1 client host blocked"), to
                       RCPT TO:<ADDR>; repeatable
  --reject-data ADDR[=CODE]
                       accept RCPT TO:<ADDR>, then answer CODE (default 554)
                       to the end of DATA of a message for it: a content or
                       policy rejection, permanent but not a bad mailbox (many
                       servers say 550 for spam); repeatable
  --tempfail-first N   451 to the first N DATA transactions (across sessions)
  --auth USER:PASS     require AUTH (PLAIN/LOGIN, over plain text: a test
                       sink) with these credentials; others get 535
  --delay SECONDS      wait before the final reply to DATA (slow server)
  --tls-cert PEM --tls-key PEM
                       offer STARTTLS with this certificate
  --smtps              with --tls-cert: TLS from the first byte (SMTPS)
  --require-starttls   refuse MAIL before STARTTLS (530)

Every connection ({"event": "connect"}) and every SMTP-level decision is
also appended to --events as a JSON line ({"event": "rcpt"|"data", ...};
"data" says whether the message came over TLS) so tests can count
connections and retries.

Uses aiosmtpd's protocol on our own asyncio server rather than its
Controller: we know the port is listening once create_server() returns,
--port 0 lets the kernel pick a port without a probe race, and SIGTERM is
handled on the loop. Must run under /usr/bin/python3 (Debian's aiosmtpd).
"""

import argparse
import asyncio
import json
import mailbox
import os
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class SinkHandler:
    def __init__(self, args):
        self.maildir = mailbox.Maildir(args.maildir, create=True)
        self.fail_rcpt = {}
        for a in args.fail_rcpt:
            addr, _, reply = a.partition("=")
            self.fail_rcpt[addr.lower()] = reply or None
        self.reject_mail = {}
        for a in args.reject_mail:
            addr, _, reply = a.partition("=")
            self.reject_mail[addr.lower()] = reply
        self.reject_data = {}
        for a in args.reject_data:
            addr, _, code = a.partition("=")
            self.reject_data[addr.lower()] = int(code or 554)
        self.tempfail_left = args.tempfail_first
        self.delay = args.delay
        self.events_path = args.events
        # A restarted sink continues the numbering of the same Maildir, so
        # X-Sink-Seq stays a total delivery order across restarts.
        self.seq = len(self.maildir.keys())
        self.queue_seq = self.seq

    def event(self, **fields):
        if not self.events_path:
            return
        fields["time"] = time.time()
        # One write() per line, O_APPEND: lines never interleave.
        with open(self.events_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(fields, ensure_ascii=False) + "\n")

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.lower() in self.reject_mail:
            reply = self.reject_mail[address.lower()]
            self.event(event="mail", addr=address, code=int(reply[:3]))
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.fail_rcpt:
            reply = (self.fail_rcpt[address.lower()]
                     or "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address)
            self.event(event="rcpt", addr=address, code=int(reply[:3]))
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        self.event(event="rcpt", addr=address, code=250)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay > 0:
            # The fault itself (--delay): a server slow to accept a message.
            await asyncio.sleep(self.delay)
        if self.tempfail_left > 0:
            self.tempfail_left -= 1
            self.event(event="data", code=451, mail_from=envelope.mail_from,
                       rcpt_to=envelope.rcpt_tos)
            return "451 4.3.0 Temporary failure, try again later"
        codes = [self.reject_data[r.lower()] for r in envelope.rcpt_tos
                 if r.lower() in self.reject_data]
        if codes:
            self.event(event="data", code=codes[0], mail_from=envelope.mail_from,
                       rcpt_to=envelope.rcpt_tos)
            return "%d 5.7.1 Message rejected: content policy" % codes[0]

        self.seq += 1
        self.queue_seq += 1
        queue_id = "SINK%06d" % self.queue_seq
        prefix = (
            "X-Envelope-From: <%s>\r\n"
            "X-Envelope-To: %s\r\n"
            "X-Envelope-Mail-Options: %s\r\n"
            "X-Sink-Seq: %d\r\n"
            "X-Sink-Queue-Id: %s\r\n"
            % (
                envelope.mail_from or "",
                ", ".join("<%s>" % r for r in envelope.rcpt_tos),
                " ".join(envelope.mail_options),
                self.seq,
                queue_id,
            )
        ).encode("utf-8")
        # Maildir.add writes to tmp/ and renames into new/, so a reader
        # never sees a half-written message.
        key = self.maildir.add(prefix + envelope.original_content)
        self.event(event="data", code=250, mail_from=envelope.mail_from,
                   rcpt_to=envelope.rcpt_tos, seq=self.seq, queue_id=queue_id,
                   key=key, size=len(envelope.original_content),
                   tls=session.ssl is not None
                   or server.transport.get_extra_info("ssl_object") is not None)
        return "250 2.0.0 OK queued as %s" % queue_id


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True, help="0 = any free port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--maildir", required=True)
    p.add_argument("--fail-rcpt", action="append", default=[], metavar="ADDR")
    p.add_argument("--reject-data", action="append", default=[], metavar="ADDR[=CODE]")
    p.add_argument("--reject-mail", action="append", default=[], metavar="ADDR=REPLY",
                   help="answer MAIL FROM:<ADDR> with REPLY (the sender refused)")
    p.add_argument("--tempfail-first", type=int, default=0, metavar="N")
    p.add_argument("--delay", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--auth", metavar="USER:PASS")
    p.add_argument("--tls-cert", metavar="PEM")
    p.add_argument("--tls-key", metavar="PEM")
    p.add_argument("--smtps", action="store_true")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--events", help="append JSON lines describing decisions")
    p.add_argument("--ready-file", help='write "ready PORT" here once listening')
    return p.parse_args()


async def serve(args):
    loop = asyncio.get_running_loop()
    handler = SinkHandler(args)
    auth = {}
    if args.auth:
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, data):
            ok = (isinstance(data, LoginPassword) and data.login == user.encode()
                  and data.password == password.encode())
            handler.event(event="auth", mechanism=mechanism, ok=ok)
            # handled=False: aiosmtpd then answers the 535 itself.
            return AuthResult(success=ok, handled=False, auth_data=data)
        auth = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    tls = {}
    server_ssl = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.smtps:
            server_ssl = context
        else:
            tls = dict(tls_context=context, require_starttls=args.require_starttls)

    class Session(SMTP):
        def connection_made(self, transport):
            if self._original_transport is None:  # not the STARTTLS upgrade
                handler.event(event="connect", peer_port=transport.get_extra_info("peername")[1])
            super().connection_made(transport)

    server = await loop.create_server(
        lambda: Session(handler, enable_SMTPUTF8=True, hostname="sink.rapport.test",
                        ident="rapport-smtp-sink", timeout=120, **auth, **tls),
        host=args.host, port=args.port, reuse_address=True, ssl=server_ssl)
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready %d\n" % port)
    print("smtp sink listening on %s:%d" % (args.host, port), flush=True)

    await stop.wait()
    server.close()
    sys.stdout.flush()
    # Sessions parked in --delay or held open by an idle client would keep
    # asyncio.run's task cancellation busy; every accepted message is
    # already on disk, so leave at once.
    os._exit(0)


def main():
    asyncio.run(serve(parse_args()))


if __name__ == "__main__":
    main()
