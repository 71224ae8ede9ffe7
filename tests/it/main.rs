//! The single integration-test binary (one link step for all integration tests).

mod bench;
mod check;
mod client;
mod conform;
// sh, mkfifo and process groups: Unix only.
#[cfg(unix)]
mod conform_items;
mod faults;
// Real processes, `ulimit -d`, bash's /dev/tcp and /proc: Linux only.
#[cfg(target_os = "linux")]
mod hostile_peers;
// Real processes, FIFOs, `ulimit -v` and /proc: Linux only.
#[cfg(target_os = "linux")]
mod hostile_files;
mod html;
mod independence;
mod junit_schema;
mod own;
mod pipelining;
mod proxy;
mod replay;
mod robustness;
mod server;
mod simulate;
mod variants;
