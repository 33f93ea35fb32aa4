//! Persons stitched from `identities`: every linked id → the person it belongs to in the end,
//! resolved by [`Stitching`] (one implementation for every reader, whatever the scan order).
//! SQL sees it as the table `identity_roots` (`id`, `person_id`), computed when queried; the
//! analyses take it as a map ([`identity_roots`]).

use crate::error::LakeError;
use crate::processed::IDENTITIES;
use async_trait::async_trait;
use deltalake::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::error::Result as DataFusionResult;
use deltalake::datafusion::logical_expr::{Expr, TableType};
use deltalake::datafusion::physical_plan::{collect, ExecutionPlan};
use deltalake::datafusion::prelude::SessionContext;
use footfall_processor::stitch::Stitching;
use std::collections::HashMap;
use std::sync::Arc;

/// The name SQL sees the stitched persons under.
pub const IDENTITY_ROOTS: &str = "identity_roots";

/// `identity_roots`: a linked id and the person it belongs to.
pub fn identity_roots_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false), Field::new("person_id", DataType::Utf8, false)]))
}

/// Adds the links of `batch` (rows of `identities`) to `stitching`.
pub fn add_links(stitching: &mut Stitching, batch: &RecordBatch) -> Result<(), ArrowError> {
    let column = |name: &str, to: &DataType| -> Result<ArrayRef, ArrowError> {
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| ArrowError::SchemaError(format!("{IDENTITIES}: no column {name}")))?;
        cast(array, to)
    };
    let (ids, persons) = (column("id", &DataType::Utf8)?, column("person_id", &DataType::Utf8)?);
    let (times, offsets) = (column("linked_at", &DataType::Int64)?, column("trigger_offset", &DataType::Int64)?);
    let (ids, persons) = (ids.as_string::<i32>(), persons.as_string::<i32>());
    let (times, offsets) = (times.as_primitive::<Int64Type>(), offsets.as_primitive::<Int64Type>());
    for row in 0..batch.num_rows() {
        if ids.is_null(row) || persons.is_null(row) {
            continue;
        }
        let time = if times.is_null(row) { i64::MIN } else { times.value(row) };
        let offset = if offsets.is_null(row) { 0 } else { u64::try_from(offsets.value(row)).unwrap_or(0) };
        stitching.add(ids.value(row), persons.value(row), time, offset);
    }
    Ok(())
}

/// The persons of every linked id in `ctx`'s `identities` (empty if it does not exist yet).
pub async fn identity_roots(ctx: &SessionContext) -> Result<HashMap<String, String>, LakeError> {
    if !ctx.table_exist(IDENTITIES)? {
        return Ok(HashMap::new());
    }
    let query = format!("SELECT id, person_id, linked_at, trigger_offset FROM {IDENTITIES}");
    let batches = ctx.sql_with_options(&query, crate::sql::read_only()).await?.collect().await?;
    let mut stitching = Stitching::new();
    for batch in &batches {
        add_links(&mut stitching, batch)?;
    }
    Ok(stitching.persons())
}

/// `persons` as a batch of [`identity_roots_schema`], sorted by id.
fn roots_batch(persons: HashMap<String, String>) -> Result<RecordBatch, ArrowError> {
    let mut rows: Vec<(String, String)> = persons.into_iter().collect();
    rows.sort_unstable();
    let (mut ids, mut persons) = (StringBuilder::new(), StringBuilder::new());
    for (id, person) in &rows {
        ids.append_value(id);
        persons.append_value(person);
    }
    RecordBatch::try_new(identity_roots_schema(), vec![Arc::new(ids.finish()), Arc::new(persons.finish())])
}

/// The `identity_roots` table: resolved from `identities` each time it is scanned, so it is
/// as current as the snapshot of `identities` the session holds.
#[derive(Debug)]
pub struct IdentityRootsTable {
    identities: Arc<dyn TableProvider>,
}

impl IdentityRootsTable {
    /// Over `identities`, the lake table's provider.
    pub fn new(identities: Arc<dyn TableProvider>) -> Self {
        Self { identities }
    }
}

#[async_trait]
impl TableProvider for IdentityRootsTable {
    fn schema(&self) -> SchemaRef {
        identity_roots_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DataFusionResult<Arc<dyn ExecutionPlan>> {
        let plan = self.identities.scan(state, None, &[], None).await?;
        let mut stitching = Stitching::new();
        for batch in collect(plan, state.task_ctx()).await? {
            add_links(&mut stitching, &batch)?;
        }
        let batch = roots_batch(stitching.persons())?;
        MemTable::try_new(self.schema(), vec![vec![batch]])?.scan(state, projection, &[], limit).await
    }
}
