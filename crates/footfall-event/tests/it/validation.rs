use footfall_event::{Message, MessageType, ValidationError};

fn check(text: &str, endpoint: Option<MessageType>) -> Result<MessageType, ValidationError> {
    Message::parse(text).and_then(|m| m.validate(endpoint)).map(|v| v.kind)
}

#[test]
fn each_type_accepts_its_minimal_message() {
    let cases = [
        (r#"{"type":"track","userId":"u","event":"Order Completed"}"#, MessageType::Track),
        (r#"{"type":"identify","anonymousId":"a"}"#, MessageType::Identify),
        (r#"{"type":"page","userId":"u"}"#, MessageType::Page),
        (r#"{"type":"screen","userId":"u","name":"Home"}"#, MessageType::Screen),
        (r#"{"type":"group","userId":"u","groupId":"g"}"#, MessageType::Group),
        (r#"{"type":"alias","userId":"u","previousId":"a"}"#, MessageType::Alias),
        (r#"{"type":"identify","userId":12345}"#, MessageType::Identify),
    ];
    for (text, kind) in cases {
        assert_eq!(check(text, None), Ok(kind), "{text}");
    }
}

#[test]
fn each_rule_gives_its_precise_reason() {
    use ValidationError::*;
    let cases: Vec<(&str, Option<MessageType>, ValidationError)> = vec![
        (r#"{"type":"track","userId":"u"}"#, None, MissingField { message_type: "track", field: "event" }),
        (r#"{"type":"track","userId":"u","event":""}"#, None, MissingField { message_type: "track", field: "event" }),
        (r#"{"type":"group","userId":"u"}"#, None, MissingField { message_type: "group", field: "groupId" }),
        (r#"{"type":"alias","userId":"u"}"#, None, MissingField { message_type: "alias", field: "previousId" }),
        (r#"{"type":"track","event":"e"}"#, None, MissingIdentity),
        (r#"{"type":"track","event":"e","userId":"","anonymousId":null}"#, None, MissingIdentity),
        (r#"{"event":"e","userId":"u"}"#, None, MissingType),
        (r#"{"type":"purchase","userId":"u"}"#, None, UnknownType("purchase".into())),
        (r#"{"type":7,"userId":"u"}"#, None, WrongType { field: "type", expected: "a string", found: "number" }),
        (
            r#"{"userId":{"id":1},"event":"e"}"#,
            Some(MessageType::Track),
            WrongType { field: "userId", expected: "a string or number", found: "object" },
        ),
        (
            r#"{"userId":"u","event":["e"]}"#,
            Some(MessageType::Track),
            WrongType { field: "event", expected: "a string", found: "array" },
        ),
        (
            r#"{"userId":"u","event":"e","properties":"x"}"#,
            Some(MessageType::Track),
            WrongType { field: "properties", expected: "an object", found: "string" },
        ),
        (
            r#"{"userId":"u","traits":[1]}"#,
            Some(MessageType::Identify),
            WrongType { field: "traits", expected: "an object", found: "array" },
        ),
        (
            r#"{"userId":"u","context":true}"#,
            Some(MessageType::Page),
            WrongType { field: "context", expected: "an object", found: "boolean" },
        ),
        (
            r#"{"userId":"u","timestamp":"yesterday"}"#,
            Some(MessageType::Page),
            BadTimestamp { field: "timestamp", value: "yesterday".into() },
        ),
        (
            r#"{"userId":"u","sentAt":1732530000000}"#,
            Some(MessageType::Page),
            WrongType { field: "sentAt", expected: "an ISO-8601 string", found: "number" },
        ),
        (
            r#"{"userId":"u","originalTimestamp":"2026-02-30T00:00:00Z"}"#,
            Some(MessageType::Page),
            BadTimestamp { field: "originalTimestamp", value: "2026-02-30T00:00:00Z".into() },
        ),
        ("[1,2,3]", None, NotAnObject("array")),
        ("\"track\"", None, NotAnObject("string")),
    ];
    for (text, endpoint, expected) in cases {
        assert_eq!(check(text, endpoint), Err(expected), "{text}");
    }
    let long_id = format!(r#"{{"type":"page","userId":"u","messageId":"{}"}}"#, "m".repeat(101));
    assert_eq!(check(&long_id, None), Err(MessageIdTooLong(101)));
    let ok_id = format!(r#"{{"type":"page","userId":"u","messageId":"{}"}}"#, "é".repeat(100));
    assert!(check(&ok_id, None).is_ok(), "the limit counts characters, not bytes");
    let big = format!(r#"{{"type":"page","userId":"u","properties":{{"x":"{}"}}}}"#, "y".repeat(33_000));
    assert!(matches!(check(&big, None), Err(MessageTooLarge(n)) if n > 32_768));
    assert!(matches!(check(r#"{"type":"page","userId":"u""#, None), Err(InvalidJson(_))));
}

#[test]
fn the_endpoint_decides_the_type_of_single_calls() {
    assert_eq!(check(r#"{"userId":"u","event":"e"}"#, Some(MessageType::Track)), Ok(MessageType::Track));
    // A single call's body may say another type; the endpoint wins, as with Segment.
    assert_eq!(
        check(r#"{"type":"identify","userId":"u","event":"e"}"#, Some(MessageType::Track)),
        Ok(MessageType::Track)
    );
}

#[test]
fn reasons_read_well() {
    let e = check(r#"{"type":"track","userId":"u"}"#, None).expect_err("invalid");
    assert_eq!(e.to_string(), "track message requires `event`");
    let e = check(r#"{"userId":{"id":1},"event":"e"}"#, Some(MessageType::Track)).expect_err("invalid");
    assert_eq!(e.to_string(), "`userId` must be a string or number, got object");
}
