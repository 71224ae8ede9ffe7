//! Client role: notifspec connects to a server (the one given, or an embedded reference server
//! started for this replay alone) and sends the `C:` lines.

use std::time::Duration;

use tokio::net::TcpStream;

use super::control::{Control, Publisher};
use super::script::{Findings, ScriptRunner};
use super::shell::drive;
use crate::dialect::Dialect;
use crate::net::ServerBuilder;
use crate::publish_cmd::PublishCmd;

/// Where the server under test is.
#[derive(Debug, Clone)]
pub struct ServerTarget {
    /// Its protocol address.
    pub addr: String,
    /// Its control port, if known: lets replay make items appear.
    pub control: Option<String>,
    /// Otherwise, a command that makes items appear on it (`--publish-cmd`).
    pub publish_cmd: Option<PublishCmd>,
}

impl ServerTarget {
    /// A server at `addr` with no way to publish.
    pub fn new(addr: impl Into<String>) -> ServerTarget {
        ServerTarget {
            addr: addr.into(),
            control: None,
            publish_cmd: None,
        }
    }

    /// Whether replay can make items appear on it.
    pub fn can_publish(&self) -> bool {
        self.control.is_some() || self.publish_cmd.is_some()
    }
}

/// Replays against `target`; connection failures become the findings' error.
pub async fn run(
    runner: ScriptRunner,
    dialect: &Dialect,
    target: &ServerTarget,
    timeout: Duration,
) -> Findings {
    let mut publisher = match (&target.control, &target.publish_cmd) {
        (Some(addr), _) => match Control::connect(addr, timeout).await {
            Ok(c) => Some(Publisher::Port(c)),
            Err(e) => return runner.abandon(e.to_string()),
        },
        (None, Some(cmd)) => Some(Publisher::Command(cmd, timeout)),
        (None, None) => None,
    };
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&target.addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return runner.abandon(format!("cannot connect to {}: {e}", target.addr)),
        Err(_) => {
            return runner.abandon(format!(
                "cannot connect to {}: no answer within {}",
                target.addr,
                humantime::format_duration(timeout)
            ));
        }
    };
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    drive(runner, dialect, read, write, publisher.as_mut()).await
}

/// Replays against a reference server started in-process for this transcript alone (so that
/// what one replay publishes cannot show up in another running concurrently), over an
/// in-memory connection, publishing by direct calls. `idle_close` makes the server close a
/// connection its client leaves silent that long (for transcripts ending in `! expect close`).
pub async fn run_embedded(
    runner: ScriptRunner,
    dialect: &Dialect,
    idle_close: Option<Duration>,
) -> Findings {
    let mut builder = ServerBuilder::new()
        .dialect(dialect.clone())
        .without_listener();
    if let Some(idle) = idle_close {
        builder = builder.idle_timeout(idle);
    }
    let server = match builder.start().await {
        Ok(s) => s,
        Err(e) => return runner.abandon(format!("cannot start the embedded server: {e}")),
    };
    let stream = match server.connect_in_memory() {
        Ok(s) => s,
        Err(e) => return runner.abandon(format!("cannot connect to the embedded server: {e}")),
    };
    // What is available depends on what was published before the server set the connection
    // up (the number current at connect counts as seen): wait until it has, so a transcript
    // that publishes first sees its publish as new, as recorded.
    let registered = tokio::time::timeout(Duration::from_secs(2), async {
        while server.stats().open_connections == 0 {
            tokio::task::yield_now().await;
        }
    });
    if registered.await.is_err() {
        return runner.abandon("the embedded server did not take the connection".into());
    }
    let (read, write) = tokio::io::split(stream);
    let mut publisher = Publisher::Embedded(&server);
    let findings = drive(runner, dialect, read, write, Some(&mut publisher)).await;
    drop(publisher);
    if let Err(e) = server.shutdown_within(Duration::from_secs(2)).await {
        tracing::debug!("embedded server shutdown: {e}");
    }
    findings
}
