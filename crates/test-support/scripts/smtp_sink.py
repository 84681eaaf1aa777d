"""A real SMTP server for tests (aiosmtpd): listens on 127.0.0.1 on a free port, prints the port
on one line, and writes each message it receives to DIR as NNNNNN.json (the envelope, the
decoded subject, text and HTML parts, and the raw message), until its standard input closes.

Recipients whose local part starts with "refused" are refused for good (550), like an unknown
mailbox.

    python3 smtp_sink.py DIR
"""

import asyncio
import email
import email.policy
import json
import os
import sys
import time

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].startswith("refused"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        self.count += 1
        record = {
            "received_at": time.time(),
            "mail_from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message["subject"] or ""),
            "from": str(message["from"] or ""),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else "",
            "raw": raw.decode("utf-8", "replace"),
        }
        name = os.path.join(self.directory, "%06d.json" % self.count)
        with open(name + ".part", "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
        os.replace(name + ".part", name)
        return "250 OK"


async def main():
    directory = sys.argv[1]
    loop = asyncio.get_running_loop()
    sink = Sink(directory)
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="smtp-sink.test"), "127.0.0.1", 0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    # Serve until the test closes our standard input (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


asyncio.run(main())
