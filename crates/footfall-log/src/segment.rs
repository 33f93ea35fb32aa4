//! Segment files: naming, listing, and the scan that finds where the valid records of a segment
//! end (and so where a torn tail begins).

use crate::error::LogError;
use crate::record::{decode, Decoded, StoredRecord};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// File name suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".log";

/// The path of the segment whose first record has offset `base`.
pub fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}{SEGMENT_SUFFIX}"))
}

/// The segments of a topic directory as (base offset, path), oldest first.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut segments = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(segments),
        Err(e) => return Err(LogError::io("list", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(LogError::io("list", dir))?;
        let name = entry.file_name();
        let Some(base) = name.to_str().and_then(|n| n.strip_suffix(SEGMENT_SUFFIX)).and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        segments.push((base, entry.path()));
    }
    segments.sort_unstable_by_key(|(base, _)| *base);
    Ok(segments)
}

/// The result of scanning one segment from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// Bytes of valid records from the start of the file.
    pub valid_bytes: u64,
    /// The offset the next record would have.
    pub next_offset: u64,
    /// Bytes in the file after the valid records (a torn or damaged tail).
    pub invalid_bytes: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub stop_reason: Option<String>,
}

/// Reads a whole segment and finds its valid prefix: records that decode, pass their CRC and
/// carry consecutive offsets starting at `base`.
pub fn scan_segment(path: &Path, base: u64) -> Result<SegmentScan, LogError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(LogError::io("read", path))?;
    let mut pos = 0usize;
    let mut next_offset = base;
    let mut stop_reason = None;
    while pos < bytes.len() {
        match decode(&bytes[pos..]) {
            Decoded::Record(StoredRecord { offset, .. }, _) if offset != next_offset => {
                stop_reason = Some(format!("offset {offset} where {next_offset} was expected"));
                break;
            }
            Decoded::Record(_, used) => {
                pos += used;
                next_offset += 1;
            }
            Decoded::Incomplete => {
                stop_reason = Some("incomplete record".into());
                break;
            }
            Decoded::Corrupt(reason) => {
                stop_reason = Some(reason);
                break;
            }
        }
    }
    Ok(SegmentScan { valid_bytes: pos as u64, next_offset, invalid_bytes: (bytes.len() - pos) as u64, stop_reason })
}

/// Makes a directory's entries (new or renamed files) durable.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(LogError::io("fsync directory", dir))
}
