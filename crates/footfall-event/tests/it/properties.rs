use footfall_event::{Message, MessageType, Stamp, ValidationError};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_\\-é☃ \"\\\\]{1,30}"
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[ -~é\\n\\t]{0,20}".prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn object() -> impl Strategy<Value = Value> {
    let leaf = scalar();
    let nested = leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    proptest::collection::btree_map("[a-zA-Z_]{1,10}", nested, 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

prop_compose! {
    fn valid_message()(
        kind in prop::sample::select(MessageType::ALL.to_vec()),
        user in proptest::option::of(id()),
        anon in id(),
        event in id(),
        properties in object(),
        traits in object(),
        context in proptest::option::of(object()),
        with_id in any::<bool>(),
        message_id in "[a-f0-9\\-]{1,100}",
        ts_secs in 1_500_000_000i64..2_000_000_000,
    ) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), kind.as_str().into());
        if let Some(user) = user { m.insert("userId".into(), user.into()); }
        m.insert("anonymousId".into(), anon.clone().into());
        m.insert("event".into(), event.into());
        m.insert("groupId".into(), "g".into());
        m.insert("previousId".into(), anon.into());
        m.insert("properties".into(), properties);
        m.insert("traits".into(), traits);
        if let Some(context) = context { m.insert("context".into(), context); }
        if with_id { m.insert("messageId".into(), message_id.into()); }
        let ts = chrono::DateTime::from_timestamp(ts_secs, 0).unwrap_or_default();
        m.insert("timestamp".into(), ts.to_rfc3339().into());
        Value::Object(m)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A valid message survives normalization with every member intact, and normalizing the
    /// normalized form changes nothing (so replays and re-ingestion are stable).
    #[test]
    fn normalization_keeps_members_and_is_idempotent(message in valid_message()) {
        let text = serde_json::to_string(&message).expect("json");
        let parsed = Message::parse(&text).expect("parse");
        let valid = parsed.validate(None).expect("valid");
        let stamp = Stamp { received_at: "2026-11-25T10:00:00.000Z", ip: Some("10.0.0.1"), ..Stamp::default() };
        let once = parsed.normalize(&valid, &stamp, || "gen".into());
        let out: Value = serde_json::from_slice(&once.json).expect("output is JSON");
        // Compare with the input as parsed from the same text (float parsing is not exact).
        let input: Value = serde_json::from_str(&text).expect("json");
        for (key, value) in input.as_object().expect("object") {
            if key == "context" {
                // The context keeps every member and gains the connection's ip if it had none.
                let mut expected = value.as_object().expect("object").clone();
                expected.entry("ip").or_insert_with(|| "10.0.0.1".into());
                prop_assert_eq!(&out[key], &Value::Object(expected));
            } else {
                prop_assert_eq!(&out[key], value, "member {} changed", key);
            }
        }
        prop_assert_eq!(once.key.as_str(), valid.person_key());
        let text2 = String::from_utf8(once.json.clone()).expect("utf8");
        let again = Message::parse(&text2).expect("parse");
        let valid2 = again.validate(None).expect("still valid");
        let twice = again.normalize(&valid2, &stamp, || "other".into());
        prop_assert_eq!(once, twice);
    }

    /// Removing the identity of any valid message makes it invalid for that reason.
    #[test]
    fn no_identity_is_always_refused(message in valid_message()) {
        let mut m = message.as_object().expect("object").clone();
        m.remove("userId");
        m.remove("anonymousId");
        let text = Value::Object(m).to_string();
        let result = Message::parse(&text).and_then(|p| p.validate(None).map(|_| ()));
        prop_assert_eq!(result, Err(ValidationError::MissingIdentity));
    }

    /// Any field of the wrong JSON type is refused and named.
    #[test]
    fn wrong_types_are_named(message in valid_message(), field in prop::sample::select(vec!["userId", "anonymousId", "event", "properties", "traits", "timestamp", "messageId"]), bad in prop_oneof![Just(json!([1])), Just(json!({"a":1})), Just(json!(true)), Just(json!(12))]) {
        let mut m = message.as_object().expect("object").clone();
        let is_id = field == "userId" || field == "anonymousId";
        let is_object_field = field == "properties" || field == "traits";
        if (is_id && bad.is_number()) || (is_object_field && bad.is_object()) {
            return Ok(()); // numbers are valid ids; objects are valid properties
        }
        m.insert(field.into(), bad);
        let text = Value::Object(m).to_string();
        match Message::parse(&text).and_then(|p| p.validate(None)) {
            Err(ValidationError::WrongType { field: f, .. }) => prop_assert_eq!(f, field),
            // Track needs `event`; an earlier rule may fire first for other types' fields.
            Err(other) => prop_assert!(false, "expected WrongType for {}, got {}", field, other),
            Ok(_) => prop_assert!(false, "{} of the wrong type was accepted", field),
        }
    }

    /// Arbitrary bytes never panic the parser; they parse or give a reason.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Message::parse(&text).and_then(|m| m.validate(None));
        let _ = footfall_event::BatchEnvelope::parse(&text);
    }
}
