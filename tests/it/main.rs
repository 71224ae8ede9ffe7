//! The single integration-test binary (one link step for all integration tests).

mod check;
mod client;
mod independence;
mod proxy;
mod replay;
mod robustness;
mod server;
