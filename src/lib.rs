//! # notifspec
//!
//! A conformance test harness and protocol simulator for the *notif* line protocol: a client
//! asks `random?` and `classified?`, and can enter a notification mode in which the server
//! pushes `notif: random` / `notif: classified` until the client sends `stop_notif`. notifspec
//! answers one question: *does this implementation follow the notif / stop_notif rules?*
//!
//! ## Layout
//! The oracle is its own crate, `notifspec-check` (`crates/notifspec-check`), re-exported here
//! under the same paths:
//! - [`rule`]: the rule catalog (stable IDs such as `S-NOTIF-WINDOW`).
//! - [`dialect`]: spellings and options as plain data, loaded from YAML; built-ins compiled in.
//! - [`event`]: the event model every conversation becomes before it is judged.
//! - [`transcript`]: the `C:`/`S:` format: model, parser, writer, the conversion to events.
//! - [`checker`]: the sans-IO oracle that applies the rules to any conversation.
//! - [`yaml`]: YAML files into typed values, errors as `file:line:column`.
//! - [`fsio`]: reading untrusted files (regular only, bounded, paths confined) and creating
//!   outputs without following links or overwriting.
//!
//! The rest of this crate is the reference peers and the harness around them:
//! - [`escape`]: peer bytes and file names made safe to print on a terminal.
//! - [`wire`]: sans-IO line framing with the length limit enforced while reading.
//! - [`choices`]: where the seed leaves a server's behaviour open, the legal alternatives
//!   (the reference server takes any, by `--choice`; the checker accepts all).
//! - [`proto`]: sans-IO reference peers (server session, client session, availability).
//! - [`net`]: the tokio shell: listener, connections, control port, client, proxy.
//! - [`process`]: the client command under test, in a process group killed as a whole.
//! - [`publish_cmd`]: `--publish-cmd`, items made to appear on a server without a control port.
//! - [`replay`]: plays a transcript against a server or a client.
//! - [`sim`]: the deterministic simulator.
//! - [`conform`]: the conformance suite runner behind `notifspec conform`.
//! - [`html`]: the self-contained HTML report with sequence diagrams (`--html FILE`).
//! - [`report`]: verdicts of `check` and `replay` as text and JSON (JUnit: `conform::junit`).
//! - [`check_files`]: transcript files found in folders and judged one by one, streamed.
//! - [`control_client`]: the one client of a server's control port (replay, simulator, suite).
//! - [`histogram`]: the one latency histogram (simulator and benchmarks, each its bucket layout).
//! - [`bench`](mod@bench): `notifspec bench`: the reference server measured next to baselines.
//! - [`cmd`]: one module per subcommand (arguments and `run`); `main.rs` only dispatches.
//!
//! `docs/architecture.md` draws the layers (imports only point down) and follows one line
//! from the socket to a verdict: framing ([`wire`]), the driver ([`replay`], [`sim`],
//! [`conform`], [`net::proxy`]), an [`Event`], the [`Checker`], a report.
//!
//! ## Independence rule
//! The checker is the oracle. Its crate depends on nothing of this one — never the reference
//! peers, the framing or the simulator — and classifies lines itself; the reference peers read
//! lines with their own code ([`proto::lines`]). The reference server and client are checked
//! *by* it in every test, so a bug has to be made twice, independently, to hide. Cargo enforces
//! the direction; `tests/it/independence.rs` keeps the oracle's dependency list fixed.

pub mod bench;
pub mod check_files;
pub mod choices;
pub mod cmd;
pub mod conform;
pub mod control_client;
pub mod escape;
pub mod histogram;
pub mod html;
pub mod net;
pub mod process;
pub mod proto;
pub mod publish_cmd;
pub mod replay;
pub mod report;
pub mod sim;
pub mod units;
pub mod wire;

pub use notifspec_check::{checker, dialect, event, fsio, rule, transcript, yaml};

pub use checker::{Checker, Violation};
pub use dialect::{Dialect, ItemKind};
pub use event::{Event, EventKind};
pub use rule::{Party, RuleId};
