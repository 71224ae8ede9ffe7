//! The conformance suite behind `notifspec conform` and `tests/conformance.rs`.
//!
//! The suite is data: Gherkin features (`features/*.feature`, one per protocol area, every
//! scenario tagged with the rule IDs it checks) and transcripts, compiled into the binary so
//! an installed `notifspec` carries it. A small runner of our own executes it, rather than
//! cucumber's: the gate needs per-rule tables, JUnit, expected failures, skip reasons and a
//! bound on every step, and the same runner serves `cargo test` and the CLI.
//!
//! - [`suite`]: the embedded features and transcripts, parsed and expanded into scenarios.
//! - [`steps`]: the step sentences, one file per domain, parsed into [`steps::Step`]s.
//! - [`world`]: the state of one scenario (named peers, the scripted server) and the step
//!   methods; [`peer`] is one raw connection with its own checker.
//! - [`target`] and [`reference`](mod@reference): what runs under test; [`items`]: how items appear on it
//!   (control port, `--publish-cmd`, or the server's own publishing).
//! - [`runner`]: selection, skipping, timeouts, parallelism; [`outcome`]: results and the
//!   per-rule view; [`render`] and [`junit`]: text, JSON and JUnit output.
//! - [`expect`]: known failures, as given with `--expect-fail`.
//! - [`own`]: the user's own features and transcripts (`--features`, `--transcripts`).

pub mod expect;
pub mod failure;
pub mod items;
pub mod junit;
pub mod outcome;
pub mod own;
pub mod pattern;
pub mod peer;
pub mod reference;
pub mod render;
pub mod runner;
pub mod scripted;
mod spontaneous;
pub mod steps;
pub mod suite;
pub mod target;
pub mod target_error;
mod transcripts;
pub mod world;

pub use expect::ExpectFail;
pub use outcome::{Outcome, RunReport, ScenarioReport};
pub use runner::{Options, run};
pub use suite::Suite;
pub use target::{ConformTarget, TargetError};
