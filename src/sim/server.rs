//! The server under simulation, behind a trait so that a test can plug in a deliberately
//! broken one (and prove the simulator catches it) and the reference server is only one
//! implementation among others.
//!
//! The simulator is the "shell" here: it decides when a connection's bytes arrive and when
//! the server may write, exactly as [`crate::net`] does over TCP, but on a virtual clock.

use std::sync::Arc;

use crate::choices::Choices;
use crate::dialect::{Dialect, ItemKind};
use crate::proto::availability::Items;
use crate::proto::server::ServerSession;

/// Connection number, dense from 0 in the order connections are opened.
pub type ConnId = u32;

/// An item being published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A new random number.
    Random(u64),
    /// A new classified ad.
    Classified(String),
}

impl Item {
    /// Its kind.
    pub fn kind(&self) -> ItemKind {
        match self {
            Item::Random(_) => ItemKind::Random,
            Item::Classified(_) => ItemKind::Classified,
        }
    }
}

/// A server as the simulator drives it: sans-IO sessions sharing one item store. Every call
/// names the connection; outputs are drained with [`SimServer::poll_transmit`].
pub trait SimServer {
    /// A client connected.
    fn open(&mut self, conn: ConnId);
    /// The connection is gone (either side closed it); forget its state.
    fn close(&mut self, conn: ConnId);
    /// A complete line from the client (terminator removed, maybe not UTF-8).
    fn handle_line(&mut self, conn: ConnId, line: &[u8]);
    /// The client sent a line longer than the dialect's limit.
    fn handle_too_long(&mut self, conn: ConnId);
    /// An item appears in the store (no connection is woken by this call).
    fn publish(&mut self, item: &Item);
    /// Wakes a connection after [`SimServer::publish`]: it may announce something.
    fn handle_items_changed(&mut self, conn: ConnId);
    /// Whether waking `conn` could make it send something (saves waking every connection).
    fn wants_items(&self, conn: ConnId) -> bool;
    /// The next line the server sends on `conn`.
    fn poll_transmit(&mut self, conn: ConnId) -> Option<String>;
    /// Whether the server closes `conn` once its lines are sent.
    fn is_closing(&self, conn: ConnId) -> bool;
}

/// Builds a fresh server; the simulator needs several (the run, then one per shrinking step).
/// Its arguments are the dialect and the store's initial random number and ad.
pub type ServerFactory = Arc<dyn Fn(&Dialect, u64, &str) -> Box<dyn SimServer> + Send + Sync>;

/// The reference server ([`crate::proto::server`]) with its item store, for the simulator.
#[derive(Debug)]
pub struct ReferenceServer {
    dialect: Arc<Dialect>,
    choices: Choices,
    items: Items,
    sessions: Vec<Option<Box<ServerSession>>>,
}

/// How many ads the simulated reference store keeps.
const AD_CAPACITY: usize = 1024;

impl ReferenceServer {
    /// A server whose store starts with `random` and the ad `first_ad`.
    pub fn new(dialect: &Dialect, random: u64, first_ad: &str) -> ReferenceServer {
        ReferenceServer {
            dialect: Arc::new(dialect.clone()),
            choices: Choices::default(),
            items: Items::new(random, first_ad, AD_CAPACITY),
            sessions: Vec::new(),
        }
    }

    /// The factory the simulator uses by default.
    pub fn factory() -> ServerFactory {
        ReferenceServer::factory_with(Choices::default())
    }

    /// A factory of reference servers taking `choices` where the seed leaves the behaviour
    /// open: the simulator must find nothing wrong with any legal reading.
    pub fn factory_with(choices: Choices) -> ServerFactory {
        Arc::new(move |dialect, random, first_ad| {
            let mut server = ReferenceServer::new(dialect, random, first_ad);
            server.choices = choices;
            Box::new(server)
        })
    }

    fn session(&mut self, conn: ConnId) -> Option<&mut ServerSession> {
        self.sessions
            .get_mut(conn as usize)
            .and_then(Option::as_mut)
            .map(|b| &mut **b)
    }
}

impl SimServer for ReferenceServer {
    fn open(&mut self, conn: ConnId) {
        let i = conn as usize;
        if self.sessions.len() <= i {
            self.sessions.resize_with(i + 1, || None);
        }
        self.sessions[i] = Some(Box::new(ServerSession::with_choices(
            self.dialect.clone(),
            self.choices,
            &self.items,
        )));
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(s) = self.sessions.get_mut(conn as usize) {
            *s = None;
        }
    }

    fn handle_line(&mut self, conn: ConnId, line: &[u8]) {
        let items = &self.items;
        if let Some(Some(s)) = self.sessions.get_mut(conn as usize) {
            s.handle_line(line, items);
        }
    }

    fn handle_too_long(&mut self, conn: ConnId) {
        if let Some(s) = self.session(conn) {
            s.handle_too_long();
        }
    }

    fn publish(&mut self, item: &Item) {
        match item {
            Item::Random(n) => {
                self.items.publish_random(*n);
            }
            Item::Classified(text) => {
                self.items.publish_classified(text);
            }
        }
    }

    fn handle_items_changed(&mut self, conn: ConnId) {
        let items = &self.items;
        if let Some(Some(s)) = self.sessions.get_mut(conn as usize) {
            s.handle_items_changed(items);
        }
    }

    fn wants_items(&self, conn: ConnId) -> bool {
        matches!(self.sessions.get(conn as usize), Some(Some(s)) if s.wants_items())
    }

    fn poll_transmit(&mut self, conn: ConnId) -> Option<String> {
        self.session(conn)?.poll_transmit()
    }

    fn is_closing(&self, conn: ConnId) -> bool {
        matches!(self.sessions.get(conn as usize), Some(Some(s)) if s.is_closing())
    }
}
