//! The only tokio code of notifspec: a thin shell that pumps bytes and timers around the
//! sans-IO peers of [`crate::proto`].

pub mod client;
mod connection;
pub mod control;
mod link;
pub mod proxy;
pub mod server;
mod shared;
pub mod shutdown;

pub use server::{PublishSchedule, ServerBuilder, ServerError, ServerHandle, ServerStats};
