//! Client role: notifspec connects to a server (the one given, or an embedded reference server
//! started for this replay alone) and sends the `C:` lines.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use super::control::Control;
use super::script::{Engine, Findings};
use super::shell::drive;
use crate::dialect::Dialect;
use crate::net::server::{ServerBuilder, ServerHandle};

/// Where the server under test is.
#[derive(Debug, Clone)]
pub struct ServerTarget {
    /// Its protocol address.
    pub addr: String,
    /// Its control port, if known: lets replay make items appear.
    pub control: Option<String>,
}

/// Replays against `target`; connection failures become the findings' error.
pub async fn run(
    engine: Engine,
    dialect: &Dialect,
    target: &ServerTarget,
    timeout: Duration,
) -> Findings {
    let mut control = match &target.control {
        Some(addr) => match Control::connect(addr, timeout).await {
            Ok(c) => Some(c),
            Err(e) => return engine.abandon(e),
        },
        None => None,
    };
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&target.addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return engine.abandon(format!("cannot connect to {}: {e}", target.addr)),
        Err(_) => {
            return engine.abandon(format!(
                "cannot connect to {}: no answer within {}",
                target.addr,
                humantime::format_duration(timeout)
            ));
        }
    };
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    drive(engine, dialect, read, write, control.as_mut()).await
}

/// A reference server started in-process for one replay, so that publishes made for one
/// transcript cannot show up in another replayed concurrently.
#[derive(Debug)]
pub struct EmbeddedServer {
    handle: ServerHandle,
    target: ServerTarget,
}

impl EmbeddedServer {
    /// Starts a server speaking `dialect` on an ephemeral loopback port, with its control port.
    pub async fn start(dialect: &Dialect) -> Result<EmbeddedServer, String> {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let handle = ServerBuilder::new()
            .dialect(dialect.clone())
            .addr(loopback)
            .control(loopback)
            .start()
            .await
            .map_err(|e| format!("cannot start the embedded server: {e}"))?;
        let (Some(addr), Some(control)) = (handle.local_addr(), handle.control_addr()) else {
            return Err("the embedded server has no listening address".into());
        };
        Ok(EmbeddedServer {
            handle,
            target: ServerTarget {
                addr: addr.to_string(),
                control: Some(control.to_string()),
            },
        })
    }

    /// Where it listens.
    pub fn target(&self) -> &ServerTarget {
        &self.target
    }

    /// Stops it, waiting a bounded time for its connections to end.
    pub async fn stop(self) {
        if let Err(e) = self.handle.shutdown_within(Duration::from_secs(2)).await {
            tracing::debug!("embedded server shutdown: {e}");
        }
    }
}
