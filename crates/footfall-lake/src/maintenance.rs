//! Keeping the lake in shape: compacting the many small files a streaming loader writes,
//! removing files no version needs any more, and erasing a person (GDPR) from every table.

use crate::error::LakeError;
use crate::location::Lake;
use crate::processed::{EVENTS, IDENTITIES};
use crate::schema::{DEAD_LETTERS, RAW_EVENTS};
use crate::sql;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::{DataType, Int64Type};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
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

/// The erasure log: one row per table an erasure looked at (rows deleted, which may be 0), so
/// that what was erased, when and at whose request can be shown. The user is named by a keyed
/// hash ([`crate::secret::LakeSecret::subject_hash`]), never by their id.
pub const FORGET_REQUESTS: &str = "forget_requests";

/// The application id of the erasure log's commits.
const FORGET_APP_ID: &str = "footfall-forget";

/// Attempts at deleting from one table when commits of others (the loader, the processor)
/// conflict with it.
const DELETE_ATTEMPTS: usize = 5;

/// The schema of [`FORGET_REQUESTS`].
pub fn forget_requests_schema() -> deltalake::arrow::datatypes::SchemaRef {
    use deltalake::arrow::datatypes::{Field, Schema, TimeUnit};
    let time = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    std::sync::Arc::new(Schema::new(vec![
        Field::new("request_id", DataType::Utf8, false),
        Field::new("requested_at", time(), false),
        Field::new("completed_at", time(), false),
        Field::new("requested_by", DataType::Utf8, false),
        Field::new("subject_hash", DataType::Utf8, false),
        Field::new("ids_erased", DataType::Int64, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("rows_deleted", DataType::Int64, false),
    ]))
}

/// What one erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgetReport {
    /// The request's id in [`FORGET_REQUESTS`].
    pub request_id: String,
    /// The ids erased: the user id, then the anonymous ids that were theirs.
    pub ids: Vec<String>,
    /// Rows deleted, per table.
    pub deleted: Vec<(String, usize)>,
}

impl ForgetReport {
    /// Rows deleted over every table.
    pub fn rows(&self) -> usize {
        self.deleted.iter().map(|(_, n)| n).sum()
    }
}

/// Erases user `user_id` from every table of the lake (GDPR), at the request of
/// `requested_by`: every row whose `user_id` is theirs, every anonymous row of an anonymous id
/// that was theirs, the links and rows of their person, and every dead letter whose payload
/// (as text or base64) names them; then logs the erasure in [`FORGET_REQUESTS`]. The deleted
/// rows stay in old file versions until [`vacuum`].
///
/// Only the user's own ids are followed: the anonymous ids linked to this user id (in
/// `identities`; without it, the anonymous ids seen with this user and no other). Another
/// user id, even one merged into this person by an `alias`, is another user's and stays, and
/// so do the rows of another user on a shared device.
///
/// Tables are erased one after another (Delta has no commit across tables); a delete whose
/// commit conflicts with a concurrent writer's is retried on the new version, and an erasure
/// that fails part way is completed by running it again (it is idempotent). The erasure log is
/// written last, so it records completed erasures only.
pub async fn forget(lake: &Lake, user_id: &str, requested_by: &str) -> Result<ForgetReport, LakeError> {
    let requested_at = chrono::Utc::now();
    let ctx = sql::session(lake).await?;
    let mut anonymous = anonymous_ids_of(&ctx, user_id).await?;
    anonymous.sort();
    anonymous.dedup();
    anonymous.retain(|id| id != user_id);
    let mut ids = vec![user_id.to_owned()];
    ids.extend(anonymous.iter().cloned());
    // Predicates name ids by their SHA-256 only: a delete's predicate is recorded in its
    // commit, which stays in the table's log.
    let user = hashed_list(&[user_id.to_owned()]);
    let all = hashed_list(&ids);

    let mut deleted = Vec::new();
    for name in sql::table_names(lake) {
        // The session has every existing table open already.
        if !ctx.table_exist(name.as_str())? {
            continue;
        }
        let schema = ctx.table_provider(name.as_str()).await?.schema();
        let has = |column: &str| schema.field_with_name(column).is_ok();
        let predicate = if name == DEAD_LETTERS {
            dead_letter_predicate(&ctx, user_id, &anonymous).await?
        } else {
            let mut terms = Vec::new();
            if has("user_id") {
                terms.push(format!("{} IN ({user})", sha256_of("user_id")));
                if has("anonymous_id") && !anonymous.is_empty() {
                    terms.push(format!(
                        "(user_id IS NULL AND {} IN ({}))",
                        sha256_of("anonymous_id"),
                        hashed_list(&anonymous)
                    ));
                }
            }
            if has("previous_id") {
                terms.push(format!("{} IN ({user})", sha256_of("previous_id")));
            }
            // Rows of the person (sessions, segments, scores) and links of their ids. Not
            // `events` by `person_id`: an event's person may be one another user was merged
            // into, and that user's events are theirs.
            if has("person_id") && name != EVENTS {
                terms.push(format!("{} IN ({all})", sha256_of("person_id")));
            }
            if has("id") && has("person_id") {
                terms.push(format!("{} IN ({all})", sha256_of("id")));
            }
            (!terms.is_empty()).then(|| terms.join(" OR "))
        };
        let Some(predicate) = predicate else { continue };
        let rows = delete_where(lake, &name, &predicate).await?;
        deleted.push((name, rows));
    }
    let secret = crate::secret::lake_secret(lake).await?;
    let request_id = uuid::Uuid::new_v4().to_string();
    log_request(lake, &request_id, requested_at, requested_by, &secret.subject_hash(user_id), ids.len(), &deleted)
        .await?;
    Ok(ForgetReport { request_id, ids, deleted })
}

/// `column`'s SHA-256 as hex, in SQL.
fn sha256_of(column: &str) -> String {
    format!("encode(sha256({column}), 'hex')")
}

/// The SHA-256 (hex) of each of `ids`, as a SQL list of string literals.
fn hashed_list(ids: &[String]) -> String {
    use sha2::Digest;
    let hex = |id: &String| sha2::Sha256::digest(id.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    ids.iter().map(|id| format!("'{}'", hex(id))).collect::<Vec<_>>().join(", ")
}

/// Removes the commits before the latest version of table `name` from its log, behind a
/// checkpoint of that version: older commits hold the statistics (minimum and maximum values)
/// of files that held the erased rows, and the log would keep them for its retention (30 days).
/// Time travel to before the erasure goes with them, as it goes with [`vacuum`].
async fn compact_log(lake: &Lake, name: &str) -> Result<(), LakeError> {
    let Some(table) = lake.open_table(name).await? else { return Ok(()) };
    let Some(version) = table.version() else { return Ok(()) };
    deltalake::checkpoints::create_checkpoint(&table, None).await?;
    let now = chrono::Utc::now().timestamp_millis();
    deltalake::checkpoints::cleanup_expired_logs_for(version, table.log_store().as_ref(), now, None).await?;
    Ok(())
}

/// Deletes the rows of table `name` matching `predicate`; retried on a fresh version when the
/// commit conflicts with another writer's. Returns the rows deleted.
async fn delete_where(lake: &Lake, name: &str, predicate: &str) -> Result<usize, LakeError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(table) = lake.open_table(name).await? else { return Ok(0) };
        let ctx = SessionContext::new();
        table.update_datafusion_session(&ctx.state())?;
        ctx.register_table("t", table.table_provider().await?)?;
        let counted = ctx.sql(&format!("SELECT count(*) FROM t WHERE {predicate}")).await?.collect().await?;
        let rows = counted.first().map_or(0, |b| b.column(0).as_primitive::<Int64Type>().value(0)) as usize;
        if rows == 0 {
            return Ok(0);
        }
        match table.delete().with_predicate(predicate.to_owned()).await {
            Ok(_) => {
                compact_log(lake, name).await?;
                return Ok(rows);
            }
            Err(error) if attempt < DELETE_ATTEMPTS => {
                tracing::warn!(table = name, %error, attempt, "erasing: the delete did not commit; retrying");
                tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Appends the rows of one completed erasure to [`FORGET_REQUESTS`].
async fn log_request(
    lake: &Lake,
    request_id: &str,
    requested_at: chrono::DateTime<chrono::Utc>,
    requested_by: &str,
    subject_hash: &str,
    ids: usize,
    deleted: &[(String, usize)],
) -> Result<(), LakeError> {
    use deltalake::arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    let completed_at = chrono::Utc::now().timestamp_micros();
    let n = deleted.len();
    let text = |value: &str| std::sync::Arc::new(StringArray::from(vec![value; n]));
    let time = |micros: i64| std::sync::Arc::new(TimestampMicrosecondArray::from(vec![micros; n]).with_timezone("UTC"));
    let batch = RecordBatch::try_new(
        forget_requests_schema(),
        vec![
            text(request_id),
            time(requested_at.timestamp_micros()),
            time(completed_at),
            text(requested_by),
            text(subject_hash),
            std::sync::Arc::new(Int64Array::from(vec![ids as i64; n])),
            std::sync::Arc::new(StringArray::from(deleted.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>())),
            std::sync::Arc::new(Int64Array::from(deleted.iter().map(|(_, r)| *r as i64).collect::<Vec<_>>())),
        ],
    )?;
    let mut table = crate::table::LakeTable::open(lake, FORGET_REQUESTS, forget_requests_schema(), &[]).await?;
    table.append(batch, FORGET_APP_ID, completed_at).await
}

/// The anonymous ids that are `user_id`'s own: linked to that user id in `identities` and never
/// a user id themselves; without `identities` (raw events only), the anonymous ids seen with
/// this user and no other.
async fn anonymous_ids_of(ctx: &SessionContext, user_id: &str) -> Result<Vec<String>, LakeError> {
    let user = quote(user_id);
    let query = if ctx.table_exist(IDENTITIES)? {
        let users_of = |table: &str| format!("SELECT user_id FROM {table} WHERE user_id IS NOT NULL");
        let mut known_users = Vec::new();
        for table in [EVENTS, RAW_EVENTS] {
            if ctx.table_exist(table)? {
                known_users.push(users_of(table));
            }
        }
        let not_users = if known_users.is_empty() {
            String::new()
        } else {
            format!(" AND id NOT IN ({})", known_users.join(" UNION ALL "))
        };
        // An id linked to someone else too (two streams, or after the processor forgot it) may
        // be theirs: it stays.
        format!(
            "SELECT DISTINCT id FROM {IDENTITIES} WHERE person_id = {user}{not_users} \
             AND id NOT IN (SELECT id FROM {IDENTITIES} WHERE person_id <> {user})"
        )
    } else if ctx.table_exist(RAW_EVENTS)? {
        format!(
            "SELECT anonymous_id FROM {RAW_EVENTS} WHERE anonymous_id IN \
             (SELECT anonymous_id FROM {RAW_EVENTS} WHERE user_id = {user} AND anonymous_id IS NOT NULL) \
             AND user_id IS NOT NULL GROUP BY anonymous_id HAVING count(DISTINCT user_id) = 1"
        )
    } else {
        return Ok(Vec::new());
    };
    let found = ctx.sql_with_options(&query, sql::read_only()).await?.collect().await?;
    Ok(found.iter().flat_map(|b| strings(b, 0)).collect())
}

/// The dead letters that name the user: their payload's `userId` or `previousId` is the user
/// id, or (without a user id) its `anonymousId` is one of theirs; a payload that is not one
/// message, if it names one of their ids. As a predicate on (`endpoint`, `log_offset`), which
/// together name the letters of one record (offsets alone are of different logs), or `None`.
async fn dead_letter_predicate(
    ctx: &SessionContext,
    user_id: &str,
    anonymous: &[String],
) -> Result<Option<String>, LakeError> {
    if !ctx.table_exist(DEAD_LETTERS)? {
        return Ok(None);
    }
    let user = quote(user_id);
    let mut condition =
        format!("json_get_str(payload, 'userId') = {user} OR json_get_str(payload, 'previousId') = {user}");
    // Payloads that are not one message (bodies that failed whole) are searched as text.
    let mentions: Vec<String> = std::iter::once(user_id)
        .chain(anonymous.iter().map(String::as_str))
        .map(|id| format!("strpos(payload, {}) > 0", quote(&serde_json::Value::from(id).to_string())))
        .collect();
    condition.push_str(&format!(" OR (json_get_str(payload, 'type') IS NULL AND ({}))", mentions.join(" OR ")));
    if !anonymous.is_empty() {
        condition.push_str(&format!(
            " OR (json_get_str(payload, 'userId') IS NULL AND json_get_str(payload, 'anonymousId') IN ({}))",
            list(anonymous)
        ));
    }
    let found = ctx
        .sql_with_options(
            &format!("SELECT endpoint, log_offset FROM {DEAD_LETTERS} WHERE {condition}"),
            sql::read_only(),
        )
        .await?
        .collect()
        .await?;
    let mut letters: std::collections::BTreeMap<String, Vec<i64>> = std::collections::BTreeMap::new();
    for batch in &found {
        let endpoints = strings(batch, 0);
        let offsets = batch.column(1).as_primitive::<Int64Type>();
        if endpoints.len() != batch.num_rows() {
            return Err(LakeError::BadLocation("dead_letters: a letter without endpoint".into()));
        }
        for (row, endpoint) in endpoints.into_iter().enumerate() {
            letters.entry(endpoint).or_default().push(offsets.value(row));
        }
    }
    // Bodies that were not UTF-8 are kept as base64: decoded, and searched as bytes.
    let encoded = ctx
        .sql_with_options(
            &format!(
                "SELECT endpoint, log_offset, payload_base64 FROM {DEAD_LETTERS} WHERE payload_base64 IS NOT NULL"
            ),
            sql::read_only(),
        )
        .await?
        .collect()
        .await?;
    let needles: Vec<&[u8]> =
        std::iter::once(user_id).chain(anonymous.iter().map(String::as_str)).map(str::as_bytes).collect();
    for batch in &encoded {
        let (endpoints, offsets) = (strings(batch, 0), batch.column(1).as_primitive::<Int64Type>());
        let payloads = strings(batch, 2);
        if endpoints.len() != batch.num_rows() || payloads.len() != batch.num_rows() {
            return Err(LakeError::BadLocation("dead_letters: a letter without endpoint".into()));
        }
        for (row, (endpoint, payload)) in endpoints.into_iter().zip(payloads).enumerate() {
            use base64::Engine;
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(payload.as_bytes()) else { continue };
            if needles.iter().any(|n| !n.is_empty() && bytes.windows(n.len()).any(|w| w == *n)) {
                letters.entry(endpoint).or_default().push(offsets.value(row));
            }
        }
    }
    let letters: Vec<String> = letters
        .into_iter()
        .map(|(endpoint, mut offsets)| {
            offsets.sort_unstable();
            offsets.dedup();
            let offsets: Vec<String> = offsets.iter().map(i64::to_string).collect();
            format!("(endpoint = {} AND log_offset IN ({}))", quote(&endpoint), offsets.join(", "))
        })
        .collect();
    Ok((!letters.is_empty()).then(|| letters.join(" OR ")))
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
