//! The discrete-event engine: a virtual clock, one event queue, in-memory links.
//!
//! Nothing here waits: the engine pops the earliest event, advances the clock to it and lets
//! the actors and the server react, so an hour of traffic costs only the work of its
//! messages. Ties are broken by insertion order, every random draw comes from generators
//! derived from the seed in a fixed order, and no hash map is iterated: the same scenario
//! and seed always replay the same events in the same order.
//!
//! Each connection is watched from the server's seat (what the server read, what it wrote,
//! what was published meanwhile): that single interleaving feeds both the checker and the
//! invariants, and is what a saved transcript shows.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use rand::seq::SliceRandom as _;
use rand::{RngExt as _, SeedableRng as _};

use crate::checker::{Event, Party};
use crate::dialect::{Dialect, ItemKind};
use crate::rule::RuleId;

use super::behaviour::{Action, Actor, Profile, idx};
use super::invariants::{self, Broken, ClientLine, ServerLine, Source};
use super::observe::Observer;
use super::report::{Decimal3, Histogram};
use super::rng::{SimRng, derive, draw, draw_count, exponential};
use super::scenario::{Fault, Scenario};
use super::server::{ConnId, Item, ServerFactory, SimServer};
use super::{Tick, to_tick};

/// Ads published when a scenario names none.
const DEFAULT_ADS: &[&str] = &[
    "Nice appart in the 11e.",
    "Bike for sale, barely used.",
    "Piano lessons, all levels.",
    "Looking for a flatmate near the canal.",
    "Vintage records, whole collection.",
];

/// A violation found on one connection (the first of each rule per connection is kept).
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub conn: ConnId,
    pub client: u32,
    pub rule: RuleId,
    pub at: Tick,
    pub message: String,
    /// The client's injected fault explains it (a C- rule broken on purpose).
    pub explained: bool,
    pub source: Source,
}

/// Counters for the report.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    pub connections: u64,
    pub requests: u64,
    pub mode_entries: u64,
    pub notifications: u64,
    pub answers: u64,
    pub stops: u64,
    pub other_client_lines: u64,
    pub replies: u64,
    pub errors: u64,
    pub published: [u64; 2],
    pub lines: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub server_closes: u64,
    pub client_closes: u64,
    pub gave_up: u64,
    pub crossed: u64,
    pub client_saw_server_error: u64,
    pub peak_queued: usize,
    pub latencies: Histogram<Decimal3>,
    pub faults: Vec<(String, u64)>,
    pub groups: Vec<(String, u64)>,
    pub unfinished: u64,
    pub end: Tick,
}

/// Most violations kept in detail (all are counted): a badly broken server must not make
/// the simulator's own memory grow without bound.
pub(crate) const MAX_FOUND: usize = 1000;

/// Every violation, counted; the first of each rule per connection kept in detail.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub found: Vec<Found>,
    /// Occurrences by rule and whether a fault explains them.
    pub occurrences: BTreeMap<(RuleId, bool), u64>,
    /// Connections where the rule was broken, by rule and explanation.
    pub connections: BTreeMap<(RuleId, bool), u64>,
}

impl Findings {
    /// Takes what `broken` holds for one connection; `reported` lists the rules that
    /// connection already broke; `dropped` says the client dropped it over a server error.
    pub(crate) fn add(
        &mut self,
        conn: ConnId,
        client: u32,
        fault: Option<&Fault>,
        dropped: bool,
        reported: &mut Vec<RuleId>,
        broken: &mut Vec<Broken>,
    ) {
        for b in broken.drain(..) {
            let explained =
                explained(b.rule, fault) || (dropped && b.rule.party() == Party::Client);
            *self.occurrences.entry((b.rule, explained)).or_default() += 1;
            if reported.contains(&b.rule) {
                continue;
            }
            reported.push(b.rule);
            *self.connections.entry((b.rule, explained)).or_default() += 1;
            if self.found.len() < MAX_FOUND {
                self.found.push(Found {
                    conn,
                    client,
                    rule: b.rule,
                    at: b.at,
                    message: b.message,
                    explained,
                    source: b.source,
                });
            }
        }
    }
}

impl Stats {
    /// Moves an actor's own counters into the totals.
    pub(crate) fn take_from(&mut self, actor: &mut Actor) {
        self.gave_up += std::mem::take(&mut actor.gave_up);
        self.client_saw_server_error += std::mem::take(&mut actor.saw_server_error);
        self.crossed += std::mem::take(&mut actor.crossed);
    }
}

/// A recorded conversation (server's seat), for transcripts and shrinking.
#[derive(Debug, Clone)]
pub(crate) struct Recording {
    pub client: u32,
    pub group: String,
    pub fault: Option<String>,
    pub started: Tick,
    pub events: Vec<(Tick, Event)>,
    /// Ended by a close (either side) rather than by the end of the run.
    pub complete: bool,
    pub ended: Tick,
}

/// What a run produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub stats: Stats,
    pub findings: Findings,
    pub recordings: Vec<(ConnId, Recording)>,
    pub initial_random: u64,
    pub initial_ad: String,
}

/// Everything a run needs.
pub(crate) struct RunSpec<'a> {
    pub scenario: &'a Scenario,
    pub dialect: &'a Dialect,
    pub seed: u64,
    pub factory: &'a ServerFactory,
}

#[derive(Debug, Clone)]
enum Msg {
    /// A line; a notification carries the publish time of the item it announces, so the
    /// latency is measured when the client reads it.
    Line(Vec<u8>, Option<Tick>),
    Eof,
}

impl Msg {
    fn len(&self) -> usize {
        match self {
            Msg::Line(b, _) => b.len() + 2,
            Msg::Eof => 0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    Connect(u32),
    Timer(u32),
    ToServer(ConnId),
    ToClient(ConnId),
    Publish(ItemKind),
    EndRun,
}

/// Heap entry: ordered by time, then insertion order.
struct Scheduled(Tick, u64, Ev);

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(o.0, o.1))
    }
}

struct Client {
    actor: Actor,
    group: u32,
    conn: Option<ConnId>,
    /// The earliest timer event queued for this client. Later ones may be queued too (they
    /// find nothing due and re-arm); a deadline is only queued when it is earlier than this,
    /// so an actor whose deadlines keep moving cannot fill the queue.
    timer_at: Option<Tick>,
    reconnects: u32,
}

/// The state of an open connection; dropped when both sides have closed.
struct Live {
    client: u32,
    client_open: bool,
    server_open: bool,
    to_server: VecDeque<(Tick, Msg)>,
    to_client: VecDeque<(Tick, Msg)>,
    to_client_bytes: usize,
    last_to_server: Tick,
    last_to_client: Tick,
    to_server_scheduled: bool,
    to_client_scheduled: bool,
    /// Lines the server wrote that do not fit in the link (the client does not read).
    queued: VecDeque<(Vec<u8>, Option<Tick>)>,
    queued_bytes: usize,
    read_at: Tick,
    obs: Observer,
    reported: Vec<RuleId>,
    recording: Option<Recording>,
    memory_flagged: bool,
    /// The client dropped the connection because the server broke the protocol.
    dropped: bool,
}

impl Live {
    fn blocked(&self) -> bool {
        !self.queued.is_empty()
    }
}

pub(crate) struct Engine<'a> {
    spec: &'a RunSpec<'a>,
    now: Tick,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    server: Box<dyn SimServer>,
    clients: Vec<Client>,
    groups: Vec<(String, u32)>,
    conns: Vec<Option<Box<Live>>>,
    live: Vec<ConnId>,
    pub_rng: SimRng,
    net_rng: SimRng,
    ads: Vec<String>,
    next_ad: usize,
    random_version: u64,
    duration: Tick,
    deadline: Tick,
    run_over: bool,
    record: BTreeSet<ConnId>,
    stats: Stats,
    findings: Findings,
    recordings: Vec<(ConnId, Recording)>,
    actions: Vec<Action>,
    broken: Vec<Broken>,
    initial_random: u64,
}

impl<'a> Engine<'a> {
    pub(crate) fn new(spec: &'a RunSpec<'a>, record: BTreeSet<ConnId>) -> Engine<'a> {
        let sc = spec.scenario;
        let mut master = SimRng::seed_from_u64(spec.seed);
        let mut pub_rng = derive(&mut master);
        let net_rng = derive(&mut master);
        let mut fault_rng = derive(&mut master);
        let ads: Vec<String> = match &sc.publishers.ads {
            Some(a) => a.clone(),
            None => DEFAULT_ADS.iter().map(|s| s.to_string()).collect(),
        };
        let initial_random = u64::from(pub_rng.random::<u32>());
        let server = (spec.factory)(spec.dialect, initial_random, &ads[0]);

        // Faults: shuffle the clients with the seed, hand out each fault's share in order.
        let total = sc.client_count() as usize;
        let mut order: Vec<u32> = (0..total as u32).collect();
        order.shuffle(&mut fault_rng);
        let mut faults: Vec<Option<Fault>> = vec![None; total];
        let mut fault_counts = Vec::new();
        let mut next = 0usize;
        for f in &sc.faults {
            let n = ((f.share() * total as f64).round() as usize).min(total - next);
            for c in &order[next..next + n] {
                faults[*c as usize] = Some(f.clone());
            }
            next += n;
            fault_counts.push((f.name(), n as u64));
        }

        let reply_timeout = to_tick(sc.checks.reply_timeout);
        let mut clients = Vec::with_capacity(total);
        let mut groups = Vec::new();
        let mut queue = BinaryHeap::new();
        let mut seq = 0;
        let mut push = |at: Tick, ev: Ev| {
            queue.push(Reverse(Scheduled(at, seq, ev)));
            seq += 1;
        };
        for (gi, g) in sc.clients.iter().enumerate() {
            let profile = Profile::new(g, reply_timeout);
            groups.push((g.label(), g.reconnect.max.unwrap_or(u32::MAX)));
            for _ in 0..g.count {
                let id = clients.len() as u32;
                let mut rng = derive(&mut master);
                let start = draw(&mut rng, g.start);
                let fault = faults[id as usize].take();
                clients.push(Client {
                    actor: Actor::new(profile.clone(), fault, rng, spec.dialect),
                    group: gi as u32,
                    conn: None,
                    timer_at: None,
                    reconnects: 0,
                });
                push(start, Ev::Connect(id));
            }
        }
        for kind in ItemKind::ALL {
            if let Some(s) = sc.publishers.stream(kind)
                && s.rate > 0.0
            {
                push(exponential(&mut pub_rng, s.rate), Ev::Publish(kind));
            }
        }
        let duration = to_tick(sc.duration);
        push(duration, Ev::EndRun);
        let stats = Stats {
            faults: fault_counts,
            groups: sc.clients.iter().map(|g| (g.label(), g.count)).collect(),
            ..Stats::default()
        };
        Engine {
            spec,
            now: 0,
            seq,
            queue,
            server,
            clients,
            groups,
            conns: Vec::new(),
            live: Vec::new(),
            pub_rng,
            net_rng,
            ads,
            next_ad: 1,
            random_version: 1,
            duration,
            deadline: duration + to_tick(sc.checks.drain),
            run_over: false,
            record,
            stats,
            findings: Findings::default(),
            recordings: Vec::new(),
            actions: Vec::new(),
            broken: Vec::new(),
            initial_random,
        }
    }

    fn schedule(&mut self, at: Tick, ev: Ev) {
        self.queue.push(Reverse(Scheduled(at, self.seq, ev)));
        self.seq += 1;
    }

    /// Runs to the end; `progress` is told the virtual time now and then.
    pub(crate) fn run(mut self, progress: &mut dyn FnMut(Tick, Tick)) -> Outcome {
        let mut steps: u64 = 0;
        let mut cut_at_deadline = false;
        while let Some(Reverse(Scheduled(at, _, ev))) = self.queue.pop() {
            if at > self.deadline {
                cut_at_deadline = true;
                break;
            }
            self.now = at;
            match ev {
                Ev::Connect(c) => self.connect(c),
                Ev::Timer(c) => {
                    let client = &mut self.clients[c as usize];
                    if client.timer_at == Some(at) {
                        client.timer_at = None;
                    }
                    if client.actor.next_wakeup().is_some_and(|w| w <= at) {
                        client
                            .actor
                            .on_timer(self.now, self.spec.dialect, &mut self.actions);
                    }
                    self.apply(c);
                }
                Ev::ToServer(conn) => self.deliver_to_server(conn),
                Ev::ToClient(conn) => self.deliver_to_client(conn),
                Ev::Publish(kind) => self.publish(kind),
                Ev::EndRun => self.end_run(),
            }
            steps += 1;
            if steps.is_multiple_of(4096) {
                progress(self.now, self.deadline);
            }
            if self.run_over && self.live.is_empty() {
                break;
            }
        }
        progress(self.deadline, self.deadline);
        let end = if cut_at_deadline {
            self.deadline
        } else {
            self.now.max(self.duration)
        };
        let still_open: Vec<ConnId> = self.live.clone();
        for conn in still_open {
            self.finish_conn(conn, false, end);
        }
        for client in &mut self.clients {
            self.stats.take_from(&mut client.actor);
        }
        self.stats.end = end;
        self.findings.found.sort_by_key(|f| (f.conn, f.at));
        Outcome {
            stats: self.stats,
            findings: self.findings,
            recordings: self.recordings,
            initial_random: self.initial_random,
            initial_ad: self.ads[0].clone(),
        }
    }

    fn connect(&mut self, c: u32) {
        if self.run_over {
            return;
        }
        let conn = self.conns.len() as ConnId;
        let dialect = self.spec.dialect;
        let sc = self.spec.scenario;
        let client = &self.clients[c as usize];
        let recording = self.record.contains(&conn).then(|| Recording {
            client: c,
            group: self.groups[client.group as usize].0.clone(),
            fault: client.actor.fault().map(Fault::name),
            started: self.now,
            events: Vec::new(),
            complete: false,
            ended: self.now,
        });
        self.conns.push(Some(Box::new(Live {
            client: c,
            client_open: true,
            server_open: true,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            to_client_bytes: 0,
            last_to_server: 0,
            last_to_client: 0,
            to_server_scheduled: false,
            to_client_scheduled: false,
            queued: VecDeque::new(),
            queued_bytes: 0,
            read_at: 0,
            obs: Observer::new(
                dialect,
                to_tick(sc.checks.liveness),
                self.random_version,
                self.now,
                recording.is_some(),
                true,
            ),
            reported: Vec::new(),
            recording,
            memory_flagged: false,
            dropped: false,
        })));
        self.live.push(conn);
        self.stats.connections += 1;
        self.server.open(conn);
        let client = &mut self.clients[c as usize];
        client.conn = Some(conn);
        client
            .actor
            .on_connect(self.now, dialect, &mut self.actions);
        self.apply(c);
    }

    /// Carries out what an actor asked for, then re-arms its timer.
    fn apply(&mut self, c: u32) {
        let mut actions = std::mem::take(&mut self.actions);
        let conn = self.clients[c as usize].conn;
        for a in actions.drain(..) {
            let Some(conn) = conn else { break };
            match a {
                Action::Send(bytes) => self.client_send(conn, Msg::Line(bytes, None)),
                Action::Close | Action::Drop => {
                    if a == Action::Drop
                        && let Some(live) = self.conns[conn as usize].as_deref_mut()
                    {
                        live.dropped = true;
                    }
                    self.client_send(conn, Msg::Eof);
                    self.client_gone(c, conn);
                }
            }
        }
        self.actions = actions;
        let client = &mut self.clients[c as usize];
        if let Some(want) = client.actor.next_wakeup()
            && client.timer_at.is_none_or(|queued| want < queued)
        {
            let at = want.max(self.now);
            client.timer_at = Some(at);
            self.schedule(at, Ev::Timer(c));
        }
    }

    fn latency(&mut self) -> Tick {
        draw(&mut self.net_rng, self.spec.scenario.network.latency)
    }

    fn client_send(&mut self, conn: ConnId, msg: Msg) {
        let lat = self.latency();
        let now = self.now;
        let Some(live) = self.conns[conn as usize].as_deref_mut() else {
            return;
        };
        if !live.client_open {
            return;
        }
        self.stats.bytes_to_server += msg.len() as u64;
        let at = (now + lat).max(live.last_to_server);
        live.last_to_server = at;
        live.to_server.push_back((at, msg));
        if !live.to_server_scheduled && !live.blocked() {
            live.to_server_scheduled = true;
            self.schedule(at, Ev::ToServer(conn));
        }
    }

    /// The client's side is closed: forget what was on its way to it, plan a reconnection.
    fn client_gone(&mut self, c: u32, conn: ConnId) {
        if let Some(live) = self.conns[conn as usize].as_deref_mut() {
            live.client_open = false;
            live.to_client.clear();
            live.to_client_bytes = 0;
        }
        let client = &mut self.clients[c as usize];
        client.conn = None;
        client.actor.on_disconnected();
        self.stats.take_from(&mut client.actor);
        let max = self.groups[client.group as usize].1;
        if !self.run_over && client.reconnects < max {
            client.reconnects += 1;
            let g = &self.spec.scenario.clients[client.group as usize];
            let wait = draw(client.actor.rng(), g.reconnect.after);
            self.schedule(self.now + wait.max(1), Ev::Connect(c));
        }
        // Unblock a server that was waiting for this client to read.
        self.flush_queued(conn);
        self.maybe_drop(conn);
    }

    fn deliver_to_server(&mut self, conn: ConnId) {
        let now = self.now;
        let Some(live) = self.conns[conn as usize].as_deref_mut() else {
            return;
        };
        live.to_server_scheduled = false;
        if live.blocked() || !live.server_open {
            return;
        }
        let Some((at, _)) = live.to_server.front() else {
            return;
        };
        if *at > now {
            live.to_server_scheduled = true;
            let at = *at;
            self.schedule(at, Ev::ToServer(conn));
            return;
        }
        let Some((_, msg)) = live.to_server.pop_front() else {
            return;
        };
        match msg {
            Msg::Line(bytes, _) => {
                let class = invariants::classify_client(self.spec.dialect, &bytes);
                count_client(&mut self.stats, class);
                self.broken.clear();
                if let Some(live) = self.conns[conn as usize].as_deref_mut() {
                    let blocked = live.blocked();
                    live.obs
                        .client_line(now, &bytes, class, blocked, &mut self.broken);
                }
                self.report(conn);
                if bytes.len() > self.spec.dialect.max_line {
                    self.server.handle_too_long(conn);
                } else {
                    self.server.handle_line(conn, &bytes);
                }
                self.drain_server(conn);
            }
            Msg::Eof => {
                self.closed(conn, Party::Client);
                self.stats.client_closes += 1;
                self.close_server_side(conn);
                self.finish_conn(conn, true, now);
                return;
            }
        }
        self.schedule_to_server(conn);
    }

    fn schedule_to_server(&mut self, conn: ConnId) {
        let Some(live) = self.conns[conn as usize].as_deref_mut() else {
            return;
        };
        if live.to_server_scheduled || live.blocked() || !live.server_open {
            return;
        }
        if let Some((at, _)) = live.to_server.front() {
            let at = (*at).max(self.now);
            live.to_server_scheduled = true;
            self.schedule(at, Ev::ToServer(conn));
        }
    }

    /// Takes what the server wrote on `conn`: into the checker, then onto the link.
    fn drain_server(&mut self, conn: ConnId) {
        while let Some(line) = self.server.poll_transmit(conn) {
            let class = invariants::classify_server(self.spec.dialect, &line);
            count_server(&mut self.stats, class);
            let now = self.now;
            let version = self.random_version;
            self.broken.clear();
            let mut published_at = None;
            if let Some(live) = self.conns[conn as usize].as_deref_mut() {
                let blocked = live.blocked();
                published_at = live
                    .obs
                    .server_line(now, &line, class, version, blocked, &mut self.broken)
                    .map(|lat| now - lat);
            }
            self.report(conn);
            self.server_write_msg(conn, Msg::Line(line.into_bytes(), published_at));
        }
        let closing = self.server.is_closing(conn);
        if closing
            && let Some(live) = self.conns[conn as usize].as_deref()
            && live.server_open
            && !live.blocked()
        {
            self.server_close(conn);
        }
    }

    fn closed(&mut self, conn: ConnId, by: Party) {
        let now = self.now;
        self.broken.clear();
        if let Some(live) = self.conns[conn as usize].as_deref_mut() {
            let blocked = live.blocked();
            live.obs.closed(now, by, blocked, &mut self.broken);
        }
        self.report(conn);
    }

    fn server_close(&mut self, conn: ConnId) {
        self.closed(conn, Party::Server);
        self.stats.server_closes += 1;
        self.server_write_msg(conn, Msg::Eof);
        self.close_server_side(conn);
        let now = self.now;
        self.finish_conn(conn, true, now);
    }

    fn close_server_side(&mut self, conn: ConnId) {
        if let Some(live) = self.conns[conn as usize].as_deref_mut()
            && live.server_open
        {
            live.server_open = false;
            live.to_server.clear();
            self.server.close(conn);
        }
    }

    fn server_write_msg(&mut self, conn: ConnId, msg: Msg) {
        let now = self.now;
        let buffer = self.spec.scenario.network.buffer;
        let memory = self.spec.scenario.checks.memory;
        let Some(live) = self.conns[conn as usize].as_deref_mut() else {
            return;
        };
        if !live.client_open {
            return;
        }
        self.stats.bytes_to_client += msg.len() as u64;
        let fits = live.to_client_bytes + msg.len() <= buffer;
        if !live.blocked() && fits {
            self.push_to_client(conn, msg);
            return;
        }
        let Msg::Line(b, published_at) = msg else {
            return;
        };
        live.queued_bytes += b.len() + 2;
        live.queued.push_back((b, published_at));
        self.stats.peak_queued = self.stats.peak_queued.max(live.queued_bytes);
        if live.queued_bytes > memory && !live.memory_flagged {
            live.memory_flagged = true;
            let bytes = live.queued_bytes;
            self.broken.clear();
            self.broken.push(Broken {
                rule: RuleId::SRobust,
                at: now,
                message: format!(
                    "the server queued {bytes} bytes for a client that does not read (bound {memory}): its memory per connection is not bounded"
                ),
                source: Source::Invariant,
            });
            self.report(conn);
        }
    }

    /// Puts a message on the link to the client (room was checked by the caller).
    fn push_to_client(&mut self, conn: ConnId, msg: Msg) {
        let lat = self.latency();
        let now = self.now;
        let Some(live) = self.conns[conn as usize].as_deref_mut() else {
            return;
        };
        let at = (now + lat).max(live.last_to_client);
        live.last_to_client = at;
        live.to_client_bytes += msg.len();
        live.to_client.push_back((at, msg));
        if !live.to_client_scheduled {
            live.to_client_scheduled = true;
            self.schedule(at, Ev::ToClient(conn));
        }
    }

    fn deliver_to_client(&mut self, conn: ConnId) {
        let now = self.now;
        let Some(live) = self.conns[conn as usize].as_deref_mut() else {
            return;
        };
        live.to_client_scheduled = false;
        if !live.client_open {
            return;
        }
        let c = live.client;
        let Some((at, _)) = live.to_client.front() else {
            return;
        };
        let due = (*at).max(live.read_at);
        if due > now {
            live.to_client_scheduled = true;
            self.schedule(due, Ev::ToClient(conn));
            return;
        }
        let actor = &mut self.clients[c as usize].actor;
        if !actor.reading() {
            return;
        }
        let Some((_, msg)) = live.to_client.pop_front() else {
            return;
        };
        live.to_client_bytes -= msg.len();
        live.read_at = now + actor.read_delay();
        match msg {
            Msg::Line(bytes, published_at) => {
                if let Some(t) = published_at {
                    self.stats.latencies.record(now - t);
                }
                actor.on_line(now, &bytes, self.spec.dialect, &mut self.actions);
                self.apply(c);
            }
            Msg::Eof => {
                self.client_gone(c, conn);
                return;
            }
        }
        self.flush_queued(conn);
        let Some(live) = self.conns[conn as usize].as_deref_mut() else {
            return;
        };
        if live.client_open
            && !live.to_client_scheduled
            && let Some((at, _)) = live.to_client.front()
        {
            let due = (*at).max(live.read_at).max(now);
            live.to_client_scheduled = true;
            self.schedule(due, Ev::ToClient(conn));
        }
    }

    /// Moves queued server lines onto the link as room allows; once all are out, the server
    /// reads again and is told about items it could not announce while blocked.
    fn flush_queued(&mut self, conn: ConnId) {
        let buffer = self.spec.scenario.network.buffer;
        if !self.conns[conn as usize]
            .as_deref()
            .is_some_and(Live::blocked)
        {
            return;
        }
        loop {
            let Some(live) = self.conns[conn as usize].as_deref_mut() else {
                return;
            };
            if !live.client_open {
                live.queued.clear();
                live.queued_bytes = 0;
            }
            let Some((line, _)) = live.queued.front() else {
                break;
            };
            if live.to_client_bytes + line.len() + 2 > buffer {
                return;
            }
            let Some((line, published_at)) = live.queued.pop_front() else {
                break;
            };
            live.queued_bytes -= line.len() + 2;
            self.push_to_client(conn, Msg::Line(line, published_at));
        }
        if self.server.wants_items(conn) {
            self.server.handle_items_changed(conn);
        }
        self.drain_server(conn);
        self.schedule_to_server(conn);
    }

    fn publish(&mut self, kind: ItemKind) {
        if self.run_over {
            return;
        }
        let Some(stream) = self.spec.scenario.publishers.stream(kind) else {
            return;
        };
        let n = draw_count(&mut self.pub_rng, stream.burst.lo, stream.burst.hi);
        for _ in 0..n {
            let item = match kind {
                ItemKind::Random => Item::Random(u64::from(self.pub_rng.random::<u32>())),
                ItemKind::Classified => {
                    let ad = self.ads[self.next_ad % self.ads.len()].clone();
                    self.next_ad += 1;
                    Item::Classified(ad)
                }
            };
            self.server.publish(&item);
            if kind == ItemKind::Random {
                self.random_version += 1;
            }
            self.stats.published[idx(kind)] += 1;
            let now = self.now;
            let live = self.live.clone();
            for conn in live {
                if let Some(l) = self.conns[conn as usize].as_deref_mut() {
                    if !l.server_open {
                        continue;
                    }
                    let blocked = l.blocked();
                    self.broken.clear();
                    l.obs.published(now, kind, blocked, &mut self.broken);
                    self.report(conn);
                    // A blocked connection is not woken (like a shell that waits for the
                    // socket to drain), but what the server queued for it on its own is
                    // taken: that is what it holds in memory for a client that does not read.
                    if !blocked && self.server.wants_items(conn) {
                        self.server.handle_items_changed(conn);
                    }
                    self.drain_server(conn);
                }
            }
        }
        // Racing clients leave the mode right now, crossing the announcement.
        for c in 0..self.clients.len() as u32 {
            let actor = &mut self.clients[c as usize].actor;
            if actor.connected() && actor.races_stop() {
                actor.on_due(self.now, kind, &mut self.actions);
                self.apply(c);
            }
        }
        let next = self.now + exponential(&mut self.pub_rng, stream.rate);
        if next < self.duration {
            self.schedule(next, Ev::Publish(kind));
        }
    }

    fn end_run(&mut self) {
        self.run_over = true;
        for c in 0..self.clients.len() as u32 {
            self.clients[c as usize]
                .actor
                .finish_run(self.now, &mut self.actions);
            self.apply(c);
        }
    }

    fn report(&mut self, conn: ConnId) {
        if self.broken.is_empty() {
            return;
        }
        let Some(live) = self.conns[conn as usize].as_deref_mut() else {
            return;
        };
        let client = live.client;
        let fault = self.clients[client as usize].actor.fault();
        let dropped = live.dropped;
        self.findings.add(
            conn,
            client,
            fault,
            dropped,
            &mut live.reported,
            &mut self.broken,
        );
    }

    /// Ends `conn`'s checking: `complete` when a side closed it (what is left hanging is a
    /// violation), otherwise the run ended first. The link lives on until both sides closed,
    /// so a client still reads what the server wrote before closing.
    fn finish_conn(&mut self, conn: ConnId, complete: bool, end: Tick) {
        let Some(live) = self.conns[conn as usize].as_deref_mut() else {
            return;
        };
        if live.obs.finished {
            return;
        }
        if !complete {
            self.stats.unfinished += 1;
        }
        self.broken.clear();
        let blocked = live.blocked();
        live.obs.finish(end, complete, blocked, &mut self.broken);
        if let Some(mut r) = live.recording.take() {
            r.complete = complete;
            r.ended = end;
            r.events = live.obs.recording.take().unwrap_or_default();
            self.recordings.push((conn, r));
        }
        self.report(conn);
        if let Some(pos) = self.live.iter().position(|c| *c == conn) {
            self.live.swap_remove(pos);
        }
        self.maybe_drop(conn);
    }

    /// Frees a connection's state once both sides have closed and checking is over.
    fn maybe_drop(&mut self, conn: ConnId) {
        if let Some(live) = self.conns[conn as usize].as_deref()
            && live.obs.finished
            && !live.client_open
            && !live.server_open
        {
            self.conns[conn as usize] = None;
        }
    }
}

/// Whether a client's injected fault explains a violation: a C- rule broken on purpose, or
/// an announcement the server could not deliver to a client that does not read.
pub(crate) fn explained(rule: RuleId, fault: Option<&Fault>) -> bool {
    (rule.party() == Party::Client && fault.is_some_and(Fault::breaks_client_rules))
        || (rule == RuleId::SLiveness && fault.is_some_and(Fault::starves_reads))
}

pub(crate) fn count_client(st: &mut Stats, class: ClientLine) {
    st.lines += 1;
    match class {
        ClientLine::Request(_) => st.requests += 1,
        ClientLine::Enter => st.mode_entries += 1,
        ClientLine::Ok => st.answers += 1,
        ClientLine::Stop => st.stops += 1,
        ClientLine::Other => st.other_client_lines += 1,
    }
}

pub(crate) fn count_server(st: &mut Stats, class: ServerLine) {
    st.lines += 1;
    match class {
        ServerLine::Notification(_) => st.notifications += 1,
        ServerLine::Error => st.errors += 1,
        _ => st.replies += 1,
    }
}
