//! One Delta table of the lake: opened (created on first use with its schema and partitioning)
//! and appended to with the commit recording how far its source has been loaded, as a Delta
//! application transaction (`txn` action), the way Spark Structured Streaming makes its
//! Delta sink exactly-once.

use crate::error::LakeError;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use std::path::Path;

/// A lake table and what it takes to append to it.
pub struct LakeTable {
    name: &'static str,
    table: DeltaTable,
    partitions: Vec<String>,
}

impl std::fmt::Debug for LakeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeTable").field("name", &self.name).field("version", &self.table.version()).finish()
    }
}

/// The URL of a local table directory (created if missing).
pub fn table_url(dir: &Path) -> Result<url::Url, LakeError> {
    std::fs::create_dir_all(dir).map_err(|e| LakeError::Io { path: dir.to_path_buf(), source: e })?;
    let absolute = dir.canonicalize().map_err(|e| LakeError::Io { path: dir.to_path_buf(), source: e })?;
    url::Url::from_directory_path(&absolute).map_err(|_| LakeError::BadLocation(absolute.display().to_string()))
}

impl LakeTable {
    /// Opens the table at `url`, creating it empty with `schema` and `partitions` if it does
    /// not exist yet.
    pub async fn open(
        name: &'static str,
        url: url::Url,
        schema: SchemaRef,
        partitions: &[&str],
    ) -> Result<Self, LakeError> {
        let exists = url.to_file_path().map_or(true, |dir| dir.join("_delta_log").is_dir());
        let mut table = if exists {
            DeltaTable::try_from_url(url).await?
        } else {
            // A new table: no need to look for a log that is not there (the kernel would
            // report that as an error).
            deltalake::DeltaTableBuilder::from_url(url)?.build()?
        };
        let partitions: Vec<String> = partitions.iter().map(|p| p.to_string()).collect();
        if table.version().is_none() {
            table = table
                .write(vec![RecordBatch::new_empty(schema)])
                .with_save_mode(SaveMode::Append)
                .with_partition_columns(partitions.clone())
                .with_table_name(name)
                .await?;
        }
        Ok(Self { name, table, partitions })
    }

    /// The table's name in SQL.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The Delta table.
    pub fn delta(&self) -> &DeltaTable {
        &self.table
    }

    /// The last version an application recorded in this table's commits (`txn`), if any.
    pub async fn committed_version(&self, app_id: &str) -> Result<Option<i64>, LakeError> {
        let state = self.table.snapshot()?;
        Ok(state.transaction_version(self.table.log_store().as_ref(), app_id).await?)
    }

    /// Appends `batch` in one commit that also records `app_id` at `version`: the data and
    /// the progress marker land together or not at all.
    pub async fn append(&mut self, batch: RecordBatch, app_id: &str, version: i64) -> Result<(), LakeError> {
        let properties = CommitProperties::default().with_application_transaction(Transaction::new(app_id, version));
        self.table = self
            .table
            .clone()
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_partition_columns(self.partitions.clone())
            .with_commit_properties(properties)
            .await?;
        Ok(())
    }
}
