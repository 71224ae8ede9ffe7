//! The deterministic protocol simulator behind `notifspec simulate`.
//!
//! Scripted tests check the conversations someone thought of; the simulator finds the ones
//! nobody did: thousands of clients with different habits, slow readers, abrupt
//! disconnects, `stop_notif` racing a notification. It runs the reference server (or any
//! [`SimServer`]) on a virtual clock with in-memory links, so a simulated hour takes seconds
//! and a seed reproduces a run exactly. Every connection is judged by the checker and by
//! end-to-end invariants; each violation is saved as a transcript, shrunk to the shortest
//! conversation that still shows it.
//!
//! Why a discrete-event engine rather than tokio's paused clock: the sans-IO peers need no
//! runtime at all, so the engine pops the next event and advances its own clock to it. There
//! is no scheduler whose task order could vary, no socket, no wall clock: determinism holds
//! by construction, and a message costs a few function calls rather than task wake-ups,
//! which is what makes 10,000 clients cheap. Only [`external`] runs on tokio (its tests use
//! the paused clock).
//!
//! - [`scenario`]: the YAML model and its validation.
//! - `behaviour`: simulated clients built on the reference client session.
//! - `engine`: the event queue, links and bookkeeping.
//! - `invariants`: lost notifications, duplicates, promises, memory.
//! - `observe`: one connection watched from the server's seat (checker + invariants).
//! - [`shrink`]: delta debugging over a connection's script.
//! - [`report`]: what a run found, as text or JSON.
//! - [`external`]: the same against a server over TCP, in real time.

pub mod external;
pub mod report;
pub mod scenario;
pub mod server;
pub mod shrink;

mod behaviour;
mod engine;
mod invariants;
mod observe;
mod rng;
mod run;

use std::time::Duration;

pub use run::{MAX_SAVED, SimError, SimOptions, SimResult, is_ours, simulate};
pub use scenario::{LoadedScenario, Scenario, ScenarioError};
pub use server::{ConnId, Item, ReferenceServer, ServerFactory, SimServer};

/// Virtual time in microseconds since the start of the run.
pub(crate) type Tick = u64;

/// Silences at least this long are fed to the checker (and written) as `! quiet`.
pub(crate) const QUIET_MIN: Tick = 1_000_000;

pub(crate) fn to_tick(d: Duration) -> Tick {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `12.345s`: virtual time for messages and reports.
pub(crate) fn fmt_tick(t: Tick) -> String {
    format!("{}.{:03}s", t / 1_000_000, (t % 1_000_000) / 1000)
}
