//! Read-only SQL over the lake's tables, on DataFusion, with JSON functions for the
//! `properties`, `traits` and `context` columns (`json_get_str(properties, 'sku')`, …).

use crate::error::LakeError;
use crate::location::Lake;
use crate::processed::PROCESSED_TABLES;
use crate::schema::BRONZE_TABLES;
use crate::transform::Transform;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

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
    names.push(crate::maintenance::FORGET_REQUESTS.to_owned());
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

/// A DataFusion session with every existing table of `lake` registered by name, the stitched
/// persons as `identity_roots` (see [`crate::stitching`]), the JSON functions and
/// `window_funnel`.
pub async fn session(lake: &Lake) -> Result<SessionContext, LakeError> {
    session_within(lake, None).await
}

/// [`session`] whose queries may hold at most `memory_bytes` in DataFusion's memory pool
/// (sorts and joins past it spill or fail with "Resources exhausted"); `None`: no limit.
pub async fn session_within(lake: &Lake, memory_bytes: Option<usize>) -> Result<SessionContext, LakeError> {
    // Filters are applied while decoding Parquet (late materialization): a query that keeps a
    // few rows does not decode the large JSON columns of the others.
    let config = SessionConfig::new()
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.reorder_filters", true);
    let mut ctx = match memory_bytes {
        Some(bytes) => SessionContext::new_with_config_rt(
            config,
            RuntimeEnvBuilder::new().with_memory_limit(bytes, 1.0).build_arc()?,
        ),
        None => SessionContext::new_with_config(config),
    };
    datafusion_functions_json::register_all(&mut ctx)?;
    ctx.register_udaf(crate::window_funnel::window_funnel_udaf());
    for name in table_names(lake) {
        let Some(table) = lake.open_table(&name).await? else { continue };
        table.update_datafusion_session(&ctx.state())?;
        let provider = table.table_provider().await?;
        if name == crate::processed::IDENTITIES {
            let roots = crate::stitching::IdentityRootsTable::new(Arc::clone(&provider));
            ctx.register_table(crate::stitching::IDENTITY_ROOTS, Arc::new(roots))?;
        }
        ctx.register_table(name.as_str(), provider)?;
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

/// What one query may use: memory, time and rows of answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Bytes of DataFusion's memory pool (hash tables, sorts, aggregates).
    pub memory_bytes: usize,
    /// Time from planning to the last row kept; past it the query is cancelled.
    pub timeout: Duration,
    /// Rows kept at most; the query stops producing once it has them.
    pub max_rows: usize,
}

impl Default for QueryLimits {
    /// 1 GiB, 60 seconds, 10,000 rows.
    fn default() -> Self {
        Self { memory_bytes: 1 << 30, timeout: Duration::from_secs(60), max_rows: 10_000 }
    }
}

/// The rows of a bounded query.
#[derive(Debug, Default)]
pub struct BoundedAnswer {
    /// At most `max_rows` rows.
    pub batches: Vec<RecordBatch>,
    /// Whether the query had more rows than were kept.
    pub truncated: bool,
}

/// Runs `query`, read-only, within `limits`: the answer is streamed and the query stopped once
/// `max_rows` rows are in hand (no more are produced), it holds at most `memory_bytes`, and it
/// is cancelled after `timeout` with [`LakeError::QueryTimeout`].
pub async fn query_bounded(lake: &Lake, query: &str, limits: QueryLimits) -> Result<BoundedAnswer, LakeError> {
    let run = async {
        let ctx = session_within(lake, Some(limits.memory_bytes)).await?;
        let frame = ctx.sql_with_options(query, read_only()).await?;
        let mut stream = frame.execute_stream().await?;
        let mut answer = BoundedAnswer::default();
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            let room = limits.max_rows - rows;
            if batch.num_rows() > room {
                answer.truncated = true;
                if room > 0 {
                    answer.batches.push(batch.slice(0, room));
                }
                break;
            }
            rows += batch.num_rows();
            answer.batches.push(batch);
        }
        Ok(answer)
    };
    tokio::time::timeout(limits.timeout, run).await.map_err(|_| LakeError::QueryTimeout(limits.timeout))?
}
