//! What the suite runs against: the embedded references, a server at an address (with an
//! optional control port), or a client started by a command.
//!
//! Every scenario gets a fresh [`TargetSession`] or [`ClientProcess`]. For the embedded
//! reference server that means a fresh server (so scenarios are independent and can run side
//! by side); for an external server it means the same address, used one scenario at a time.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::steps::Item;
use crate::control_client::{ControlClient, ControlError};
use crate::dialect::{Dialect, ItemKind};
use crate::process::ClientGroup;

/// The implementation under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConformTarget {
    /// notifspec's own reference server and client (what `notifspec conform` checks by default).
    Reference,
    /// A server the user runs.
    Server {
        /// `host:port` of the protocol port.
        addr: String,
        /// `host:port` of the control port, if the server has one (needed to publish items).
        control: Option<String>,
    },
    /// A client the user provides: a shell command in which `{addr}` is replaced by the
    /// address notifspec listens on.
    ClientCmd(String),
    /// A client running in this process (a library user's client, or a test's), started
    /// once per scenario with the address to connect to.
    ClientFn(ClientFn),
}

/// Starts an in-process client under test: given the address to connect to, it returns the
/// client's whole run as a future, which notifspec spawns and aborts at the scenario's end.
#[derive(Clone)]
pub struct ClientFn(
    pub std::sync::Arc<dyn Fn(SocketAddr) -> futures::future::BoxFuture<'static, ()> + Send + Sync>,
);

impl ClientFn {
    /// Wraps `f`.
    pub fn new<F, Fut>(f: F) -> ClientFn
    where
        F: Fn(SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        ClientFn(std::sync::Arc::new(move |addr| Box::pin(f(addr))))
    }
}

impl std::fmt::Debug for ClientFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientFn(..)")
    }
}

impl PartialEq for ClientFn {
    /// The same closure (by pointer): enough to compare targets.
    fn eq(&self, other: &ClientFn) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ClientFn {}

impl ConformTarget {
    /// Whether server scenarios can run.
    pub fn has_server(&self) -> bool {
        matches!(
            self,
            ConformTarget::Reference | ConformTarget::Server { .. }
        )
    }

    /// Whether client scenarios can run.
    pub fn has_client(&self) -> bool {
        !matches!(self, ConformTarget::Server { .. })
    }

    /// Whether items can be published (control port or embedded server).
    pub fn has_control(&self) -> bool {
        match self {
            ConformTarget::Reference => true,
            ConformTarget::Server { control, .. } => control.is_some(),
            ConformTarget::ClientCmd(_) | ConformTarget::ClientFn(_) => false,
        }
    }

    /// Whether scenarios may run side by side: only when each gets its own server.
    pub fn parallel(&self) -> bool {
        !matches!(self, ConformTarget::Server { .. })
    }
}

pub use super::target_error::TargetError;

/// The server side of one scenario.
pub struct TargetSession {
    addr: String,
    control: Option<String>,
    _reference: Option<super::reference::RunningReference>,
}

impl std::fmt::Debug for TargetSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetSession")
            .field("addr", &self.addr)
            .field("control", &self.control)
            .finish()
    }
}

impl TargetSession {
    /// Starts (embedded, taking `choices`) or designates (external) the server for one
    /// scenario.
    pub async fn start(
        target: &ConformTarget,
        dialect: &Dialect,
        choices: crate::choices::Choices,
    ) -> Result<TargetSession, TargetError> {
        match target {
            ConformTarget::Reference => {
                let server = super::reference::RunningReference::start(dialect, choices).await?;
                Ok(TargetSession {
                    addr: server.addr().to_string(),
                    control: Some(server.control_addr().to_string()),
                    _reference: Some(server),
                })
            }
            ConformTarget::Server { addr, control } => Ok(TargetSession {
                addr: addr.clone(),
                control: control.clone(),
                _reference: None,
            }),
            ConformTarget::ClientCmd(_) | ConformTarget::ClientFn(_) => Err(TargetError::Connect {
                addr: "-".into(),
                reason: "the target is a client; server scenarios cannot run".into(),
            }),
        }
    }

    /// The protocol address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The control address, if any.
    pub fn control(&self) -> Option<&str> {
        self.control.as_deref()
    }

    /// Opens a connection to the server, bounded by `wait`.
    pub async fn connect(&self, wait: Duration) -> Result<TcpStream, TargetError> {
        connect(&self.addr, wait).await
    }

    /// Publishes an item through the control port and waits for its `OK`.
    pub async fn publish(&self, item: &Item, wait: Duration) -> Result<ItemKind, TargetError> {
        let addr = self.control.as_deref().ok_or(TargetError::NoControl)?;
        let (line, kind) = match item {
            Item::Random(None) => ("publish random".to_string(), ItemKind::Random),
            Item::Random(Some(n)) => (format!("publish random {n}"), ItemKind::Random),
            Item::Classified(text) => (format!("publish classified {text}"), ItemKind::Classified),
        };
        let control_err = |reason: String| TargetError::Control {
            addr: addr.to_string(),
            reason,
        };
        let exchange = async {
            let mut port = ControlClient::connect(addr, wait)
                .await
                .map_err(|e| match e {
                    ControlError::ConnectTimeout(_) => TargetError::Connect {
                        addr: addr.to_string(),
                        reason: format!("no answer within {wait:?}"),
                    },
                    other => TargetError::Connect {
                        addr: addr.to_string(),
                        reason: other.to_string(),
                    },
                })?;
            match port.request(&line).await {
                Ok(()) => Ok(kind),
                Err(ControlError::Refused(reply)) => Err(control_err(format!(
                    "`{line}` was answered `{reply}`, not `OK`"
                ))),
                Err(ControlError::Closed) => {
                    Err(control_err(format!("`{line}` was answered ``, not `OK`")))
                }
                Err(ControlError::SendTimeout(_) | ControlError::NoReply(_)) => Err(control_err(
                    format!("no answer to `{line}` within {wait:?}"),
                )),
                Err(other) => Err(control_err(other.to_string())),
            }
        };
        tokio::time::timeout(wait, exchange)
            .await
            .map_err(|_| control_err(format!("no answer to `{line}` within {wait:?}")))?
    }
}

async fn connect(addr: &str, wait: Duration) -> Result<TcpStream, TargetError> {
    let err = |reason: String| TargetError::Connect {
        addr: addr.to_string(),
        reason,
    };
    let stream = tokio::time::timeout(wait, TcpStream::connect(addr))
        .await
        .map_err(|_| err(format!("no answer within {wait:?}")))?
        .map_err(|e| err(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Checks that the target can be reached before running anything, so a wrong address is
/// one clear error (exit 2) instead of a page of failed scenarios.
pub async fn preflight(target: &ConformTarget, wait: Duration) -> Result<(), TargetError> {
    if let ConformTarget::Server { addr, control } = target {
        drop(connect(addr, wait).await?);
        if let Some(c) = control {
            drop(connect(c, wait).await.map_err(|e| TargetError::Control {
                addr: c.clone(),
                reason: e.to_string(),
            })?);
        }
    }
    Ok(())
}

/// The client under test for one scenario: a process (or the reference client's task) that
/// was given our address, and the connection it opened.
#[derive(Debug)]
pub struct ClientProcess {
    /// The client command's process group, killed as a whole when this is dropped.
    child: Option<ClientGroup>,
    task: Option<JoinHandle<()>>,
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            child.kill_group();
        }
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl ClientProcess {
    /// Listens on loopback, starts the client under test and accepts its connection.
    pub async fn start(
        target: &ConformTarget,
        dialect: &Dialect,
        wait: Duration,
    ) -> Result<(ClientProcess, TcpStream), TargetError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| TargetError::Reference(e.to_string()))?;
        let addr: SocketAddr = listener
            .local_addr()
            .map_err(|e| TargetError::Reference(e.to_string()))?;
        let (process, cmd) = match target {
            ConformTarget::ClientCmd(cmd) => {
                let cmd = cmd.replace("{addr}", &addr.to_string());
                let child = ClientGroup::spawn(&cmd, false).map_err(|e| TargetError::Client {
                    cmd: cmd.clone(),
                    reason: format!("cannot start: {e}"),
                })?;
                let process = ClientProcess {
                    child: Some(child),
                    task: None,
                };
                (process, cmd)
            }
            ConformTarget::ClientFn(f) => {
                let task = tokio::spawn((f.0)(addr));
                let process = ClientProcess {
                    child: None,
                    task: Some(task),
                };
                (process, "the in-process client".to_string())
            }
            _ => {
                let task = tokio::spawn(super::reference::run_client(addr, dialect.clone(), wait));
                let process = ClientProcess {
                    child: None,
                    task: Some(task),
                };
                (process, "the reference client".to_string())
            }
        };
        let accepted = tokio::time::timeout(wait, listener.accept()).await;
        match accepted {
            Ok(Ok((stream, _))) => Ok((process, stream)),
            Ok(Err(e)) => Err(TargetError::Client {
                cmd,
                reason: e.to_string(),
            }),
            Err(_) => Err(TargetError::Client {
                cmd,
                reason: format!("did not connect to {addr} within {wait:?}"),
            }),
        }
    }
}
