//! Event time on any timestamps: the wire parser on any text, the skew correction on any µs
//! values. Never a panic, and the result within its bounds.
#![no_main]

use footfall_event::time::{event_time_micros, parse_timestamp, EARLIEST_EVENT_TIME_MICROS, FUTURE_TOLERANCE_MICROS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (i64, i64, i64, bool, bool, &str)| {
    let (client, sent, received, has_sent, correct_skew, text) = input;
    let sent = has_sent.then_some(sent);
    let t = event_time_micros(Some(client), sent, received, correct_skew);
    assert!(t == received || (EARLIEST_EVENT_TIME_MICROS..=received.saturating_add(FUTURE_TOLERANCE_MICROS)).contains(&t));
    if let Some(parsed) = parse_timestamp(text) {
        let micros = parsed.timestamp_micros();
        let t = event_time_micros(Some(micros), sent, received, correct_skew);
        assert!(t == received || t <= received.saturating_add(FUTURE_TOLERANCE_MICROS));
        let _ = footfall_event::format_timestamp(parsed);
    }
});
