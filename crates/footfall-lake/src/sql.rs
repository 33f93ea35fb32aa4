//! Read-only SQL over the lake's tables, on DataFusion, with JSON functions for the
//! `properties`, `traits` and `context` columns (`json_get_str(properties, 'sku')`, …).

use crate::error::LakeError;
use crate::location::Lake;
use crate::processed::PROCESSED_TABLES;
use crate::schema::BRONZE_TABLES;
use crate::transform::Transform;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};

/// What a query may do: read. DDL (`CREATE`, `DROP`), DML (`INSERT`, `UPDATE`, `DELETE`,
/// `COPY`) and statements (`SET`) are refused with DataFusion's own message.
pub fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// Gold tables the analyses write (RFM and cluster segments, churn models and scores).
pub const ANALYTICS_TABLES: [&str; 3] = ["segments", "churn_models", "churn_scores"];

/// The names of the lake's tables: the bronze ones, the processor's, the built-in transforms'
/// outputs, the analyses', and
/// for a local lake every folder that holds a Delta table (user transforms included).
pub fn table_names(lake: &Lake) -> Vec<String> {
    let mut names: Vec<String> = BRONZE_TABLES.iter().chain(&PROCESSED_TABLES).map(|n| n.to_string()).collect();
    names.extend(Transform::builtin().into_iter().map(|t| t.name));
    for name in ANALYTICS_TABLES {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if let Some(entries) = lake.local_dir().and_then(|dir| std::fs::read_dir(dir).ok()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().join("_delta_log").is_dir() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// A DataFusion session with every existing table of `lake` registered by name, the JSON
/// functions and `window_funnel`.
pub async fn session(lake: &Lake) -> Result<SessionContext, LakeError> {
    // Filters are applied while decoding Parquet (late materialization): a query that keeps a
    // few rows does not decode the large JSON columns of the others.
    let config = SessionConfig::new()
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.reorder_filters", true);
    let mut ctx = SessionContext::new_with_config(config);
    datafusion_functions_json::register_all(&mut ctx)?;
    ctx.register_udaf(crate::window_funnel::window_funnel_udaf());
    for name in table_names(lake) {
        let Some(table) = lake.open_table(&name).await? else { continue };
        table.update_datafusion_session(&ctx.state())?;
        ctx.register_table(name.as_str(), table.table_provider().await?)?;
    }
    Ok(ctx)
}

/// Runs `query`, read-only, if `table` exists (`None` if it does not).
pub async fn query_if_exists(lake: &Lake, table: &str, query: &str) -> Result<Option<Vec<RecordBatch>>, LakeError> {
    let ctx = session(lake).await?;
    if !ctx.table_exist(table)? {
        return Ok(None);
    }
    let frame = ctx.sql_with_options(query, read_only()).await?;
    Ok(Some(frame.collect().await?))
}

/// Runs `query`, read-only, against every table of `lake`.
pub async fn query(lake: &Lake, query: &str) -> Result<Vec<RecordBatch>, LakeError> {
    let ctx = session(lake).await?;
    let frame = ctx.sql_with_options(query, read_only()).await?;
    Ok(frame.collect().await?)
}
