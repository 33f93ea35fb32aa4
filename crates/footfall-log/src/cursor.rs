//! Consumer cursors: for each named consumer group, the next offset it will read. Stored one
//! small file per group and replaced atomically (write, fsync, rename, fsync directory), so a
//! crash leaves either the old or the new cursor, never a mix.

use crate::error::LogError;
use crate::segment::sync_dir;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The cursors of one topic.
#[derive(Debug, Clone)]
pub struct CursorStore {
    dir: PathBuf,
}

impl CursorStore {
    /// Cursors kept under `topic_dir/cursors/`.
    pub fn new(topic_dir: &Path) -> Self {
        Self { dir: topic_dir.join("cursors") }
    }

    fn path(&self, group: &str) -> PathBuf {
        // Group names come from configuration; keep them to a safe file name.
        let safe: String = group
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
            .collect();
        self.dir.join(format!("{safe}.offset"))
    }

    /// The committed next offset of `group`, or `None` if it never committed.
    pub fn load(&self, group: &str) -> Result<Option<u64>, LogError> {
        let path = self.path(group);
        match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map(Some).map_err(|e| LogError::Corrupt {
                path,
                position: 0,
                reason: format!("cursor is not a number: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LogError::io("read cursor", path)(e)),
        }
    }

    /// Durably records that `group` will next read `next_offset`.
    pub fn commit(&self, group: &str, next_offset: u64) -> Result<(), LogError> {
        std::fs::create_dir_all(&self.dir).map_err(LogError::io("create", &self.dir))?;
        let path = self.path(group);
        let tmp = path.with_extension("offset.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(LogError::io("create", &tmp))?;
        writeln!(file, "{next_offset}").and_then(|_| file.sync_all()).map_err(LogError::io("write cursor", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(LogError::io("rename", &path))?;
        sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_then_load_round_trips_per_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cursors = CursorStore::new(dir.path());
        assert_eq!(cursors.load("loader").expect("load"), None);
        cursors.commit("loader", 42).expect("commit");
        cursors.commit("processor/1", 7).expect("commit");
        cursors.commit("loader", 43).expect("commit");
        assert_eq!(cursors.load("loader").expect("load"), Some(43));
        assert_eq!(cursors.load("processor/1").expect("load"), Some(7));
    }
}
