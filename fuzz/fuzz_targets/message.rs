//! One message as a single-call endpoint receives it: parse, validate, normalize. Whatever is
//! accepted must be readable by every reader of the log (the processor's input parse, which
//! the lake loader shares), with its event time within the bounds.
#![no_main]

use footfall_event::{Message, Stamp};
use footfall_processor::InputEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(message) = Message::parse(text) else { return };
    let _ = message.to_compact_json();
    let _ = message.context_json();
    let Ok(valid) = message.validate(Some(footfall_event::MessageType::Track)) else { return };
    let received = "2026-12-02T10:00:00.000Z";
    let stamp = Stamp { received_at: received, ip: Some("127.0.0.1"), ..Stamp::default() };
    let Ok(normalized) = message.normalize_within_limits(&valid, &stamp, || "ff-fuzz".into()) else { return };
    let stored = std::str::from_utf8(&normalized.json).expect("the stored form is UTF-8");
    let input = InputEvent::parse(stored).unwrap_or_else(|e| panic!("accepted but unreadable: {e}\n{stored}"));
    let received_us = footfall_event::parse_timestamp(received).expect("receipt").timestamp_micros();
    assert!(input.event_time <= received_us + footfall_event::time::FUTURE_TOLERANCE_MICROS);
    assert!(input.event_time >= footfall_event::time::EARLIEST_EVENT_TIME_MICROS);
});
