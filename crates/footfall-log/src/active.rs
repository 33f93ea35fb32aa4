//! The segment being appended to, written with direct I/O where the file system allows it.
//!
//! Buffered writes cost a copy of every byte into the page cache before the fsync sends it to
//! the disk; at collector rates that copy was the largest single cost of the process. With
//! `O_DIRECT` the disk reads the writer's own buffer instead. Direct I/O writes whole aligned
//! blocks, so the last, partial block of the file is kept in memory and written again, with
//! the new records after it, by the next commit; the file therefore ends in zero padding while
//! open, which is cut when the segment is closed (and, after a crash, by recovery, which sees
//! it as a torn tail). File systems without `O_DIRECT` (tmpfs) get buffered writes.

use crate::error::LogError;
use crate::segment::{segment_path, sync_dir};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Alignment of direct I/O buffers, offsets and lengths.
const BLOCK: usize = 4096;

/// The segment being appended to.
pub(crate) struct ActiveSegment {
    pub(crate) dir: PathBuf,
    pub(crate) base: u64,
    file: File,
    /// Bytes of valid records in the file.
    pub(crate) size: u64,
    /// Whether the file is open for direct I/O.
    direct: bool,
    /// Direct I/O: the valid bytes of the file's last, partial block.
    tail: Vec<u8>,
    /// When the segment was started (its file's birth time where the file system keeps one,
    /// else when it was opened).
    pub(crate) started: std::time::SystemTime,
}

impl ActiveSegment {
    /// Opens (creating) the segment starting at `base`, for appending after its valid bytes.
    pub(crate) fn open(dir: &Path, base: u64) -> Result<Self, LogError> {
        let path = segment_path(dir, base);
        let existed = path.exists();
        let direct =
            OpenOptions::new().create(true).write(true).truncate(false).custom_flags(libc::O_DIRECT).open(&path);
        let (file, direct) = match direct {
            Ok(file) => (file, true),
            // Positional writes (not O_APPEND): a failed write is written over by the next.
            Err(_) => (
                OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(false)
                    .open(&path)
                    .map_err(LogError::io("open", &path))?,
                false,
            ),
        };
        if !existed {
            sync_dir(dir)?;
        }
        let metadata = file.metadata().map_err(LogError::io("stat", &path))?;
        let size = metadata.len();
        let started = metadata.created().unwrap_or_else(|_| std::time::SystemTime::now());
        let mut tail = Vec::new();
        if direct {
            let block_start = size - size % BLOCK as u64;
            tail.resize((size - block_start) as usize, 0);
            File::open(&path)
                .and_then(|f| f.read_exact_at(&mut tail, block_start))
                .map_err(LogError::io("read", &path))?;
        }
        Ok(Self { dir: dir.to_path_buf(), base, file, size, direct, tail, started })
    }

    /// Empties `buf` and prepares it for a commit of `bytes` record bytes; returns the index
    /// where the bytes to write begin. Records are then appended to `buf`.
    pub(crate) fn begin(&self, buf: &mut Vec<u8>, bytes: usize) -> usize {
        buf.clear();
        if !self.direct {
            return 0;
        }
        // Room for the whole commit now, so the buffer does not move (and lose its alignment).
        buf.reserve(bytes + self.tail.len() + 2 * BLOCK);
        let origin = buf.as_ptr().align_offset(BLOCK).min(BLOCK);
        buf.resize(origin, 0);
        buf.extend_from_slice(&self.tail);
        origin
    }

    /// Writes `buf[origin..]` (as prepared by [`ActiveSegment::begin`]) and makes it durable.
    pub(crate) fn write_durably(&mut self, buf: &mut Vec<u8>, origin: usize) -> Result<(), LogError> {
        let path = segment_path(&self.dir, self.base);
        if !self.direct {
            self.file.write_all_at(&buf[origin..], self.size).map_err(LogError::io("write", &path))?;
            self.file.sync_data().map_err(LogError::io("fsync", &path))?;
            self.size += (buf.len() - origin) as u64;
            return Ok(());
        }
        let block_start = self.size - self.tail.len() as u64;
        let new_size = self.size + (buf.len() - origin - self.tail.len()) as u64;
        let padded = (buf.len() - origin).div_ceil(BLOCK) * BLOCK;
        buf.resize(origin + padded, 0);
        let aligned = buf[origin..].as_ptr().align_offset(BLOCK) == 0;
        let written = if aligned {
            self.file.write_all_at(&buf[origin..], block_start)
        } else {
            // Only if the buffer moved after `begin`: copy into an aligned one.
            let mut copy: Vec<u8> = Vec::with_capacity(padded + BLOCK);
            let start = copy.as_ptr().align_offset(BLOCK).min(BLOCK);
            copy.resize(start, 0);
            copy.extend_from_slice(&buf[origin..]);
            self.file.write_all_at(&copy[start..], block_start)
        };
        written.map_err(LogError::io("write", &path))?;
        self.file.sync_data().map_err(LogError::io("fsync", &path))?;
        let new_block_start = new_size - new_size % BLOCK as u64;
        let from = origin + (new_block_start - block_start) as usize;
        let to = origin + (new_size - block_start) as usize;
        self.tail.clear();
        self.tail.extend_from_slice(&buf[from..to]);
        self.size = new_size;
        Ok(())
    }

    /// After a failed [`ActiveSegment::write_durably`]: cuts whatever part of it reached the
    /// file, back to the valid records, so no record of a refused commit can turn up after a
    /// restart (recovery would take a whole one for valid). The next commit writes where the
    /// failed one began.
    pub(crate) fn discard_unwritten(&mut self) -> Result<(), LogError> {
        let path = segment_path(&self.dir, self.base);
        self.file.set_len(self.size).and_then(|_| self.file.sync_all()).map_err(LogError::io("truncate", &path))
    }

    /// Cuts the zero padding direct I/O leaves at the end, so the closed file holds exactly
    /// its records.
    pub(crate) fn close(&mut self) -> Result<(), LogError> {
        if self.direct {
            let path = segment_path(&self.dir, self.base);
            self.file.set_len(self.size).and_then(|_| self.file.sync_all()).map_err(LogError::io("truncate", &path))?;
        }
        Ok(())
    }
}
