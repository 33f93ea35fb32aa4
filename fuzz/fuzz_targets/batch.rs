//! A `/v1/batch` body: the envelope and each message, with the batch's `sentAt` and `context`
//! merged into every accepted message's stored form, which must stay readable.
#![no_main]

use footfall_event::{BatchEnvelope, BatchMessage, Message, Stamp};
use footfall_processor::InputEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(envelope) = BatchEnvelope::parse(text) else { return };
    let stamp = Stamp {
        received_at: "2026-12-02T10:00:00.000Z",
        sent_at: envelope.sent_at,
        context: envelope.context.as_ref(),
        ip: Some("::1"),
    };
    for item in &envelope.messages {
        let reparsed;
        let message = match item {
            BatchMessage::Parsed(message) => message,
            BatchMessage::Raw(raw) => match Message::parse(raw.get()) {
                Ok(message) => {
                    reparsed = message;
                    &reparsed
                }
                Err(_) => continue,
            },
        };
        let _ = message.compact_len();
        let Ok(valid) = message.validate(None) else { continue };
        let Ok(normalized) = message.normalize_within_limits(&valid, &stamp, || "ff-fuzz".into()) else { continue };
        let stored = std::str::from_utf8(&normalized.json).expect("the stored form is UTF-8");
        if let Err(e) = InputEvent::parse(stored) {
            panic!("accepted but unreadable: {e}\n{stored}");
        }
    }
});
