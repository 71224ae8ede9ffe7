//! # notifspec
//!
//! A conformance test harness and protocol simulator for the *notif* line protocol: a client
//! asks `random?` and `classified?`, and can enter a notification mode in which the server
//! pushes `notif: random` / `notif: classified` until the client sends `stop_notif`. notifspec
//! answers one question: *does this implementation follow the notif / stop_notif rules?*
//!
//! ## Layout
//! - [`dialect`]: spellings and options, loaded from YAML; built-ins compiled in.
//! - [`rule`]: the rule catalog (stable IDs such as `S-NOTIF-WINDOW`).
//! - [`checker`]: the sans-IO oracle that applies the rules to any conversation.
//! - [`transcript`]: the `C:`/`S:` format: model, parser, writer.
//! - [`wire`]: sans-IO line framing with the length limit enforced while reading.
//! - [`choices`]: where the seed leaves a server's behaviour open, the legal alternatives
//!   (the reference server takes any, by `--choice`; the checker accepts all).
//! - [`proto`]: sans-IO reference peers (server session, client session, availability).
//! - [`net`]: the tokio shell: listener, connections, control port, client, proxy.
//! - [`replay`]: plays a transcript against a server or a client.
//! - [`sim`]: the deterministic simulator.
//! - [`conform`]: the conformance suite runner behind `notifspec conform`.
//! - [`report`]: verdicts of `check` and `replay` as text and JSON (JUnit: `conform::junit`).
//! - [`bench`](mod@bench): `notifspec bench`: the reference server measured next to baselines.
//! - [`yaml`]: YAML files into typed values, errors as `file:line:column`.
//! - [`cmd`]: one module per subcommand (arguments and `run`); `main.rs` only dispatches.
//!
//! ## Independence rule
//! The checker is the oracle. It imports only [`dialect`], [`rule`] and [`transcript`] —
//! never the reference peers, the framing or the simulator — and classifies lines itself.
//! The reference server and client are checked *by* it in every test, so a bug has to be
//! made twice, independently, to hide. `tests/it/independence.rs` enforces this.

pub mod bench;
pub mod checker;
pub mod choices;
pub mod cmd;
pub mod conform;
pub mod dialect;
pub mod net;
pub mod proto;
pub mod replay;
pub mod report;
pub mod rule;
pub mod sim;
pub mod transcript;
pub mod wire;
pub mod yaml;

pub use checker::{Checker, Event, EventKind, Violation};
pub use dialect::{Dialect, ItemKind};
pub use rule::{Party, RuleId};
