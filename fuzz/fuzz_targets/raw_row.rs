//! The lake loader's row builder: any bytes as an event-log record, read as the values of a
//! `raw_events` row. A record is read or refused with a reason, never a panic, and a row's
//! event time is never after its receipt (plus the tolerance). Read again under an IP policy
//! (the address replaced, or dropped), the row is the same apart from its `ip`.
#![no_main]

use footfall_event::stored::StoredRow;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (i64, &[u8])| {
    let (record_time_ms, value) = input;
    let Ok(text) = std::str::from_utf8(value) else { return };
    if let Ok(row) = StoredRow::read(text, record_time_ms) {
        let tolerance = chrono::Duration::microseconds(footfall_event::time::FUTURE_TOLERANCE_MICROS);
        assert!(row.event_time <= row.received_at + tolerance, "{row:?}");
        assert!(row.ids[0].is_some() && row.ids[1].is_some());
        let policies: [fn(&str) -> Option<String>; 2] = [|_| None, |ip| Some(format!("{}.0", ip.len()))];
        for policy in policies {
            let masked = StoredRow::read_with_ip(text, record_time_ms, &policy).expect("read once, read again");
            assert_eq!((masked.ids, masked.event_time), (row.ids.clone(), row.event_time));
            assert_eq!(masked.objects[..2], row.objects[..2]);
            assert_eq!(masked.objects[2].is_some(), row.objects[2].is_some());
        }
    }
});
