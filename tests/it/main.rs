//! The single integration-test binary (one link step for all integration tests).

mod bench;
mod check;
mod client;
mod conform;
mod independence;
mod pipelining;
mod proxy;
mod replay;
mod robustness;
mod server;
mod simulate;
mod variants;
