//! The single integration-test binary (one link step for all integration tests).

mod client;
mod check;
mod independence;
mod server;
