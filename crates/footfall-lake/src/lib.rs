//! footfall's lakehouse: the bronze Delta Lake tables written from the event log.
//!
//! This first part holds the tables' schemas and the conversion of stored log records into
//! Arrow record batches ([`RawEventsBuilder`], [`DeadLettersBuilder`]). The columns are
//! standard Delta types (strings, UTC microsecond timestamps, dates), so Spark, DuckDB,
//! Polars and Snowflake read them as they are. Arrow comes through `deltalake`'s re-export,
//! so the tree holds one Arrow version.

pub mod dead_letters;
pub mod error;
pub mod loader;
pub mod raw_events;
pub mod rows;
pub mod schema;
pub mod sql;
pub mod table;

pub use deltalake::arrow;

pub use dead_letters::DeadLettersBuilder;
pub use error::LakeError;
pub use loader::{LoadReport, Loader, LOADER_APP_ID};
pub use raw_events::RawEventsBuilder;
pub use rows::TableRows;
pub use table::LakeTable;
