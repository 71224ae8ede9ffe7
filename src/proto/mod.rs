//! Sans-IO reference peers: plain state machines that take a line, a newly available item or
//! a tick and return the lines to send. No sockets, no clock reads: the tokio shell in
//! [`crate::net`] and the simulator in [`crate::sim`] drive them.
//!
//! They deliberately do not share code with [`crate::checker`]: the checker judges them.

pub mod availability;
pub mod client;
pub mod server;

pub use availability::{Feed, Items, ItemsView};
pub use server::{Mode, ServerSession};
