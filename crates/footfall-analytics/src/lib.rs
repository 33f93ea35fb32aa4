//! footfall's analyses. Each works on [`timeline::Timelines`]: every person's events (identity
//! stitched), in event-time order, loaded from the lake's silver `events` with
//! [`timeline::load`]. [`funnel`] computes conversion funnels, [`retention`] cohort retention,
//! [`paths`] what persons did next (or before), [`trends`] trends, lifecycle and stickiness, [`rfm`] RFM segments of buyers,
//! [`clusters`] behavioural k-means clusters and [`churn`] churn prediction, both over the
//! per-person [`features`].

pub mod churn;
pub mod churn_store;
pub mod clusters;
pub mod error;
pub mod features;
pub mod funnel;
pub mod paths;
pub mod retention;
pub mod rfm;
pub mod timeline;
pub mod trends;

pub use error::AnalyticsError;
pub use funnel::{compute_funnel, FunnelSpec, FunnelStep, Mode, StepResult};
pub use timeline::{Event, Timelines};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;
