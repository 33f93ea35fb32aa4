//! One Delta table of the lake: opened (created on first use with its schema and partitioning)
//! and appended to with the commit recording how far its source has been loaded, as a Delta
//! application transaction (`txn` action), the way Spark Structured Streaming makes its
//! Delta sink exactly-once.

use crate::error::LakeError;
use crate::location::Lake;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder};

/// A lake table and what it takes to append to it.
pub struct LakeTable {
    name: String,
    table: DeltaTable,
    partitions: Vec<String>,
}

impl std::fmt::Debug for LakeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeTable").field("name", &self.name).field("version", &self.table.version()).finish()
    }
}

impl LakeTable {
    /// Opens table `name` of `lake`, creating it empty with `schema` and `partitions` if it
    /// does not exist yet.
    pub async fn open(lake: &Lake, name: &str, schema: SchemaRef, partitions: &[&str]) -> Result<Self, LakeError> {
        let partitions: Vec<String> = partitions.iter().map(|p| p.to_string()).collect();
        let table = match lake.open_table(name).await? {
            Some(table) => table,
            None => {
                let created = DeltaTableBuilder::from_url(lake.table_url(name)?)?
                    .build()?
                    .write(vec![RecordBatch::new_empty(schema)])
                    .with_save_mode(SaveMode::Append)
                    .with_partition_columns(partitions.clone())
                    .with_table_name(name)
                    .await;
                match created {
                    Ok(table) => table,
                    // Another writer (the loader and the processor both write `dead_letters`)
                    // created it first: use theirs.
                    Err(error) => lake.open_table(name).await?.ok_or(error)?,
                }
            }
        };
        Ok(Self { name: name.to_owned(), table, partitions })
    }

    /// The table's name in SQL.
    pub fn name(&self) -> &str {
        &self.name
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
        self.append_batches(vec![batch], app_id, version).await
    }

    /// Appends `batches` in one commit that also records `app_id` at `version`.
    pub async fn append_batches(
        &mut self,
        batches: Vec<RecordBatch>,
        app_id: &str,
        version: i64,
    ) -> Result<(), LakeError> {
        let properties = CommitProperties::default().with_application_transaction(Transaction::new(app_id, version));
        self.table = self
            .table
            .clone()
            .write(batches)
            .with_save_mode(SaveMode::Append)
            .with_partition_columns(self.partitions.clone())
            .with_commit_properties(properties)
            .await?;
        Ok(())
    }

    /// Replaces the table's rows with `batches` in one commit (readers see the old rows or
    /// the new, never a mix); the batches' schema replaces the table's if it changed.
    pub async fn replace(&mut self, batches: Vec<RecordBatch>) -> Result<(), LakeError> {
        self.table = self
            .table
            .clone()
            .write(batches)
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_partition_columns(self.partitions.clone())
            .await?;
        Ok(())
    }
}
