#!/usr/bin/env python3
"""The marketplace's HTTP neighbours for the demo (run.sh): the notification service's
webhook and the dashboard that `analytics` mirrors its weekly counters to.

  POST /hooks/listing-created      the webhook; dedupes on Idempotency-Key
  PUT  /dashboard/weeks/<week>     the dashboard; keeps the view with the highest revision
  POST /control/dashboard/down|up  takes the dashboard down (503) or brings it back
  GET  /report                     what happened, as JSON

Prints one line per call. `receiver.py --summary` prints a running receiver's report.
Standard library only.
"""

import argparse
import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"webhook_calls": 0, "listings_notified": [], "dashboard_up": True,
         "dashboard_refused": 0, "weeks": {}}


def say(line):
    with PRINT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


PRINT_LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def body(self):
        length = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def answer(self, status, payload=None):
        data = b"" if payload is None else json.dumps(payload, indent=2).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path == "/hooks/listing-created":
            note, key = self.body(), self.headers.get("idempotency-key", "")
            with LOCK:
                STATE["webhook_calls"] += 1
                repeat = key in STATE["listings_notified"]
                if not repeat:
                    STATE["listings_notified"].append(key)
            say(f"webhook    {'(repeat, ignored) ' if repeat else ''}to {note['seller']}: {note['text']}")
            return self.answer(200, {"accepted": not repeat})
        if self.path in ("/control/dashboard/down", "/control/dashboard/up"):
            up = self.path.endswith("/up")
            with LOCK:
                STATE["dashboard_up"] = up
            say(f"dashboard  is {'UP' if up else 'DOWN (answers 503)'}")
            return self.answer(204)
        self.answer(404)

    def do_PUT(self):
        prefix = "/dashboard/weeks/"
        if not self.path.startswith(prefix):
            return self.answer(404)
        week, view = self.path[len(prefix):], self.body()
        with LOCK:
            if not STATE["dashboard_up"]:
                STATE["dashboard_refused"] += 1
                say(f"dashboard  refused {week} (down)")
                return self.answer(503, {"error": "down for maintenance"})
            old = STATE["weeks"].get(week)
            newer = old is None or old["revision"] < view["revision"]
            if newer:
                STATE["weeks"][week] = view
        if newer:
            say(f"dashboard  {week}: {view['listings']} listings {view['listed_cents']}, "
                f"{view['price_reductions']} price drops {view['reduced_cents']} (revision {view['revision']})")
        self.answer(204)

    def do_GET(self):
        if self.path != "/report":
            return self.answer(404)
        with LOCK:
            self.answer(200, STATE)


def summary(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/report") as response:
        r = json.load(response)
    print(f"    webhook:   {r['webhook_calls']} calls for {len(r['listings_notified'])} listings")
    print(f"    dashboard: refused {r['dashboard_refused']} updates while it was down; it shows")
    for week, view in sorted(r["weeks"].items()):
        print(f"    {week}:  {view['listings']} listings {view['listed_cents']}, "
              f"{view['price_reductions']} price drops {view['reduced_cents']} (cents)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--summary", action="store_true", help="print a running receiver's report")
    args = parser.parse_args()
    if args.summary:
        return summary(args.port)
    port = args.port
    say(f"receiver   listening on http://127.0.0.1:{port}")
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
