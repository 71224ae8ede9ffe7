//! The embedded references: notifspec's own server and client, run as targets when the user
//! names none. They are driven exactly like an external implementation (TCP, control port),
//! so a green run against them means the same thing as a green run against anyone else.

use std::net::SocketAddr;
use std::time::Duration;

use super::target_error::TargetError;
use crate::choices::Choices;
use crate::dialect::{Dialect, ItemKind};
use crate::net::client::{Client, ClientOptions};
use crate::net::{ServerBuilder, ServerHandle};

/// A reference server started for one scenario; it stops when dropped.
#[derive(Debug)]
pub struct RunningReference {
    addr: SocketAddr,
    control: SocketAddr,
    _handle: ServerHandle,
}

impl RunningReference {
    /// Starts a reference server with a control port on loopback ephemeral ports, publishing
    /// nothing by itself (scenarios publish through the control port), taking `choices` where
    /// the seed leaves the behaviour open.
    pub async fn start(
        dialect: &Dialect,
        choices: Choices,
    ) -> Result<RunningReference, TargetError> {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let handle = ServerBuilder::new()
            .dialect(dialect.clone())
            .choices(choices)
            .addr(loopback)
            .control(loopback)
            .start()
            .await
            .map_err(|e| TargetError::Reference(e.to_string()))?;
        let missing = || TargetError::Reference("started without a listening address".into());
        Ok(RunningReference {
            addr: handle.local_addr().ok_or_else(missing)?,
            control: handle.control_addr().ok_or_else(missing)?,
            _handle: handle,
        })
    }

    /// The protocol address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control address.
    pub fn control_addr(&self) -> SocketAddr {
        self.control
    }
}

/// How many notification rounds the reference client plays before it leaves.
const ROUNDS: usize = 8;

/// The reference client as a client under test: a typical program built on
/// [`crate::net::client`]. It fetches both items, enters notification mode, keeps the mode on
/// `notif: random` (answers `OK`) and leaves it on `notif: classified` to fetch the ad, then
/// re-enters. Errors end it quietly: judging them is the scenario's job, from the wire.
pub async fn run_client(addr: SocketAddr, dialect: Dialect, wait: Duration) {
    let opts = ClientOptions { timeout: wait };
    let play = async {
        let mut client = Client::connect(addr, dialect, opts).await?;
        client.random().await?;
        client.classified().await?;
        for _ in 0..ROUNDS {
            let mut session = client.notify().await?;
            while session.next().await? == ItemKind::Random {
                session.ack().await?;
            }
            let (mut back, _crossed) = session.stop().await?;
            back.classified().await?;
            client = back;
        }
        Ok::<_, crate::net::client::ClientError>(())
    };
    if let Err(e) = play.await {
        tracing::debug!("reference client under test stopped: {e}");
    }
}
