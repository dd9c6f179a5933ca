"""A Twilio-compatible Messages API for tests, in its own process (http.server on 127.0.0.1).

    python tests/sms_gateway.py --port P --log requests.jsonl [--answers 500,429,201]

Each POST to /2010-04-01/Accounts/<sid>/Messages.json is logged (path, basic-auth user, form fields). The
n-th request for a number gets the n-th code of --answers (the last one repeats; 0: answer 201 after 3 s,
too late for a client that waits 1 s); 429 carries
Retry-After: 1, 201 a Twilio-like JSON body with sid, status, num_segments and price.
"""
from __future__ import annotations

import argparse
import base64
import json
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--answers", default="201")
    args = parser.parse_args()
    answers = [int(a) for a in args.answers.split(",")]
    tries: Counter = Counter()
    log = open(args.log, "a", encoding="utf-8")

    class Gateway(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode("utf-8")).items()}
            auth = self.headers.get("Authorization", "")
            user = base64.b64decode(auth.split()[1]).decode().split(":")[0] if auth.startswith("Basic ") else None
            tries[form.get("To")] += 1
            code = answers[min(tries[form.get("To")], len(answers)) - 1]
            log.write(json.dumps({"path": self.path, "user": user, "form": form, "code": code,
                                  "content_type": self.headers.get("Content-Type")}) + "\n")
            log.flush()
            if code == 0:       # the gateway takes the request and never answers in time
                time.sleep(3)
                code = 201
            body = b'{"code": 20500, "message": "Internal Server Error"}'
            if code == 201:
                body = json.dumps({"sid": f"SM{tries.total():032d}", "status": "queued", "num_segments": "2",
                                   "price": "-0.04500", "price_unit": "EUR", "to": form.get("To")}).encode()
            self.send_response(code)
            if code == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Gateway)
    print(f"ready {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
