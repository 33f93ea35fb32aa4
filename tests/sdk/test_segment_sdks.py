"""The official Segment SDKs (segment-analytics-python, @segment/analytics-node) send to a real
`footfall serve` (the `server` fixture of tests/conftest.py). Every call they make must be in
`footfall log dump` exactly once, matched by messageId (the SDK's own or one given to it), with
its fields as sent; a wrong write key is refused (401) and nothing is stored."""

import copy
import json
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import WRITE_KEY

HERE = Path(__file__).resolve().parent

# Properties that must come back exactly: nested objects and arrays, integers, floats, negative
# and tiny numbers, booleans, null, empty containers, unicode in keys and values, escapes.
PROPS = {
    "revenue": 42.5,
    "currency": "EUR",
    "products": [{"sku": "sku-1", "price": 19.99, "quantity": 2}, {"sku": "sku-2", "price": 0.1, "quantity": 1}],
    "note": "crème brûlée ✓ 🚀 日本語",
    "clé ünïcode": "välue",
    "escapes": 'line\nbreak "quoted" back\\slash \t tab </script>',
    "nested": {"deep": {"list": [1, 2, 3], "flag": True, "none": None, "empty": {}, "nothing": []}},
    "numbers": {"neg": -7, "tiny": 1e-07, "huge": 1.5e300, "zero": 0, "float_int": 3.0},
}
# Only Python and JSON keep integers past 2**53 exact; JavaScript numbers would round this one.
PY_PROPS = {**PROPS, "big_int": 2**53 + 1}


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stored_by_id(events):
    out = {}
    for e in events:
        out.setdefault(e.get("messageId"), []).append(e)
    return out


def check_stored(stored, message_id, kind, fields, library, timestamp=None):
    """The message `message_id` is stored exactly once with `fields` as given, its client
    `timestamp` (the time given, else about now), and what the collector adds: receivedAt and
    context.ip; returns it."""
    found = stored.get(message_id, [])
    assert len(found) == 1, f"{message_id} stored {len(found)} times"
    event = found[0]
    assert event["type"] == kind, message_id
    for key, value in fields.items():
        assert event.get(key) == value, (message_id, key, event.get(key), value)
    assert event["context"]["library"]["name"] == library
    assert event["context"].get("ip"), "the collector adds context.ip when the client sent none"
    assert "writeKey" not in event
    received = parse_time(event["receivedAt"])
    if timestamp is None:
        assert abs(parse_time(event["timestamp"]) - received) < timedelta(minutes=5), event["timestamp"]
    else:
        assert parse_time(event["timestamp"]) == timestamp, (message_id, event["timestamp"])
    assert parse_time(event["sentAt"]) <= received + timedelta(seconds=5)
    return event


# ---------------------------------------------------------------------------- Python SDK


@pytest.fixture
def analytics():
    """The module-level `segment.analytics` API, with its settings restored and its default
    client shut down afterwards (so that each test configures it afresh)."""
    from segment import analytics as module

    names = ["write_key", "host", "on_error", "max_retries", "gzip", "sync_mode", "send", "debug"]
    saved = {name: getattr(module, name) for name in names}
    module.default_client = None
    yield module
    if module.default_client is not None:
        module.shutdown()
    module.default_client = None
    for name, value in saved.items():
        setattr(module, name, value)


def test_python_sdk_calls_arrive_once_with_fields_intact(server, analytics):
    errors = []
    analytics.write_key = WRITE_KEY
    analytics.host = server.url
    analytics.on_error = lambda error, batch: errors.append(error)
    analytics.max_retries = 1

    sent = []  # (messageId, type, fields the call was given, the message the SDK built)

    def call(kind, fields, **kwargs):
        ok, msg = getattr(analytics, kind)(**kwargs)
        assert ok, msg
        sent.append((msg["messageId"], kind, fields, copy.deepcopy(msg), kwargs.get("timestamp")))

    fixed_time = datetime(2026, 11, 20, 9, 30, 15, 250000, tzinfo=timezone.utc)
    for i in range(24):
        props = {**PY_PROPS, "i": i}
        user, anon = (f"py-user-{i % 4}", None) if i % 3 else (None, f"py-anon-{i % 5}")
        kwargs = {"user_id": user, "anonymous_id": anon, "event": "Order Completed" if i % 2 else "Product Viewed",
                  "properties": props}
        if i % 2:  # half with a messageId of our own, half with the one the SDK generates
            kwargs["message_id"] = f"py-track-{i}-{uuid.uuid4()}"
        fields = {"event": kwargs["event"], "properties": props, "userId": user, "anonymousId": anon}
        if i % 6 == 1:
            kwargs["timestamp"] = fixed_time
        if i == 5:
            kwargs["context"] = {"ip": "203.0.113.9", "locale": "fr-FR", "page": {"path": "/checkout"}}
        call("track", fields, **kwargs)
    for i in range(5):
        traits = {"email": f"u{i}@example.com", "name": f"Zoë {i}", "plan": "pro", "logins": i,
                  "address": {"city": "München", "geo": [48.137, 11.575]}}
        call("identify", {"userId": f"py-user-{i}", "anonymousId": f"py-anon-{i}", "traits": traits},
             user_id=f"py-user-{i}", anonymous_id=f"py-anon-{i}", traits=traits)
    for i in range(5):
        props = {"path": f"/p/{i}", "title": "Produkt – Übersicht", "referrer": None}
        call("page", {"anonymousId": f"py-anon-{i}", "name": "Product", "category": "Shop", "properties": props},
             anonymous_id=f"py-anon-{i}", category="Shop", name="Product", properties=props,
             message_id=f"py-page-{i}" if i % 2 else None)
    call("screen", {"userId": "py-user-1", "name": "Settings", "properties": {"tab": "privacy"}},
         user_id="py-user-1", name="Settings", properties={"tab": "privacy"})
    call("group", {"userId": "py-user-1", "groupId": "org-42", "traits": {"name": "Acme", "seats": 12}},
         user_id="py-user-1", group_id="org-42", traits={"name": "Acme", "seats": 12})
    call("alias", {"userId": "py-user-2", "previousId": "py-anon-2"}, previous_id="py-anon-2", user_id="py-user-2")
    analytics.shutdown()  # flush, then stop the consumer
    assert errors == []

    dump = server.dump()
    stored = stored_by_id(dump)
    assert len({mid for mid, *_ in sent}) == len(sent), "the SDK's messageIds are unique"
    for mid, kind, fields, msg, timestamp in sent:
        event = check_stored(stored, mid, kind, fields, "analytics-python", timestamp)
        # Everything the SDK put in the message is stored as it was sent.
        for key, value in msg.items():
            if key == "context":
                assert {k: v for k, v in event["context"].items() if k != "ip" or "ip" in value} == value, mid
            elif key == "timestamp":
                assert parse_time(event[key]) == parse_time(value), mid
            else:
                assert event.get(key) == value, (mid, key)
        assert set(event) - set(msg) <= {"receivedAt", "sentAt"}, (mid, set(event) - set(msg))
    assert len(dump) == len(sent), "nothing else was stored"

    assert sum(1 for *_, timestamp in sent if timestamp) == 4
    custom = [e for e in dump if e["type"] == "track" and e["properties"]["i"] == 5][0]
    assert custom["context"]["ip"] == "203.0.113.9", "a client's context.ip is kept"
    assert custom["context"]["locale"] == "fr-FR"
    others = [e for e in dump if e["context"].get("locale") != "fr-FR"]
    assert {e["context"]["ip"] for e in others} == {"127.0.0.1"}, "context.ip is the peer's address"
    # One consumer thread sends the batches one after another: the log keeps the calls' order.
    assert [e["messageId"] for e in dump] == [mid for mid, *_ in sent]
    assert server.dump(dead_letters=True) == []


def test_python_sdk_gzip_and_many_small_batches(server):
    from segment.analytics.client import Client

    errors = []
    client = Client(write_key=WRITE_KEY, host=server.url, on_error=lambda e, batch: errors.append(e),
                    max_retries=1, upload_size=7, gzip=True)
    sent = {}
    for i in range(40):
        props = {**PY_PROPS, "i": i}
        ok, msg = client.track(user_id=f"gz-user-{i % 3}", event="Signed Up", properties=props)
        assert ok
        sent[msg["messageId"]] = props
    client.shutdown()
    assert errors == []

    dump = server.dump()
    stored = stored_by_id(dump)
    for mid, props in sent.items():
        check_stored(stored, mid, "track", {"event": "Signed Up", "properties": props}, "analytics-python")
    assert len(dump) == len(sent)
    assert server.dump(dead_letters=True) == []


def test_python_sdk_with_a_wrong_write_key_is_refused_and_nothing_is_stored(server):
    from segment.analytics.client import Client

    errors = []
    client = Client(write_key="not-the-key", host=server.url, on_error=lambda e, batch: errors.append((e, batch)),
                    max_retries=0)
    ok, msg = client.track(user_id="intruder", event="Order Completed", properties={"x": 1})
    assert ok
    client.shutdown()
    assert len(errors) == 1, errors
    error, batch = errors[0]
    assert getattr(error, "status", None) == 401 or "401" in str(error), error
    assert [m["messageId"] for m in batch] == [msg["messageId"]]
    assert server.dump() == []
    assert server.dump(dead_letters=True) == [], "unauthenticated payloads are not stored"
    assert server.stop() == 0


# ---------------------------------------------------------------------------- Node SDK


def send_node(server, write_key, calls):
    result = subprocess.run(["node", str(HERE / "send_node.mjs"), server.url, write_key, json.dumps(calls)],
                            cwd=HERE, capture_output=True, text=True, timeout=60)
    ids = json.loads(result.stdout.strip().splitlines()[-1])["messageIds"] if result.stdout.strip() else None
    return result, ids


def test_node_sdk_calls_arrive_once_with_fields_intact(server):
    calls = []  # (method, args, fields expected in the stored message)
    for i in range(13):
        user, anon = (f"node-user-{i % 3}", None) if i % 4 else (None, f"node-anon-{i}")
        args = {"event": "Product Added", "properties": {**PROPS, "i": i}}
        args.update({"userId": user} if user else {"anonymousId": anon})
        if i % 2:
            args["messageId"] = f"node-track-{i}-{uuid.uuid4()}"
        if i == 3:
            args["timestamp"] = "2026-11-20T09:30:15.250Z"
            args["context"] = {"ip": "198.51.100.7", "locale": "de-DE"}
        calls.append(("track", args, {k: v for k, v in args.items() if k not in ("messageId", "context", "timestamp")}))
    for i in range(4):
        traits = {"name": f"Nöde {i}", "vip": i % 2 == 0, "score": i * 1.5, "tags": ["a", "ß"]}
        args = {"userId": f"node-user-{i}", "anonymousId": f"node-anon-{i}", "traits": traits}
        calls.append(("identify", args, args))
        page = {"anonymousId": f"node-anon-{i}", "name": "Home", "properties": {"url": "https://shop.example/", "i": i}}
        calls.append(("page", page, page))
    screen = {"userId": "node-user-1", "name": "Cart", "properties": {"items": 3}}
    group = {"userId": "node-user-1", "groupId": "org-7", "traits": {"name": "Initech", "employees": 250}}
    alias = {"userId": "node-user-2", "previousId": "node-anon-2"}
    calls += [("screen", screen, screen), ("group", group, group), ("alias", alias, alias)]

    result, ids = send_node(server, WRITE_KEY, [{"method": m, "args": a} for m, a, _ in calls])
    assert result.returncode == 0, result.stderr
    assert ids and len(ids) == len(calls) and len(set(ids)) == len(ids), result.stdout
    for (method, args, _), mid in zip(calls, ids):
        assert mid == args.get("messageId", mid), "a given messageId is the one sent"

    dump = server.dump()
    stored = stored_by_id(dump)
    for (method, args, fields), mid in zip(calls, ids):
        timestamp = parse_time(args["timestamp"]) if "timestamp" in args else None
        event = check_stored(stored, mid, method, fields, "@segment/analytics-node", timestamp)
        if args.get("context"):
            assert event["context"]["ip"] == "198.51.100.7" and event["context"]["locale"] == "de-DE"
        else:
            assert event["context"]["ip"] == "127.0.0.1"
    assert len(dump) == len(calls), "nothing else was stored"
    assert server.dump(dead_letters=True) == []


def test_node_sdk_with_a_wrong_write_key_fails_and_nothing_is_stored(server):
    calls = [{"method": "track", "args": {"userId": "intruder", "event": "Order Completed"}},
             {"method": "identify", "args": {"userId": "intruder", "traits": {"x": 1}}}]
    result, ids = send_node(server, "not-the-key", calls)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "401" in result.stderr, result.stderr
    assert ids and len(ids) == 2
    assert server.dump() == []
    assert server.dump(dead_letters=True) == []
