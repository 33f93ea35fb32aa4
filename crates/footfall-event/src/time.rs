//! Timestamps on the wire (ISO-8601) and event time: when the event happened, by the client's
//! clock corrected for its skew against the server's, as Segment computes it.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// Parses an ISO-8601 timestamp as SDKs send it: RFC 3339 (`2026-11-25T10:00:00.123Z`,
/// `…+01:00`), an offset without a colon (`+0100`), or no offset at all, read as UTC.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc())
}

/// Formats a time as Segment does: RFC 3339 in UTC with milliseconds and a `Z`.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Event time of a message.
///
/// The client's time of the call is `originalTimestamp`, else `timestamp`. When the message also
/// says when it was sent (`sentAt`), the client's clock is corrected by how far it was off when
/// sending: `receivedAt − (sentAt − client time)` (Segment's formula). The result is never later
/// than `receivedAt`: an event cannot be received before it happened. Without a client time the
/// event time is `receivedAt`. `correct_skew = false` (historical imports) keeps the client time.
pub fn event_time(
    client_time: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    correct_skew: bool,
) -> DateTime<Utc> {
    match (client_time, sent_at) {
        (Some(client), Some(sent)) if correct_skew => (received_at - (sent - client)).min(received_at),
        (Some(client), _) => client,
        (None, _) => received_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_timestamp(s).expect("test timestamp")
    }

    #[test]
    fn parses_the_forms_sdks_send() {
        let z = t("2026-11-25T10:00:00.000Z");
        assert_eq!(t("2026-11-25T11:00:00+01:00"), z);
        assert_eq!(t("2026-11-25T11:00:00.000000+0100"), z);
        assert_eq!(t("2026-11-25T10:00:00"), z);
        assert_eq!(format_timestamp(z), "2026-11-25T10:00:00.000Z");
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "1732530000000", "2026-11-25"] {
            assert!(parse_timestamp(bad).is_none(), "{bad} should not parse");
        }
    }

    #[test]
    fn corrects_a_client_clock_that_runs_an_hour_fast() {
        // The device's clock is one hour ahead; the event happened 5 s before the batch was sent.
        let client = t("2026-11-25T11:00:00Z");
        let sent = t("2026-11-25T11:00:05Z");
        let received = t("2026-11-25T10:00:06Z");
        assert_eq!(event_time(Some(client), Some(sent), received, true), t("2026-11-25T10:00:01Z"));
        assert_eq!(event_time(Some(client), Some(sent), received, false), client);
        assert_eq!(event_time(Some(client), None, received, true), client);
        assert_eq!(event_time(None, Some(sent), received, true), received);
    }

    #[test]
    fn event_time_is_never_after_receipt() {
        let received = t("2026-11-25T10:00:00Z");
        // sentAt before the event itself: nonsense from the client, clamped.
        let e = event_time(Some(t("2026-11-25T10:00:10Z")), Some(t("2026-11-25T10:00:00Z")), received, true);
        assert_eq!(e, received);
    }
}
