//! footfall's lakehouse: Delta Lake tables written from the event log, read with SQL.
//!
//! The loader ([`Loader`]) turns stored log records into Arrow record batches
//! ([`RawEventsBuilder`], [`DeadLettersBuilder`]) and commits them exactly once; [`sql`] runs
//! read-only DataFusion queries over every table; [`transform`] builds the gold tables from
//! SQL files; [`maintenance`] compacts, vacuums and erases people. The columns are standard
//! Delta types (strings, UTC microsecond timestamps, dates), so Spark, DuckDB, Polars and
//! Snowflake read the tables as they are. Arrow, Parquet and DataFusion come through
//! `deltalake`'s re-exports, so the tree holds one version of each.

pub mod dead_letters;
pub mod error;
pub mod loader;
pub mod location;
pub mod maintenance;
pub mod metrics;
pub mod processed;
pub mod processing;
pub mod raw_events;
pub mod rows;
pub mod schema;
pub mod secret;
pub mod sql;
pub mod stitching;
pub mod table;
pub mod transform;
pub mod window_funnel;

pub use deltalake::{arrow, datafusion, parquet};

pub use dead_letters::DeadLettersBuilder;
pub use error::LakeError;
pub use loader::{LoadReport, Loader, LOADER_APP_ID};
pub use location::Lake;
pub use processing::{ProcessReport, ProcessingJob, PROCESSOR_APP_ID};
pub use raw_events::RawEventsBuilder;
pub use rows::TableRows;
pub use table::LakeTable;
pub use transform::{Interval, JobReport, Transform};
