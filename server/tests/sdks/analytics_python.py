#!/usr/bin/env python3
"""Drive Segment's unmodified Python SDK (segment-analytics-python) or RudderStack's
(rudder-sdk-python, a fork of Segment's with the same Client API) against a Pulse gateway.

Run with the suite's venv:  PULSE_HOST=http://127.0.0.1:PORT PULSE_WRITE_KEY=KEY PULSE_RUN=TAG \
    $PULSE_SDKS_DIR/venv/bin/python analytics_python.py segment|rudder
Prints one JSON line {"sdk", "events": [...]} on stdout; exits non-zero if the SDK reported an error.
"""
import json
import os
import sys

if sys.argv[1:] == ["segment"]:
    from segment.analytics import Client
elif sys.argv[1:] == ["rudder"]:
    from rudderstack.analytics import Client
else:
    sys.exit("usage: analytics_python.py segment|rudder")

SDK = f"{sys.argv[1]}-python"
host, key, run = os.environ["PULSE_HOST"], os.environ["PULSE_WRITE_KEY"], os.environ["PULSE_RUN"]
user, anon = f"{SDK}-{run}-user", f"{SDK}-{run}-anon"
errors, events = [], []


def on_error(err, batch):
    errors.append(f"{err} ({len(batch)} events)")


def client(**kw):
    # gzip stays at each SDK's default (Segment: off; RudderStack: on). Retries: Segment's first
    # is immediate, then 0.5 s, 1 s, ...; RudderStack's use backoff.expo with full jitter (< 1 s).
    return Client(key, host=host, on_error=on_error, max_retries=3, **kw)


def mid():
    return f"{SDK}-{run}-{len(events):02d}"


def send(c, method, type_, who_user, who_anon, **kw):
    m = mid()
    ok, msg = getattr(c, method)(message_id=m, **kw)
    if not ok or msg["messageId"] != m:
        errors.append(f"{method} was not queued: {msg}")
    events.append({"messageId": msg["messageId"], "type": type_, "userId": who_user, "anonymousId": who_anon})


a = client()
send(a, "track", "track", None, anon, anonymous_id=anon, event="Product Viewed", properties={"sku": "SKU-1", "price": 19.99})
send(a, "identify", "identify", user, anon, user_id=user, anonymous_id=anon, traits={"email": f"{SDK}-{run}@example.com"})
send(a, "alias", "alias", user, anon, previous_id=anon, user_id=user)
send(a, "track", "track", user, None, user_id=user, event="Product Added", properties={"sku": "SKU-1", "quantity": 1})
send(a, "track", "track", user, None, user_id=user, event="Order Completed", properties={"order_id": f"{run}-o1", "total": 19.99})
send(a, "page", "page", user, None, user_id=user, name="Checkout", properties={"url": "https://shop.example/checkout"})
a.flush()
a.join()

# The 20-event batch: a fresh client whose batch closes at exactly 20 events (upload_size), with a
# long upload_interval so the 20 calls below cannot be split by the interval timer.
b = client(upload_size=20, upload_interval=2)
for i in range(20):
    send(b, "track", "track", user, None, user_id=user, event="Batch Item", properties={"i": i})
b.flush()
b.join()

if errors:
    print(f"{SDK}: " + "; ".join(errors), file=sys.stderr)
print(json.dumps({"sdk": SDK, "events": events}))
sys.exit(1 if errors else 0)
