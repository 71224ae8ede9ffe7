//! The single integration-test binary (one link step for all integration tests).

mod check;
mod independence;
mod robustness;
mod server;
