//! The state one reference server shares between its accept loop, every connection, the
//! control port and its handle, and the accept loop both ports run.
//!
//! It lives below `server`, `connection` and `control` so that they all point down to it:
//! `server` builds it and starts the tasks, the others only use it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngExt as _;
use rand::rngs::StdRng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::choices::Choices;
use crate::dialect::Dialect;
use crate::proto::availability::{Feed, Items, validate_ad};

use super::link::{self, Link};
use super::shutdown::{ShutdownController, ShutdownGuard};

/// Counters for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections being served now.
    pub open_connections: usize,
    /// Connections accepted and served since start.
    pub accepted: u64,
    /// Connections refused by the connection limit.
    pub refused: u64,
    /// Protocol errors (bad lines) over all connections.
    pub protocol_errors: u64,
    /// Ads held in the store (bounded by its capacity).
    pub retained_ads: usize,
}

/// State shared by the accept loop, every connection, the control port and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(super) dialect: Arc<Dialect>,
    pub(super) choices: Choices,
    pub(super) items: Mutex<Items>,
    pub(super) changed: watch::Sender<u64>,
    pub(super) rng: Mutex<StdRng>,
    pub(super) feed: Feed,
    pub(super) feed_next: AtomicU64,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) conns: Arc<Semaphore>,
    pub(super) shutdown: ShutdownController,
    pub(super) open: AtomicUsize,
    pub(super) accepted: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) protocol_errors: AtomicU64,
    /// The TCP connections a publish walks (docs/performance.md, "One walk per publish").
    pub(super) links: Mutex<Links>,
}

/// The live TCP connections, in slots reused after a close: one pointer per connection.
#[derive(Default)]
pub(crate) struct Links {
    slots: Vec<Option<Arc<Link>>>,
    free: Vec<usize>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let live = self.slots.len() - self.free.len();
        f.debug_struct("Links").field("live", &live).finish()
    }
}

/// Keeps a connection in [`Shared::links`] while it lives; dropping it retires the link (the
/// walk stops writing to it) and frees the slot.
pub(crate) struct Registered<'a> {
    shared: &'a Shared,
    slot: usize,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut links = self.shared.lock_links();
        if let Some(link) = links.slots[self.slot].take() {
            link::retire(&link);
        }
        links.free.push(self.slot);
    }
}

impl Shared {
    pub(crate) fn dialect(&self) -> Arc<Dialect> {
        self.dialect.clone()
    }

    /// The alternatives the sessions take where the seed leaves the behaviour open.
    pub(crate) fn choices(&self) -> Choices {
        self.choices
    }

    pub(crate) fn max_line(&self) -> usize {
        self.dialect.max_line
    }

    pub(crate) fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn lock_links(&self) -> std::sync::MutexGuard<'_, Links> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes a TCP connection reachable by the publishers' walk until the guard is dropped.
    pub(crate) fn register(&self, link: Arc<Link>) -> Registered<'_> {
        let mut links = self.lock_links();
        let slot = match links.free.pop() {
            Some(slot) => {
                links.slots[slot] = Some(link);
                slot
            }
            None => {
                links.slots.push(Some(link));
                links.slots.len() - 1
            }
        };
        Registered { shared: self, slot }
    }

    /// After a publish: every idle TCP subscriber gets its notification written from here, in
    /// one pass, without waking its task (which falls back to its own write when the socket
    /// does not take the whole line at once). The list is copied first so that connections
    /// open and close meanwhile without waiting for the walk.
    fn walk(&self) {
        let links: Vec<Arc<Link>> = self.lock_links().slots.iter().flatten().cloned().collect();
        if links.is_empty() {
            return;
        }
        let ending = self.dialect.line_ending.as_bytes();
        let mut buf = Vec::with_capacity(64);
        for link in &links {
            link.deliver(&self.items, ending, &mut buf);
        }
    }

    pub(crate) fn count_protocol_error(&self) {
        self.protocol_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `f` on the locked store. A poisoned lock (a panic elsewhere) still holds
    /// consistent integers, so it is used rather than spreading the panic.
    pub(crate) fn with_items<R>(&self, f: impl FnOnce(&mut Items) -> R) -> R {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut items)
    }

    pub(super) fn publish_random(&self, value: Option<u64>) -> u64 {
        let value = value.unwrap_or_else(|| {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            random_number(&mut rng)
        });
        self.with_items(|items| items.publish_random(value));
        self.changed.send_modify(|v| *v += 1);
        self.walk();
        value
    }

    pub(super) fn publish_classified(&self, text: &str) -> Result<u64, String> {
        validate_ad(text, self.max_line())?;
        let id = self.with_items(|items| items.publish_classified(text));
        self.changed.send_modify(|v| *v += 1);
        self.walk();
        Ok(id)
    }

    pub(super) fn publish_next_ad(&self) {
        let n = self.feed_next.fetch_add(1, Ordering::Relaxed);
        // Feed ads were validated against this limit at start.
        let _ = self.publish_classified(self.feed.nth(n));
    }

    pub(super) fn stats(&self) -> ServerStats {
        ServerStats {
            open_connections: self.open.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            protocol_errors: self.protocol_errors.load(Ordering::Relaxed),
            retained_ads: self.with_items(|items| items.retained_ads()),
        }
    }
}

/// A random number shaped like the seed's (`456902234`, `89765234756`).
pub(super) fn random_number(rng: &mut StdRng) -> u64 {
    rng.random_range(100_000_000..100_000_000_000)
}

/// Accepts connections on `listener` until shutdown begins or `on_accept` returns `false`;
/// shared by the protocol port and the control port so both stop and survive errors alike.
/// After a failed `accept` (e.g. out of file descriptors) it waits a little so the loop does
/// not spin, unless shutdown begins.
pub(crate) async fn accept_until_shutdown(
    listener: TcpListener,
    guard: &ShutdownGuard,
    mut on_accept: impl FnMut(TcpStream, SocketAddr) -> bool,
) {
    loop {
        let accepted = tokio::select! {
            _ = guard.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                if !on_accept(stream, peer) {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    _ = guard.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}
