//! Server role: notifspec listens, plays the `S:` lines to the client that connects (one it
//! starts itself with `--client-cmd`, or any other), and judges the client's lines.

use std::time::Duration;

use tokio::net::TcpListener;

use super::script::{Findings, ScriptRunner};
use super::shell::drive;
use crate::dialect::Dialect;
use crate::process::ClientGroup;

/// The client under test.
#[derive(Debug, Clone)]
pub struct ClientTarget {
    /// Where to listen (`127.0.0.1:0` for an ephemeral port).
    pub listen: String,
    /// A shell command that starts the client; `{addr}` is replaced by the listening address.
    pub client_cmd: Option<String>,
}

/// Replays against the first client that connects within `timeout`.
pub async fn run(
    runner: ScriptRunner,
    dialect: &Dialect,
    target: &ClientTarget,
    timeout: Duration,
) -> Findings {
    let listener = match TcpListener::bind(&target.listen).await {
        Ok(l) => l,
        Err(e) => return runner.abandon(format!("cannot listen on {}: {e}", target.listen)),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return runner.abandon(format!("cannot listen on {}: {e}", target.listen)),
    };
    tracing::info!("replay: listening on {addr}, waiting for the client under test");
    let mut child = match &target.client_cmd {
        Some(cmd) => match spawn(cmd, &addr.to_string()) {
            Ok(c) => Some(c),
            Err(e) => return runner.abandon(e),
        },
        None => None,
    };
    let accepted = tokio::select! {
        r = tokio::time::timeout(timeout, listener.accept()) => match r {
            Ok(Ok((stream, _))) => Ok(stream),
            Ok(Err(e)) => Err(format!("accepting a client on {addr}: {e}")),
            Err(_) => Err(format!(
                "no client connected to {addr} within {}",
                humantime::format_duration(timeout)
            )),
        },
        status = wait_child(&mut child) => Err(format!(
            "the client command exited ({status}) before connecting to {addr}"
        )),
    };
    let findings = match accepted {
        Ok(stream) => {
            drop(listener);
            let _ = stream.set_nodelay(true);
            let (read, write) = stream.into_split();
            drive(runner, dialect, read, write, None).await
        }
        Err(e) => runner.abandon(e),
    };
    // The whole group goes, whatever the client forked (also when this future is dropped).
    if let Some(child) = child {
        child.stop().await;
    }
    findings
}

/// Starts `cmd` through `sh -c` with `{addr}` substituted, in a process group of its own
/// (see [`crate::process`]); `exec` makes the client itself the group's leader, not a shell in
/// front of it.
fn spawn(cmd: &str, addr: &str) -> Result<ClientGroup, String> {
    let line = cmd.replace("{addr}", addr);
    ClientGroup::spawn(&format!("exec {line}"), true)
        .map_err(|e| format!("cannot start the client command `{line}`: {e}"))
}

/// Resolves when the child exits; never, if there is none.
async fn wait_child(child: &mut Option<ClientGroup>) -> String {
    match child {
        Some(c) => match c.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        },
        None => std::future::pending().await,
    }
}
