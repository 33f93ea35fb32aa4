use footfall_event::json::RawObject;
use footfall_event::{event_time, parse_timestamp, Message, MessageType, Stamp};
use serde_json::{json, Value};

fn normalize(text: &str, endpoint: Option<MessageType>, stamp: Stamp<'_>) -> Value {
    let message = Message::parse(text).expect("parse");
    let valid = message.validate(endpoint).expect("valid");
    let normalized = message.normalize(&valid, &stamp, || "generated-id".into());
    serde_json::from_slice(&normalized.json).expect("normalized output is JSON")
}

const RECEIVED: &str = "2026-11-25T10:00:06.000Z";

#[test]
fn keeps_every_member_and_stamps_the_server_fields() {
    let text = r#"{"userId":"u1","event":"Order Completed","writeKey":"secret","receivedAt":"1999-01-01T00:00:00Z",
        "properties":{"revenue":12.5,"products":[{"id":"p","price":1e2}],"name":"caf\u00e9"},
        "context":{"ip":"198.51.100.7","library":{"name":"analytics-python"}},"_metadata":{"x":1},
        "timestamp":"2026-11-25T11:00:00Z","sentAt":"2026-11-25T11:00:05Z"}"#;
    let out = normalize(
        text,
        Some(MessageType::Track),
        Stamp { received_at: RECEIVED, ip: Some("10.0.0.1"), ..Stamp::default() },
    );
    let input: Value = serde_json::from_str(text).expect("json");
    assert_eq!(out["properties"], input["properties"]);
    assert_eq!(out["_metadata"], json!({"x":1}), "unknown members pass through");
    assert_eq!(out["context"]["ip"], "198.51.100.7", "the client's ip is kept");
    assert_eq!(out["type"], "track");
    assert_eq!(out["messageId"], "generated-id");
    assert_eq!(out["receivedAt"], RECEIVED, "the client cannot set receivedAt");
    assert!(out.get("writeKey").is_none(), "the secret is not stored");
}

#[test]
fn merges_the_batch_context_under_the_message_context_and_adds_the_ip() {
    let batch_context: RawObject<'_> =
        serde_json::from_str(r#"{"library":{"name":"batch-lib"},"locale":"de-DE"}"#).expect("object");
    let stamp =
        Stamp { received_at: RECEIVED, ip: Some("10.0.0.1"), context: Some(&batch_context), ..Stamp::default() };
    let out = normalize(r#"{"type":"page","anonymousId":"a","context":{"locale":"fr-FR"}}"#, None, stamp);
    assert_eq!(out["context"], json!({"ip":"10.0.0.1","library":{"name":"batch-lib"},"locale":"fr-FR"}));
    let out = normalize(r#"{"type":"page","anonymousId":"a"}"#, None, stamp);
    assert_eq!(out["context"], json!({"ip":"10.0.0.1","library":{"name":"batch-lib"},"locale":"de-DE"}));
}

#[test]
fn event_time_of_a_normalized_message_corrects_skew() {
    let text = r#"{"type":"track","userId":"u","event":"e","timestamp":"2026-11-25T11:00:00Z","sentAt":"2026-11-25T11:00:05Z"}"#;
    let message = Message::parse(text).expect("parse");
    let valid = message.validate(None).expect("valid");
    let received = parse_timestamp(RECEIVED).expect("time");
    let t = event_time(valid.client_time, valid.sent_at, received, true);
    assert_eq!(t, parse_timestamp("2026-11-25T10:00:01Z").expect("time"));
}

#[test]
fn adds_the_connection_ip_to_any_shape_of_context_without_one() {
    let stamp = Stamp { received_at: RECEIVED, ip: Some("10.0.0.1"), ..Stamp::default() };
    for (context, expected) in [
        ("{}", json!({"ip":"10.0.0.1"})),
        ("{ }", json!({"ip":"10.0.0.1"})),
        (r#"{ "locale" : "en" }"#, json!({"ip":"10.0.0.1","locale":"en"})),
        (r#"{"device":{"ip":"nested"}}"#, json!({"ip":"10.0.0.1","device":{"ip":"nested"}})),
        (r#"{"ip":"1.2.3.4","x":1}"#, json!({"ip":"1.2.3.4","x":1})),
        ("null", json!({"ip":"10.0.0.1"})),
    ] {
        let text = format!(r#"{{"type":"page","userId":"u","context":{context}}}"#);
        assert_eq!(normalize(&text, None, stamp)["context"], expected, "{context}");
    }
}

#[test]
fn a_stored_message_carries_what_downstream_needs_for_event_time() {
    // What the processor will do: read the stored form back and compute event time from it.
    let text = r#"{"type":"track","userId":"u","event":"e","timestamp":"2026-11-25T11:00:00Z"}"#;
    let sent_at: Box<serde_json::value::RawValue> =
        serde_json::value::RawValue::from_string("\"2026-11-25T11:00:05Z\"".into()).expect("raw");
    let stamp = Stamp { received_at: RECEIVED, sent_at: Some(&sent_at), ..Stamp::default() };
    let message = Message::parse(text).expect("parse");
    let stored = message.normalize(&message.validate(None).expect("valid"), &stamp, || "id".into());
    let stored_text = String::from_utf8(stored.json).expect("utf8");
    let again = Message::parse(&stored_text).expect("parse stored");
    let valid = again.validate(None).expect("stored form is valid");
    let received = again.received_at().expect("receivedAt");
    assert_eq!(received, parse_timestamp(RECEIVED).expect("time"));
    assert_eq!(valid.event_time(received, true), parse_timestamp("2026-11-25T10:00:01Z").expect("time"));
}
