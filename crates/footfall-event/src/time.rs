//! Timestamps on the wire (ISO-8601) and event time: when the event happened, by the client's
//! clock corrected for its skew against the server's, as Segment computes it.
//!
//! Everything here is total: no timestamp a client can send makes the arithmetic overflow. Wire
//! timestamps are limited to four-digit years (RFC 3339's range), and event time is kept
//! between [`EARLIEST_EVENT_TIME_MICROS`] and receipt plus [`FUTURE_TOLERANCE_MICROS`]; outside
//! that range the client's clock is not believed and receipt time is used instead (the client's
//! values stay in the stored message as sent).

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, Utc};

/// How far past its receipt an event time may lie (a device clock slightly fast, or a server
/// SDK that sends no `sentAt`): 60 seconds, in µs. Later claims are replaced by receipt time, so
/// one client cannot date events into the future and move everyone's watermark.
pub const FUTURE_TOLERANCE_MICROS: i64 = 60_000_000;

/// The earliest event time believed: 1970-01-01T00:00:00Z (a device whose clock reset to the
/// epoch and sent no `sentAt` lands here at worst). Earlier claims are replaced by receipt time.
pub const EARLIEST_EVENT_TIME_MICROS: i64 = 0;

/// Parses an ISO-8601 timestamp as SDKs send it: RFC 3339 (`2026-11-25T10:00:00.123Z`,
/// `…+01:00`), an offset without a colon (`+0100`), or no offset at all, read as UTC. Years are
/// four digits, 0000 to 9999 in UTC (signed or longer years are refused).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    parse_any_year(s).filter(|t| (0..=9999).contains(&t.year()))
}

fn parse_any_year(s: &str) -> Option<DateTime<Utc>> {
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
/// sending: `receivedAt − (sentAt − client time)` (Segment's formula), and the result is never
/// later than `receivedAt`: an event cannot be received before it happened. Without a client
/// time the event time is `receivedAt`. `correct_skew = false` (historical imports) keeps the
/// client time. Whatever the inputs, the result lies between [`EARLIEST_EVENT_TIME_MICROS`] and
/// `receivedAt` + [`FUTURE_TOLERANCE_MICROS`]: a claim outside that range, or one whose
/// correction does not fit in a time at all, is replaced by `receivedAt`.
pub fn event_time(
    client_time: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    correct_skew: bool,
) -> DateTime<Utc> {
    let micros = event_time_micros(
        client_time.map(|t| t.timestamp_micros()),
        sent_at.map(|t| t.timestamp_micros()),
        received_at.timestamp_micros(),
        correct_skew,
    );
    DateTime::from_timestamp_micros(micros).unwrap_or(received_at)
}

/// [`event_time`] on µs since the epoch, with checked arithmetic throughout.
pub fn event_time_micros(client: Option<i64>, sent: Option<i64>, received: i64, correct_skew: bool) -> i64 {
    let claimed = match (client, sent) {
        (Some(client), Some(sent)) if correct_skew => {
            sent.checked_sub(client).and_then(|skew| received.checked_sub(skew)).map(|t| t.min(received))
        }
        (Some(client), _) => Some(client),
        (None, _) => None,
    };
    let latest = received.saturating_add(FUTURE_TOLERANCE_MICROS);
    claimed.filter(|t| (EARLIEST_EVENT_TIME_MICROS..=latest).contains(t)).unwrap_or(received)
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
        // Uncorrected, a clock an hour fast dates the event past its receipt: not believed.
        assert_eq!(event_time(Some(client), Some(sent), received, false), received);
        assert_eq!(event_time(Some(client), None, received, true), received);
        let slow = t("2026-11-25T09:00:00Z");
        assert_eq!(event_time(Some(slow), None, received, true), slow, "a clock behind is kept as sent");
        assert_eq!(event_time(None, Some(sent), received, true), received);
    }

    #[test]
    fn event_time_is_never_after_receipt() {
        let received = t("2026-11-25T10:00:00Z");
        // sentAt before the event itself: nonsense from the client, clamped.
        let e = event_time(Some(t("2026-11-25T10:00:10Z")), Some(t("2026-11-25T10:00:00Z")), received, true);
        assert_eq!(e, received);
    }

    #[test]
    fn refuses_years_beyond_four_digits() {
        for bad in [
            "+275760-09-13T00:00:00Z",
            "-262143-01-01T00:00:00+0000",
            "10000-01-01T00:00:00",
            "9999-12-31T23:00:00-05:00",
        ] {
            assert!(parse_timestamp(bad).is_none(), "{bad} should not parse");
        }
        assert!(parse_timestamp("0001-01-01T00:00:00Z").is_some(), "Go's zero time is a timestamp");
        assert!(parse_timestamp("9999-12-31T23:59:59.999Z").is_some());
    }

    #[test]
    fn a_far_future_claim_without_sent_at_is_received_time() {
        let received = t("2026-11-25T10:00:00Z");
        assert_eq!(event_time(Some(t("2099-01-01T00:00:00Z")), None, received, true), received);
        assert_eq!(event_time(Some(t("2099-01-01T00:00:00Z")), None, received, false), received, "imports too");
        let slightly_fast = t("2026-11-25T10:00:59Z");
        assert_eq!(event_time(Some(slightly_fast), None, received, true), slightly_fast, "within the tolerance");
        assert_eq!(event_time(Some(t("1969-12-31T23:59:59Z")), None, received, false), received);
        let history = t("2019-03-01T12:00:00Z");
        assert_eq!(event_time(Some(history), None, received, false), history, "a backfill keeps history");
    }

    #[test]
    fn the_widest_skew_does_not_overflow() {
        let received = t("2026-11-25T10:00:00Z");
        let (earliest, latest) = (t("0000-01-01T00:00:00Z"), t("9999-12-31T23:59:59.999Z"));
        assert_eq!(event_time(Some(earliest), Some(latest), received, true), received);
        assert_eq!(event_time(Some(latest), Some(earliest), received, true), received);
        for (c, s, r) in [(i64::MIN, i64::MAX, 0), (i64::MAX, i64::MIN, i64::MAX), (0, i64::MIN, i64::MIN)] {
            let e = event_time_micros(Some(c), Some(s), r, true);
            assert!(e == r || (EARLIEST_EVENT_TIME_MICROS..=r.saturating_add(FUTURE_TOLERANCE_MICROS)).contains(&e));
        }
    }
}
