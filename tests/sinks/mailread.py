#!/usr/bin/python3
"""Print the messages of the SMTP sink's Maildir as JSON, in delivery order.

usage: mailread.py MAILDIR        -> JSON array of all messages
       mailread.py MAILDIR N      -> JSON object of message N (1-based,
                                     negative counts from the end)

Each message object:
  seq, file, envelope_from, envelope_to [..], mail_options,
  subject, from, to, cc, reply_to, message_id, date, list_unsubscribe,
  list_unsubscribe_post   (decoded with email.policy.default, RFC 2047 undone;
                           null when absent)
  from_addrs, to_addrs    (bare addr-specs)
  header_names            (every header name in order, envelope ones excluded)
  headers                 ([name, decoded value] in order)
  raw_headers             ([name, value as on the wire, unfolded])
  content_type, text, html (decoded text/plain and text/html bodies with LF
                           line ends, or null)
  attachments             ([{filename, content_type, size}])
  defects                 (parser complaints about the message, as strings)
  raw                     (whole message as received, CRLF and all, without
                           the sink's envelope headers)
"""

import email
import email.policy
import json
import mailbox
import os
import sys

SINK_HEADERS = {"x-envelope-from", "x-envelope-to", "x-envelope-mail-options",
                "x-sink-seq", "x-sink-queue-id"}


def split_sink_headers(data):
    """Separate the sink's leading envelope lines from the message bytes."""
    env = {}
    rest = data
    while True:
        line, sep, after = rest.partition(b"\n")
        name, colon, value = line.partition(b":")
        if not sep or not colon or name.strip().lower().decode("latin-1") not in SINK_HEADERS:
            break
        env[name.strip().lower().decode("latin-1")] = value.strip().decode("utf-8", "replace")
        rest = after
    return env, rest


def addr_list(value):
    return [a.strip().strip("<>") for a in value.split(",") if a.strip()] if value else []


def header_str(msg, name):
    value = msg.get(name)
    return None if value is None else str(value)


def addr_specs(msg, name):
    value = msg.get(name)
    if value is None:
        return []
    try:
        return [a.addr_spec for a in value.addresses]
    except AttributeError:
        return [str(value)]


def body_of(msg, subtype):
    part = msg.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        # SMTP delivers CRLF; tests compare text, the wire form is in "raw".
        return part.get_content().replace("\r\n", "\n")
    except (LookupError, ValueError) as e:
        return "<undecodable: %s>" % e


def describe(path, data):
    env, raw = split_sink_headers(data)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    raw_msg = email.message_from_bytes(raw, policy=email.policy.compat32)

    headers = []
    defects = [repr(d) for d in msg.defects]
    for name, value in msg.items():
        headers.append([name, str(value)])
        defects.extend("%s: %r" % (name, d) for d in getattr(value, "defects", ()))

    attachments = []
    for part in msg.iter_attachments() if msg.is_multipart() else ():
        payload = part.get_payload(decode=True) or b""
        attachments.append({"filename": part.get_filename(),
                            "content_type": part.get_content_type(),
                            "size": len(payload)})
    for part in msg.walk():
        defects.extend("%s: %r" % (part.get_content_type(), d)
                       for d in part.defects if part is not msg)

    return {
        "seq": int(env.get("x-sink-seq", "0") or 0),
        "queue_id": env.get("x-sink-queue-id"),
        "file": path,
        "envelope_from": env.get("x-envelope-from", "").strip("<>"),
        "envelope_to": addr_list(env.get("x-envelope-to", "")),
        "mail_options": env.get("x-envelope-mail-options", "").split(),
        "subject": header_str(msg, "Subject"),
        "from": header_str(msg, "From"),
        "to": header_str(msg, "To"),
        "cc": header_str(msg, "Cc"),
        "reply_to": header_str(msg, "Reply-To"),
        "message_id": header_str(msg, "Message-ID"),
        "date": header_str(msg, "Date"),
        "list_unsubscribe": header_str(msg, "List-Unsubscribe"),
        "list_unsubscribe_post": header_str(msg, "List-Unsubscribe-Post"),
        "from_addrs": addr_specs(msg, "From"),
        "to_addrs": addr_specs(msg, "To"),
        "header_names": [h[0] for h in headers],
        "headers": headers,
        "raw_headers": [[k, "".join(v.splitlines())] for k, v in raw_msg.items()],
        "content_type": msg.get_content_type(),
        "text": body_of(msg, "plain"),
        "html": body_of(msg, "html"),
        "attachments": attachments,
        "defects": defects,
        "raw": raw.decode("utf-8", errors="replace"),
    }


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    root = sys.argv[1]
    box = mailbox.Maildir(root, create=False)
    messages = []
    for key in box.keys():
        path = os.path.join(root, box._lookup(key))
        with open(path, "rb") as f:
            messages.append(describe(path, f.read()))
    messages.sort(key=lambda m: (m["seq"], m["file"]))

    if len(sys.argv) == 3:
        n = int(sys.argv[2])
        index = n - 1 if n > 0 else n
        if n == 0 or not -len(messages) <= index < len(messages):
            sys.exit("mailread: no message %d (have %d)" % (n, len(messages)))
        out = messages[index]
    else:
        out = messages
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
