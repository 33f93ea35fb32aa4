//! The analyses against brute-force references.

mod funnel;
mod paths;
mod retention;
mod rfm;
mod trends;
