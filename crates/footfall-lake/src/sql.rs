//! Read-only SQL over the lake's tables, on DataFusion.

use crate::error::LakeError;
use crate::table::table_url;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::execution::context::{SQLOptions, SessionContext};
use deltalake::DeltaTable;
use std::path::Path;

/// The tables a query can name, each a directory of the lake.
pub const TABLES: &[&str] = &["raw_events", "dead_letters"];

/// Runs `query` against every table present under `lake_dir`. Only queries run: DDL (`CREATE`,
/// `DROP`), DML (`INSERT`, `UPDATE`, `DELETE`, `COPY`) and statements (`SET`) are refused with
/// DataFusion's own message.
pub async fn query(lake_dir: &Path, query: &str) -> Result<Vec<RecordBatch>, LakeError> {
    let ctx = SessionContext::new();
    for name in TABLES {
        let dir = lake_dir.join(name);
        if !dir.join("_delta_log").is_dir() {
            continue;
        }
        let table = DeltaTable::try_from_url(table_url(&dir)?).await?;
        table.update_datafusion_session(&ctx.state())?;
        ctx.register_table(*name, table.table_provider().await?)?;
    }
    let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let frame = ctx.sql_with_options(query, read_only).await?;
    Ok(frame.collect().await?)
}
