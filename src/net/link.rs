//! A TCP connection as both its task and the publishers' walk reach it: the session and the
//! socket behind one lock (docs/performance.md, "One walk per publish").
//!
//! Its own file, below both `shared` (whose registry the walk goes through) and `connection`
//! (whose task serves the link), so that neither of those depends on the other's file.

use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use tokio::net::TcpStream;

use crate::proto::availability::Items;
use crate::proto::server::ServerSession;

/// A session and what its task and the publisher's walk agree on, behind one lock that
/// neither holds across an `await`. Lock order: this lock, then the items store.
#[derive(Debug)]
pub(crate) struct LinkState {
    pub(super) session: ServerSession,
    /// The task writes nothing and holds no unwritten bytes: whoever holds the lock may write
    /// the session's output to the socket (the walk does, with `try_write`). Set by the task
    /// after it has looked at the store itself, cleared when it takes output to write or when
    /// the walk hands it `pending`, and for good when the connection ends.
    pub(super) idle: bool,
    /// The walk left work for the task (`pending`); its waker is in `waker`.
    pub(super) kicked: bool,
    pub(super) waker: Option<Waker>,
    /// Bytes the walk rendered but the socket did not take at once: the task writes them first,
    /// with its back-pressure, idle and shutdown handling. At most one rendering of the outbox.
    pub(super) pending: Vec<u8>,
}

impl LinkState {
    /// A new connection's state around its fresh session.
    pub(super) fn new(session: ServerSession) -> LinkState {
        LinkState {
            session,
            idle: false,
            kicked: false,
            waker: None,
            pending: Vec::new(),
        }
    }
}

/// Locks a link's state; a poisoned lock (a panic elsewhere) still holds a usable session.
pub(super) fn lock(state: &Mutex<LinkState>) -> MutexGuard<'_, LinkState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A TCP connection as the publisher's walk reaches it (docs/performance.md, "One walk per
/// publish"): a publish writes the notification to every idle subscriber from one place,
/// instead of waking one task per subscriber, which then wakes only for the client's `OK`.
#[derive(Debug)]
pub(crate) struct Link {
    pub(super) state: Mutex<LinkState>,
    pub(super) stream: TcpStream,
}

impl Link {
    /// Delivers what the last publish means to this connection, if its task is idle: asks the
    /// session, writes its output with one non-blocking `try_write`, and hands whatever the
    /// socket did not take to the task. Never blocks on the peer; `buf` is the walk's scratch.
    pub(crate) fn deliver(&self, items: &Mutex<Items>, ending: &[u8], buf: &mut Vec<u8>) {
        let mut st = lock(&self.state);
        if !st.idle || !st.session.wants_items() {
            return;
        }
        let st = &mut *st;
        {
            let items = items.lock().unwrap_or_else(|p| p.into_inner());
            st.session.handle_items_changed(&*items);
        }
        if !st.session.has_output() {
            return;
        }
        buf.clear();
        st.session.transmit_into(buf, ending);
        log_sent("walk", buf);
        // On WouldBlock, or an error the task meets again on its own write or read: nothing
        // written, all handed over.
        let written = self.stream.try_write(buf).unwrap_or_default();
        if written < buf.len() {
            st.pending.extend_from_slice(&buf[written..]);
            st.idle = false;
            st.kicked = true;
            if let Some(waker) = st.waker.take() {
                waker.wake();
            }
        }
    }
}

/// Logs the lines about to be sent, at debug level.
pub(super) fn log_sent(peer: &str, bytes: &[u8]) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
            tracing::debug!(%peer, %line, "send");
        }
    }
}

/// Marks a link as ended (the walk no longer writes to it) and leaves the registry.
pub(crate) fn retire(link: &Link) {
    lock(&link.state).idle = false;
}
