//! Transforms: SQL files, one folder per layer (`transforms/gold/daily_revenue.sql`), each
//! building the table of its name from the lake's tables, run as jobs.
//!
//! A job run is incremental: it finds the days that received new rows in its source table
//! (`raw_events`, or the processor's `events`) since its last run (the `log_offset` it reached is recorded in its own commits, as a Delta `txn`). A result
//! with a `date` column (the output's partition) is rebuilt day by day: the query gets a
//! `raw_events` holding only those days, and those days of the output are replaced in one
//! commit; running an interval again (`--from`/`--to`) recomputes and replaces it, so a re-run
//! gives the same table. A result without one (`persons`) is rebuilt whole when anything new
//! arrived.

use crate::error::LakeError;
use crate::location::Lake;
use crate::schema::RAW_EVENTS;
use crate::sql;
use chrono::NaiveDate;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::{DataType, Date32Type, Int64Type};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::{col, lit};
use deltalake::datafusion::scalar::ScalarValue;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTableBuilder;
use std::path::Path;
use std::sync::Arc;

/// The column every transform's result has, and its output's partition.
pub const DATE_COLUMN: &str = "date";

/// The transforms that ship with footfall (the repository's `transforms/` folder).
const BUILTIN: &[(&str, &str, &str)] = &[
    ("gold", "daily_event_counts", include_str!("../../../transforms/gold/daily_event_counts.sql")),
    ("gold", "daily_revenue", include_str!("../../../transforms/gold/daily_revenue.sql")),
    ("silver", "persons", include_str!("../../../transforms/silver/persons.sql")),
];

/// One SQL transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// The name of the job and of the table it builds.
    pub name: String,
    /// Its layer (`silver`, `gold`): the folder it lives in.
    pub layer: String,
    /// The query.
    pub sql: String,
}

/// Which days a job run rebuilds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// The days that received bronze rows since the job's last run.
    New,
    /// Every day from `from` to `to`, both included.
    Days {
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
    },
}

/// What a job run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobReport {
    /// The days rebuilt.
    pub days: Vec<NaiveDate>,
    /// Rows written for them.
    pub rows: usize,
    /// The bronze `log_offset` the job has now read up to (exclusive), when it moved.
    pub up_to_offset: Option<i64>,
}

impl Transform {
    /// The transforms that ship with footfall.
    pub fn builtin() -> Vec<Transform> {
        BUILTIN
            .iter()
            .map(|(layer, name, sql)| Transform {
                name: name.to_string(),
                layer: layer.to_string(),
                sql: sql.to_string(),
            })
            .collect()
    }

    /// The transforms in `dir`: every `LAYER/NAME.sql`.
    pub fn from_dir(dir: &Path) -> Result<Vec<Transform>, LakeError> {
        let io = |path: &Path, source| LakeError::Io { path: path.to_path_buf(), source };
        let mut found = Vec::new();
        for layer in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let layer = layer.map_err(|e| io(dir, e))?.path();
            if !layer.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&layer).map_err(|e| io(&layer, e))? {
                let path = file.map_err(|e| io(&layer, e))?.path();
                let (Some(name), Some("sql")) =
                    (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|e| e.to_str()))
                else {
                    continue;
                };
                let sql = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
                let layer_name = layer.file_name().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
                found.push(Transform { name: name.to_owned(), layer: layer_name, sql });
            }
        }
        found.sort_by(|a, b| (&a.layer, &a.name).cmp(&(&b.layer, &b.name)));
        Ok(found)
    }

    /// The transform called `name`: from `dir` when given and it has one, else built in.
    pub fn find(name: &str, dir: Option<&Path>) -> Result<Transform, LakeError> {
        let mut all = match dir {
            Some(dir) => Transform::from_dir(dir)?,
            None => Vec::new(),
        };
        all.extend(Transform::builtin());
        all.into_iter().find(|t| t.name == name).ok_or_else(|| LakeError::UnknownTransform(name.to_owned()))
    }

    /// The table whose new rows (by `log_offset`, per `event_date`) trigger this job: the bronze
    /// `raw_events` when the query reads it, else the silver `events`.
    pub fn source_table(&self) -> &'static str {
        if self.sql.contains(RAW_EVENTS) {
            RAW_EVENTS
        } else {
            crate::processed::EVENTS
        }
    }

    /// The application id of this job's progress marks (`txn`) in its output's commits.
    pub fn app_id(&self) -> String {
        format!("footfall-job-{}", self.name)
    }

    /// Runs the job over `interval`; see the module documentation.
    pub async fn run(&self, lake: &Lake, interval: Interval) -> Result<JobReport, LakeError> {
        let output = lake.open_table(&self.name).await?;
        let ctx = sql::session(lake).await?;
        let source = self.source_table();
        if !ctx.table_exist(source)? {
            return Err(LakeError::MissingTable(source.to_owned()));
        }
        let (days, up_to_offset) = match interval {
            Interval::Days { from, to } => (from.iter_days().take_while(|d| *d <= to).collect(), None),
            Interval::New => {
                let start = match &output {
                    Some(table) => {
                        table.snapshot()?.transaction_version(table.log_store().as_ref(), &self.app_id()).await?
                    }
                    None => None,
                };
                let new = ctx
                    .sql(&format!(
                        "SELECT event_date, max(log_offset) FROM {source} WHERE log_offset >= {} GROUP BY event_date",
                        start.unwrap_or(0)
                    ))
                    .await?
                    .collect()
                    .await?;
                new_days(&new)
            }
        };
        let mut report = JobReport { days, rows: 0, up_to_offset };
        if report.days.is_empty() {
            return Ok(report);
        }

        // A result without a `date` column is a whole table, rebuilt whole; one with it is
        // rebuilt day by day, and the query sees only the days being rebuilt.
        let planned = ctx.sql_with_options(&self.sql, sql::read_only()).await?;
        let by_day = planned.schema().has_column_with_unqualified_name(DATE_COLUMN);
        let frame = if by_day {
            let day_values = report.days.iter().map(|d| lit(ScalarValue::Date32(Some(days_since_epoch(*d))))).collect();
            let days = ctx.table(source).await?.filter(col("event_date").in_list(day_values, false))?;
            ctx.deregister_table(source)?;
            ctx.register_table(source, days.into_view())?;
            ctx.sql_with_options(&self.sql, sql::read_only()).await?
        } else {
            planned
        };
        let schema = Arc::new(frame.schema().as_arrow().clone());
        if by_day && !matches!(schema.field_with_name(DATE_COLUMN).map(|f| f.data_type()), Ok(DataType::Date32)) {
            return Err(LakeError::BadTransform {
                name: self.name.clone(),
                reason: format!("its `{DATE_COLUMN}` column must be of type DATE"),
            });
        }
        let mut batches = frame.collect().await?;
        report.rows = batches.iter().map(RecordBatch::num_rows).sum();
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }

        let mut commit = CommitProperties::default();
        if let Some(offset) = report.up_to_offset {
            commit = commit.with_application_transaction(Transaction::new(self.app_id(), offset));
        }
        let write = match (output, by_day) {
            (Some(table), true) => {
                let days = report.days.iter().map(|d| format!("DATE '{d}'")).collect::<Vec<_>>().join(", ");
                table
                    .write(batches)
                    .with_save_mode(SaveMode::Overwrite)
                    .with_replace_where(format!("\"{DATE_COLUMN}\" IN ({days})"))
                    .with_partition_columns([DATE_COLUMN])
            }
            (Some(table), false) => table.write(batches).with_save_mode(SaveMode::Overwrite),
            (None, by_day) => {
                let write = DeltaTableBuilder::from_url(lake.table_url(&self.name)?)?
                    .build()?
                    .write(batches)
                    .with_save_mode(SaveMode::Append)
                    .with_table_name(&self.name);
                if by_day {
                    write.with_partition_columns([DATE_COLUMN])
                } else {
                    write
                }
            }
        };
        write.with_commit_properties(commit).await?;
        Ok(report)
    }
}

/// The days of `(event_date, max(log_offset))` rows, and the offset after the last.
fn new_days(batches: &[RecordBatch]) -> (Vec<NaiveDate>, Option<i64>) {
    let mut days = Vec::new();
    let mut last: Option<i64> = None;
    for batch in batches {
        let dates = batch.column(0).as_primitive::<Date32Type>();
        let offsets = batch.column(1).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            if let Some(day) = (!dates.is_null(row)).then(|| Date32Type::to_naive_date_opt(dates.value(row))).flatten()
            {
                days.push(day);
            }
            if !offsets.is_null(row) {
                last = last.max(Some(offsets.value(row)));
            }
        }
    }
    days.sort();
    (days, last.map(|l| l + 1))
}

/// `day` as Arrow's `Date32`: days since 1970-01-01.
fn days_since_epoch(day: NaiveDate) -> i32 {
    Date32Type::from_naive_date(day)
}
