//! Graceful shutdown, the mini-redis way: one signal tells every task to stop, and a channel
//! whose last sender is dropped tells the owner that every task has finished.
//!
//! Each task holds a [`ShutdownGuard`]: it watches the signal and, by merely existing, keeps
//! the drain open. The owner calls [`ShutdownController::shutdown`], which signals and then
//! waits, within a bound, for the last guard to go away. No task list, no per-task bookkeeping.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Owns the signal and the drain; held by the server handle.
#[derive(Debug)]
pub struct ShutdownController {
    token: CancellationToken,
    drain_tx: Mutex<Option<mpsc::Sender<()>>>,
    drain_rx: Mutex<Option<mpsc::Receiver<()>>>,
}

/// Held by every task for its whole life: tells it when to stop, and tells the controller
/// when it has stopped (by being dropped).
#[derive(Debug, Clone)]
pub struct ShutdownGuard {
    token: CancellationToken,
    _drain: mpsc::Sender<()>,
}

impl Default for ShutdownController {
    fn default() -> Self {
        ShutdownController::new()
    }
}

impl ShutdownController {
    /// A controller with no task yet.
    pub fn new() -> ShutdownController {
        let (tx, rx) = mpsc::channel(1);
        ShutdownController {
            token: CancellationToken::new(),
            drain_tx: Mutex::new(Some(tx)),
            drain_rx: Mutex::new(Some(rx)),
        }
    }

    /// A guard for a new task, or `None` once shutdown has begun (the task must not start).
    pub fn guard(&self) -> Option<ShutdownGuard> {
        if self.token.is_cancelled() {
            return None;
        }
        let tx = self.drain_tx.lock().ok()?.as_ref()?.clone();
        Some(ShutdownGuard {
            token: self.token.clone(),
            _drain: tx,
        })
    }

    /// Signals every task without waiting (used when a handle is dropped).
    pub fn signal(&self) {
        self.token.cancel();
    }

    /// Signals every task, then waits up to `timeout` for all of them to finish. Returns
    /// whether they all did; a second call returns `true` at once.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.token.cancel();
        if let Ok(mut tx) = self.drain_tx.lock() {
            tx.take();
        }
        let rx = self.drain_rx.lock().ok().and_then(|mut rx| rx.take());
        let Some(mut rx) = rx else {
            return true;
        };
        // `recv` returns `None` once the last guard is dropped; nobody ever sends.
        tokio::time::timeout(timeout, rx.recv()).await.is_ok()
    }
}

impl ShutdownGuard {
    /// Completes when shutdown begins.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Whether shutdown has begun.
    pub fn is_shutdown(&self) -> bool {
        self.token.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_every_guard_then_refuses_new_ones() {
        let c = ShutdownController::new();
        let g = c.guard().unwrap();
        let task = tokio::spawn(async move {
            g.cancelled().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(g);
        });
        assert!(c.shutdown(Duration::from_secs(1)).await);
        assert!(task.is_finished() || task.await.is_ok());
        assert!(c.guard().is_none());
        assert!(c.shutdown(Duration::from_secs(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_task_makes_shutdown_time_out() {
        let c = ShutdownController::new();
        let g = c.guard().unwrap();
        assert!(!c.shutdown(Duration::from_secs(1)).await);
        drop(g);
    }
}
