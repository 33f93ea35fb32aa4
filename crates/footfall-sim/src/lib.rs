//! footfall's customer simulator: a population of shoppers with personas who visit a shop in
//! sessions and produce Segment e-commerce events, in a daily and weekly rhythm, some of them
//! anonymous until they log in, some of them churning. Deterministic for a given seed.
//!
//! [`Simulator`] yields `(event time, message)` pairs in event-time order; the binary decides
//! whether to replay a past period as fast as possible or to emit at a live rate.

pub mod catalog;
pub mod persona;
pub mod session;
pub mod simulator;
pub mod traffic;
pub mod user_agent;

pub use persona::Persona;
pub use simulator::{SimConfig, SimEvent, Simulator};
