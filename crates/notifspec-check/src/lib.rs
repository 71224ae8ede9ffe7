//! # notifspec-check
//!
//! The oracle of notifspec, in a crate of its own so that the compiler, not a text search,
//! keeps it independent of the reference server and client it judges: this crate depends on
//! nothing of them, so a bug in a reference peer has to be made twice, independently, to hide.
//!
//! ## Layout
//! - [`rule`]: the rule catalog (stable IDs such as `S-NOTIF-WINDOW`), the sentence of each.
//! - [`dialect`]: spellings and options as plain data, loaded from YAML; built-ins compiled in.
//! - [`event`]: the event model every conversation becomes before it is judged.
//! - [`transcript`]: the `C:`/`S:` format: model, parser, writer, and the one conversion of a
//!   transcript into events.
//! - [`checker`]: the sans-IO oracle that applies the rules to a stream of events; it classifies
//!   lines itself.
//! - [`fsio`]: reading untrusted files (regular only, bounded, paths confined) and creating
//!   outputs without following links or overwriting.
//! - [`yaml`]: YAML files into typed values, errors as `file:line:column`.
//! - [`fsio`]: reading files notifspec does not trust (regular only, bounded, paths named
//!   inside confined to the naming file's folder) and creating results (never overwriting).

pub mod checker;
pub mod dialect;
pub mod event;
pub mod fsio;
pub mod rule;
pub mod transcript;
pub mod yaml;

pub use checker::{Checker, Violation};
pub use dialect::{Dialect, ItemKind};
pub use event::{Event, EventKind, Terminator};
pub use rule::{Party, RuleId};
