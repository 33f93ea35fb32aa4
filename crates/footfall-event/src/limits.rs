//! Segment's documented limits on the Tracking API, which footfall enforces the same way so
//! that an SDK that works against Segment works against footfall.

/// Largest message, in bytes of JSON, that one call may carry (Segment: 32 KB).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Largest request body of `/v1/batch` or `/v1/import` after decompression (Segment: 500 KB).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Most messages in one batch request (Segment: 2,500).
pub const MAX_BATCH_MESSAGES: usize = 2_500;
/// Longest `messageId`, in characters (Segment: 100).
pub const MAX_MESSAGE_ID_CHARS: usize = 100;
/// Largest message as stored, after the server added `messageId`, `receivedAt`, `context.ip`
/// and the batch's `sentAt` and `context` (64 KB): a message within [`MAX_MESSAGE_BYTES`] whose
/// stored form would pass this is refused at the collector, so an acknowledged message always
/// loads. Readers of the log parse stored messages of any size.
pub const MAX_STORED_MESSAGE_BYTES: usize = 64 * 1024;
