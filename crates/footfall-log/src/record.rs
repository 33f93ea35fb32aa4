//! A log record and its bytes on disk.
//!
//! ```text
//! u32 LE  body length (bytes after this 8-byte header)
//! u32 LE  CRC-32 (IEEE) of the body
//! body:   u64 LE offset | i64 LE timestamp (ms since the epoch) | u32 LE key length | key | value
//! ```

/// Bytes before the body: length and CRC.
pub const HEADER_BYTES: usize = 8;
/// Fixed part of the body: offset, timestamp, key length.
pub const BODY_FIXED_BYTES: usize = 20;
/// Largest body the log accepts (a Segment batch message is at most 32 KB; this leaves room).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A record to append: a key (the person key; Kafka partitions by it) and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Partitioning key.
    pub key: Vec<u8>,
    /// The payload (a normalized Segment message, or a dead letter).
    pub value: Vec<u8>,
    /// Milliseconds since the Unix epoch (the collector's receipt time).
    pub timestamp_ms: i64,
}

impl Record {
    /// Bytes this record takes in a segment file.
    pub fn encoded_len(&self) -> usize {
        HEADER_BYTES + BODY_FIXED_BYTES + self.key.len() + self.value.len()
    }
}

/// A record read back from the log, with its place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Partition (always 0 in the embedded log).
    pub partition: u32,
    /// Position in the partition.
    pub offset: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Partitioning key.
    pub key: Vec<u8>,
    /// The payload.
    pub value: Vec<u8>,
}

/// Appends the encoding of `record` at `offset` to `out`.
pub fn encode(record: &Record, offset: u64, out: &mut Vec<u8>) {
    let body_len = BODY_FIXED_BYTES + record.key.len() + record.value.len();
    let start = out.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&record.timestamp_ms.to_le_bytes());
    out.extend_from_slice(&(record.key.len() as u32).to_le_bytes());
    out.extend_from_slice(&record.key);
    out.extend_from_slice(&record.value);
    let crc = crc32fast::hash(&out[start + HEADER_BYTES..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What decoding the bytes at a position found.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole, intact record, and the bytes it took.
    Record(StoredRecord, usize),
    /// The bytes end inside a record (a torn write, or a write still in progress).
    Incomplete,
    /// The bytes are not a valid record.
    Corrupt(String),
}

/// Decodes the record at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded {
    if buf.len() < HEADER_BYTES {
        return Decoded::Incomplete;
    }
    let body_len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if !(BODY_FIXED_BYTES..=MAX_BODY_BYTES).contains(&body_len) {
        return Decoded::Corrupt(format!("impossible record length {body_len}"));
    }
    let Some(body) = buf.get(HEADER_BYTES..HEADER_BYTES + body_len) else {
        return Decoded::Incomplete;
    };
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if crc32fast::hash(body) != crc {
        return Decoded::Corrupt("CRC mismatch".into());
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&body[i..i + 8]);
        b
    };
    let offset = u64::from_le_bytes(u64_at(0));
    let timestamp_ms = i64::from_le_bytes(u64_at(8));
    let key_len = u32::from_le_bytes([body[16], body[17], body[18], body[19]]) as usize;
    if BODY_FIXED_BYTES + key_len > body_len {
        return Decoded::Corrupt(format!("key length {key_len} exceeds the record"));
    }
    let key = body[BODY_FIXED_BYTES..BODY_FIXED_BYTES + key_len].to_vec();
    let value = body[BODY_FIXED_BYTES + key_len..].to_vec();
    Decoded::Record(StoredRecord { partition: 0, offset, timestamp_ms, key, value }, HEADER_BYTES + body_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        (proptest::collection::vec(any::<u8>(), 0..40), proptest::collection::vec(any::<u8>(), 0..300), any::<i64>())
            .prop_map(|(key, value, timestamp_ms)| Record { key, value, timestamp_ms })
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(records in proptest::collection::vec(record(), 1..20), base in 0u64..1 << 40) {
            let mut buf = Vec::new();
            for (i, r) in records.iter().enumerate() {
                encode(r, base + i as u64, &mut buf);
            }
            let mut pos = 0;
            for (i, r) in records.iter().enumerate() {
                match decode(&buf[pos..]) {
                    Decoded::Record(s, used) => {
                        prop_assert_eq!(s.offset, base + i as u64);
                        prop_assert_eq!(&s.key, &r.key);
                        prop_assert_eq!(&s.value, &r.value);
                        prop_assert_eq!(s.timestamp_ms, r.timestamp_ms);
                        prop_assert_eq!(used, r.encoded_len());
                        pos += used;
                    }
                    other => prop_assert!(false, "record {} decoded as {:?}", i, other),
                }
            }
            prop_assert_eq!(pos, buf.len());
        }

        #[test]
        fn every_truncation_is_incomplete(r in record(), cut in 0usize..1000) {
            let mut buf = Vec::new();
            encode(&r, 7, &mut buf);
            let cut = cut % buf.len();
            prop_assert_eq!(decode(&buf[..cut]), Decoded::Incomplete);
        }

        #[test]
        fn every_flipped_bit_is_caught(r in record(), bit in 0usize..100_000) {
            let mut buf = Vec::new();
            encode(&r, 7, &mut buf);
            let bit = bit % (buf.len() * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
            // A flip in the length may make the record look longer (incomplete) or impossible;
            // anywhere else the CRC catches it. It never decodes as a record.
            prop_assert!(!matches!(decode(&buf), Decoded::Record(..)));
        }
    }
}
