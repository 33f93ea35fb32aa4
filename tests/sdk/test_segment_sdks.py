"""The official Segment SDKs (Python and Node) send to a real `footfall serve`; every call they
make must be in `footfall log dump` exactly once, with its fields intact."""

import json
import subprocess
import uuid
from pathlib import Path

from conftest import WRITE_KEY

HERE = Path(__file__).resolve().parent


def by_id(events):
    counts = {}
    for e in events:
        counts.setdefault(e["messageId"], []).append(e)
    return counts


PROPS = {"revenue": 42.5, "currency": "EUR", "products": [{"sku": "sku-1", "price": 19.99, "quantity": 2}],
         "note": "crème brûlée ✓ 🚀", "nested": {"deep": {"list": [1, 2, 3], "flag": True, "none": None}}}


def test_python_sdk_events_arrive_once_with_fields_intact(server):
    from segment.analytics.client import Client

    errors = []
    client = Client(write_key=WRITE_KEY, host=server.url, on_error=lambda e, batch: errors.append(e),
                    max_retries=2, upload_size=7, gzip=True)
    sent = []
    for i in range(20):
        mid = f"py-track-{i}-{uuid.uuid4()}"
        client.track(user_id=f"user-{i % 4}", event="Order Completed", properties={**PROPS, "i": i}, message_id=mid)
        sent.append(("track", mid, {"userId": f"user-{i % 4}", "event": "Order Completed", "properties": {**PROPS, "i": i}}))
    for i in range(5):
        mid = f"py-identify-{i}"
        traits = {"email": f"u{i}@example.com", "plan": "pro", "logins": i}
        client.identify(user_id=f"user-{i}", anonymous_id=f"anon-{i}", traits=traits, message_id=mid)
        sent.append(("identify", mid, {"userId": f"user-{i}", "anonymousId": f"anon-{i}", "traits": traits}))
    for i in range(5):
        mid = f"py-page-{i}"
        client.page(anonymous_id=f"anon-{i}", category="Shop", name="Product", properties={"path": f"/p/{i}"}, message_id=mid)
        sent.append(("page", mid, {"anonymousId": f"anon-{i}", "name": "Product", "category": "Shop", "properties": {"path": f"/p/{i}"}}))
    client.flush()
    client.join()
    assert errors == []

    stored = by_id(server.dump())
    for kind, mid, fields in sent:
        assert len(stored.get(mid, [])) == 1, f"{mid} stored {len(stored.get(mid, []))} times"
        event = stored[mid][0]
        assert event["type"] == kind
        for key, value in fields.items():
            assert event[key] == value, (mid, key)
        assert event["context"]["library"]["name"] == "analytics-python"
        assert event["timestamp"] and event["sentAt"] and event["receivedAt"]
        assert "writeKey" not in event
    assert len(stored) == len(sent), "nothing else was stored"
    assert server.dump(dead_letters=True) == []


def test_node_sdk_events_arrive_once_with_fields_intact(server, tmp_path):
    calls = []
    for i in range(12):
        calls.append({"method": "track", "args": {"userId": f"node-user-{i % 3}", "event": "Product Added",
                                                  "properties": {**PROPS, "i": i}, "messageId": f"node-track-{i}"}})
    for i in range(4):
        calls.append({"method": "identify", "args": {"userId": f"node-user-{i}", "traits": {"name": f"N {i}", "vip": i % 2 == 0},
                                                     "messageId": f"node-identify-{i}"}})
        calls.append({"method": "page", "args": {"anonymousId": f"node-anon-{i}", "name": "Home",
                                                 "properties": {"url": "https://shop.example/"}, "messageId": f"node-page-{i}"}})
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"host": server.url, "writeKey": WRITE_KEY, "calls": calls}))
    result = subprocess.run(["node", str(HERE / "send_node.mjs"), str(spec)], cwd=HERE, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

    stored = by_id(server.dump())
    for call in calls:
        args = call["args"]
        events = stored.get(args["messageId"], [])
        assert len(events) == 1, f"{args['messageId']} stored {len(events)} times"
        event = events[0]
        assert event["type"] == call["method"]
        for key, value in args.items():
            assert event[key] == value, (args["messageId"], key)
        assert event["context"]["library"]["name"] == "@segment/analytics-node"
        assert event["receivedAt"] and event["timestamp"]
    assert len(stored) == len(calls)
    assert server.dump(dead_letters=True) == []


def test_a_wrong_write_key_is_refused_and_nothing_is_stored(server):
    from segment.analytics.client import Client

    errors = []
    client = Client(write_key="not-the-key", host=server.url, on_error=lambda e, batch: errors.append(e), max_retries=0)
    client.track(user_id="intruder", event="Order Completed", message_id="should-not-land")
    client.flush()
    client.join()
    assert errors, "the SDK reports the refusal"
    assert "401" in str(errors[0]) or "invalid write key" in str(errors[0]), errors[0]
    assert server.dump() == []
    assert server.dump(dead_letters=True) == [], "unauthenticated payloads are not stored"
    assert server.stop() == 0
