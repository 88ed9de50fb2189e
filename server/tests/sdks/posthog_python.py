#!/usr/bin/env python3
"""Drive PostHog's unmodified Python SDK (posthog) against a Pulse gateway.

Run with the suite's venv:  PULSE_HOST=http://127.0.0.1:PORT PULSE_WRITE_KEY=KEY PULSE_RUN=TAG \
    $PULSE_SDKS_DIR/venv/bin/python posthog_python.py
Prints one JSON line {"sdk", "events": [...]} on stdout; exits non-zero if the SDK reported an error.

The SDK has no identify()/page() methods: identify is set() (a `$set` event carrying top-level
`$set`), the anonymous-to-identified link is alias() (`$create_alias`), a page is a `$pageview`
capture. Event uuids are set explicitly (uuid5 of "<sdk>-<run>-<n>") and checked against the uuid
capture()/set()/alias() return.
"""
import json
import os
import sys
import uuid

from posthog import Posthog

SDK = "posthog-python"
host, key, run = os.environ["PULSE_HOST"], os.environ["PULSE_WRITE_KEY"], os.environ["PULSE_RUN"]
user, anon = f"{SDK}-{run}-user", f"{SDK}-{run}-anon"
errors, events = [], []


def on_error(err, batch):
    errors.append(f"{err} ({len(batch)} events)")


def client(**kw):
    # V0 wire (POST /batch/), gzip off (SDK default); retries wait 1s, 2s, ... (2**attempt).
    return Posthog(key, host=host, on_error=on_error, max_retries=3, **kw)


def send(method, type_, who_user, who_anon, c, *args, **kw):
    want = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SDK}-{run}-{len(events)}"))
    got = getattr(c, method)(*args, uuid=want, **kw)
    if got != want:
        errors.append(f"{method} returned uuid {got!r}, expected {want}")
    events.append({"messageId": want, "type": type_, "userId": who_user, "anonymousId": who_anon})


a = client(flush_at=100, flush_interval=0.5)
send("capture", "track", None, anon, a, "Product Viewed", distinct_id=anon, properties={"sku": "SKU-1", "price": 19.99})
send("set", "identify", user, None, a, distinct_id=user, properties={"email": f"{SDK}-{run}@example.com"})
send("alias", "alias", user, anon, a, previous_id=anon, distinct_id=user)
send("capture", "track", user, None, a, "Product Added", distinct_id=user, properties={"sku": "SKU-1", "quantity": 1})
send("capture", "track", user, None, a, "Order Completed", distinct_id=user, properties={"order_id": f"{run}-o1", "total": 19.99})
send("capture", "page", user, None, a, "$pageview", distinct_id=user, properties={"$current_url": "https://shop.example/checkout"})
a.shutdown()

# The 20-event batch: a fresh client whose batch closes at exactly flush_at=20 events.
b = client(flush_at=20, flush_interval=10)
for i in range(20):
    send("capture", "track", user, None, b, "Batch Item", distinct_id=user, properties={"i": i})
b.shutdown()

if errors:
    print(f"{SDK}: " + "; ".join(errors), file=sys.stderr)
print(json.dumps({"sdk": SDK, "events": events}))
sys.exit(1 if errors else 0)
