//! Keeping the lake in shape: compacting the many small files a streaming loader writes,
//! removing files no version needs any more, and erasing a person (GDPR) from every table.

use crate::error::LakeError;
use crate::location::Lake;
use crate::schema::{DEAD_LETTERS, RAW_EVENTS};
use crate::sql;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::{DataType, Int64Type};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::operations::vacuum::VacuumMode;
use std::time::Duration;

/// What compacting one table did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptimizeReport {
    /// The table.
    pub table: String,
    /// Small files rewritten.
    pub files_removed: u64,
    /// Files written in their place.
    pub files_added: u64,
}

/// Compacts the small files of table `name` into larger ones (Delta `OPTIMIZE`). The data and
/// every query's result stay the same; concurrent appends (the loader) are safe.
pub async fn optimize(lake: &Lake, name: &str) -> Result<OptimizeReport, LakeError> {
    let table = lake.open_table(name).await?.ok_or_else(|| LakeError::MissingTable(name.to_owned()))?;
    let (_, metrics) = table.optimize().await?;
    Ok(OptimizeReport {
        table: name.to_owned(),
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
    })
}

/// Retention below which vacuum only removes files that commits have removed (`lite`): files
/// a running writer has just written but not yet committed are then never touched.
pub const FULL_VACUUM_MIN_RETENTION: Duration = Duration::from_secs(3600);

/// Deletes the data files of table `name` that no version younger than `retain` refers to.
/// With `retain` of an hour or more it also deletes files no commit ever referred to (left by
/// a crash between writing and committing). Returns the number of files deleted.
pub async fn vacuum(lake: &Lake, name: &str, retain: Duration) -> Result<usize, LakeError> {
    let table = lake.open_table(name).await?.ok_or_else(|| LakeError::MissingTable(name.to_owned()))?;
    let mode = if retain >= FULL_VACUUM_MIN_RETENTION { VacuumMode::Full } else { VacuumMode::Lite };
    let retention =
        chrono::Duration::from_std(retain).map_err(|_| LakeError::BadLocation("retention too long".into()))?;
    let (_, metrics) =
        table.vacuum().with_retention_period(retention).with_enforce_retention_duration(false).with_mode(mode).await?;
    Ok(metrics.files_deleted.len())
}

/// Rows erased from one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgetReport {
    /// Every id that was the person's: the user id, the anonymous ids it used, aliases.
    pub ids: Vec<String>,
    /// Rows deleted, per table.
    pub deleted: Vec<(String, usize)>,
}

/// Erases user `user_id` from every table of the lake (GDPR): every row whose `user_id` is the
/// person's, every anonymous row of an anonymous id the person used, and every dead letter
/// whose payload names them. Other people's rows stay, including rows of another user on a
/// shared anonymous id. The deleted rows stay in old file versions until [`vacuum`].
pub async fn forget(lake: &Lake, user_id: &str) -> Result<ForgetReport, LakeError> {
    let ctx = sql::session(lake).await?;
    let mut report = ForgetReport { ids: vec![user_id.to_owned()], deleted: Vec::new() };
    let mut anonymous = Vec::new();
    if ctx.table_exist(RAW_EVENTS)? {
        // Aliases (`previous_id`) are the same person under an earlier user id.
        let linked = ctx
            .sql(&format!(
                "SELECT DISTINCT anonymous_id, previous_id FROM {RAW_EVENTS} WHERE user_id = {}",
                quote(user_id)
            ))
            .await?
            .collect()
            .await?;
        for batch in &linked {
            anonymous.extend(strings(batch, 0));
            report.ids.extend(strings(batch, 1));
        }
    }
    anonymous.sort();
    anonymous.dedup();
    report.ids.sort();
    report.ids.dedup();
    let users = list(&report.ids);
    let anons = list(&anonymous);

    for name in sql::table_names(lake) {
        let Some(table) = lake.open_table(&name).await? else { continue };
        let schema = table.snapshot()?.schema();
        let has = |column: &str| schema.field(column).is_some();
        let predicate = if name == DEAD_LETTERS {
            dead_letter_predicate(&ctx, &report.ids, &anonymous).await?
        } else {
            let mut terms = Vec::new();
            if has("user_id") {
                terms.push(format!("user_id IN ({users})"));
                if has("anonymous_id") && !anonymous.is_empty() {
                    terms.push(format!("(user_id IS NULL AND anonymous_id IN ({anons}))"));
                }
            }
            if has("previous_id") {
                terms.push(format!("previous_id IN ({users})"));
            }
            // The processor's tables: rows of the person, and links of their ids.
            if has("person_id") {
                terms.push(format!("person_id IN ({users})"));
                if !anonymous.is_empty() {
                    terms.push(format!("person_id IN ({anons})"));
                }
            }
            if has("id") && has("person_id") && !anonymous.is_empty() {
                terms.push(format!("id IN ({anons})"));
            }
            (!terms.is_empty()).then(|| terms.join(" OR "))
        };
        let Some(predicate) = predicate else { continue };
        let counted = ctx.sql(&format!("SELECT count(*) FROM \"{name}\" WHERE {predicate}")).await?.collect().await?;
        let rows = counted.first().map_or(0, |b| b.column(0).as_primitive::<Int64Type>().value(0)) as usize;
        if rows > 0 {
            table.delete().with_predicate(predicate).await?;
        }
        report.deleted.push((name, rows));
    }
    Ok(report)
}

/// The dead letters that name the person: their payload's `userId`, `previousId` or (without a
/// user id) `anonymousId` is one of theirs. As a predicate on `log_offset`, or `None`.
async fn dead_letter_predicate(
    ctx: &deltalake::datafusion::prelude::SessionContext,
    ids: &[String],
    anonymous: &[String],
) -> Result<Option<String>, LakeError> {
    if !ctx.table_exist(DEAD_LETTERS)? {
        return Ok(None);
    }
    let mut condition = format!(
        "json_get_str(payload, 'userId') IN ({ids}) OR json_get_str(payload, 'previousId') IN ({ids})",
        ids = list(ids)
    );
    // Payloads that are not one message (bodies that failed whole) are searched as text.
    let mentions: Vec<String> = ids
        .iter()
        .chain(anonymous)
        .map(|id| format!("strpos(payload, {}) > 0", quote(&serde_json::Value::from(id.as_str()).to_string())))
        .collect();
    condition.push_str(&format!(" OR (json_get_str(payload, 'type') IS NULL AND ({}))", mentions.join(" OR ")));
    if !anonymous.is_empty() {
        condition.push_str(&format!(
            " OR (json_get_str(payload, 'userId') IS NULL AND json_get_str(payload, 'anonymousId') IN ({}))",
            list(anonymous)
        ));
    }
    let found = ctx.sql(&format!("SELECT log_offset FROM {DEAD_LETTERS} WHERE {condition}")).await?.collect().await?;
    let offsets: Vec<String> = found
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_primitive::<Int64Type>();
            (0..b.num_rows()).filter(|r| !column.is_null(*r)).map(|r| column.value(r).to_string()).collect::<Vec<_>>()
        })
        .collect();
    Ok((!offsets.is_empty()).then(|| format!("log_offset IN ({})", offsets.join(", "))))
}

/// `text` as a SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `values` as a SQL list of string literals.
fn list(values: &[String]) -> String {
    values.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ")
}

/// The non-null strings of column `index` (any string type).
fn strings(batch: &RecordBatch, index: usize) -> Vec<String> {
    let Ok(column) = deltalake::arrow::compute::cast(batch.column(index), &DataType::Utf8) else { return Vec::new() };
    let column = column.as_string::<i32>();
    (0..column.len()).filter(|r| !column.is_null(*r)).map(|r| column.value(r).to_owned()).collect()
}
