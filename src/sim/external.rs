//! Simulation against an external server: the same scenario, behaviours, faults, checker and
//! invariants, but over real TCP in real time, publishing through the server's control port.
//!
//! Nothing here is deterministic (the network and the server's scheduling decide the
//! interleavings), and the report says so; what is kept is the judgement. Each connection is
//! watched from the client's seat, so a notification that crossed `stop_notif` shows as the
//! checker's allowed crossing rather than as a race.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use rand::{RngExt as _, SeedableRng as _};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::broadcast;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::FramedRead;

use crate::checker::Party;
use crate::control_client::{ControlClient, ControlError};
use crate::dialect::{Dialect, ItemKind};
use crate::escape::printable;
use crate::rule::RuleId;
use crate::wire::{Frame, LineCodec};

use super::behaviour::{Action, Actor, Profile, idx};
use super::engine::{Findings, Outcome, Recording, Stats, count_client, count_server, explained};
use super::invariants::{self, Broken, ServerLine};
use super::observe::Observer;
use super::report::{Saved, SimReport};
use super::rng::{SimRng, derive, draw, draw_count, exponential};
use super::run::{Header, SimError, SimResult, build_report, checks_offline, write_transcript};
use super::scenario::{Fault, LoadedScenario};
use super::{Tick, to_tick};

/// Where the external server listens.
#[derive(Debug, Clone, Copy)]
pub struct ExternalServer {
    /// The protocol port.
    pub server: SocketAddr,
    /// The control port (`publish random`, `publish classified <text>`).
    pub control: SocketAddr,
}

/// Longest wait for a TCP connect, a write or a control-port reply.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Shared {
    stats: Stats,
    findings: Findings,
    next_conn: u32,
}

type SharedRef = Arc<Mutex<Shared>>;

fn lock(shared: &SharedRef) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `loaded` against `target` for the scenario's duration (plus the drain period);
/// with `out`, the conversation of each violating connection (up to `max_saved`) is saved
/// there (not shrunk: an external server cannot be replayed deterministically).
pub async fn run(
    loaded: &LoadedScenario,
    target: ExternalServer,
    seed: u64,
    out: Option<PathBuf>,
    max_saved: usize,
    mut progress: Option<Box<dyn FnMut(f64)>>,
) -> SimResult {
    let sc = &loaded.scenario;
    probe(target.server).await?;
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir).map_err(|source| SimError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let saver = out.map(|dir| {
        Arc::new(Saver {
            dir,
            loaded: loaded.clone(),
            seed,
            max: max_saved,
            saved: Mutex::new(Vec::new()),
        })
    });
    let start = Instant::now();
    let end = start + sc.duration;
    let deadline = end + sc.checks.drain;
    let mut master = SimRng::seed_from_u64(seed);
    let pub_rng = derive(&mut master);
    let mut fault_rng = derive(&mut master);
    let (mut faults, fault_counts) = assign_faults(loaded, &mut fault_rng);
    let shared: SharedRef = Arc::new(Mutex::new(Shared::default()));
    {
        let mut s = lock(&shared);
        s.stats.faults = fault_counts;
        s.stats.groups = sc.clients.iter().map(|g| (g.label(), g.count)).collect();
    }
    let (tx, _) = broadcast::channel::<ItemKind>(1024);
    let mut tasks = tokio::task::JoinSet::new();
    let reply_timeout = to_tick(sc.checks.reply_timeout);
    let mut id = 0usize;
    for g in &sc.clients {
        let profile = Profile::new(g, reply_timeout);
        for _ in 0..g.count {
            let mut rng = derive(&mut master);
            let first = start + Duration::from_micros(draw(&mut rng, g.start));
            let actor = Actor::new(profile.clone(), faults[id].take(), rng, &loaded.dialect);
            let ctx = ClientCtx {
                client: id as u32,
                dialect: loaded.dialect.clone(),
                target,
                start,
                end,
                deadline,
                liveness: to_tick(sc.checks.liveness),
                reconnect_after: g.reconnect.after,
                reconnect_max: g.reconnect.max.unwrap_or(u32::MAX),
                shared: shared.clone(),
                saver: saver.clone(),
                group: g.label(),
            };
            tasks.spawn(client_task(ctx, actor, first, tx.subscribe()));
            id += 1;
        }
    }
    let publisher = publish_task(loaded.clone(), target.control, pub_rng, start, end, tx);
    let publisher = tokio::spawn(publisher);
    while !tasks.is_empty() {
        tokio::select! {
            done = tasks.join_next() => {
                if let Some(Err(e)) = done {
                    return Err(SimError::External(format!(
                        "a simulated client failed: {e}"
                    )));
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                if let Some(p) = progress.as_mut() {
                    let total = (deadline - start).as_secs_f64().max(1e-9);
                    p(start.elapsed().as_secs_f64() / total);
                }
            }
        }
    }
    let published = match publisher.await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            return Err(SimError::External(format!(
                "control port {}: {e}",
                target.control
            )));
        }
        Err(e) => return Err(SimError::External(e.to_string())),
    };
    let (mut outcome, sent) = collect_outcome(&shared, published, start);
    let received = outcome.stats.lines;
    let connections = outcome.stats.connections;
    let mut saved = saver
        .map(|s| std::mem::take(&mut *s.saved.lock().unwrap_or_else(|p| p.into_inner())))
        .unwrap_or_default();
    saved.sort_by_key(|s| s.connection);
    let mut report: SimReport = build_report(loaded, seed, &mut outcome, saved);
    report.mode = "external, real time over TCP (not deterministic)".into();
    report.server = format!("{} (control {})", target.server, target.control);
    // A server that never sent a line (closes every connection at once, or accepts and says
    // nothing while no rule is waiting on it) broke nothing the clients could see, yet
    // nothing was tested: a target that could not be driven, never a pass.
    if received == 0 && report.passed() {
        return Err(SimError::External(format!(
            "{}: the server never completed an exchange ({connections} connections, \
             {sent} lines sent, no line received): nothing was tested",
            target.server
        )));
    }
    Ok(report)
}

/// What the clients gathered, as the engine's outcome, with the number of lines they sent.
fn collect_outcome(shared: &SharedRef, published: [u64; 2], start: Instant) -> (Outcome, u64) {
    let mut s = lock(shared);
    let mut stats = std::mem::take(&mut s.stats);
    stats.published = published;
    let sent = stats.requests
        + stats.mode_entries
        + stats.answers
        + stats.stops
        + stats.other_client_lines;
    stats.end = to_tick(start.elapsed());
    let mut findings = std::mem::take(&mut s.findings);
    findings.found.sort_by_key(|f| (f.conn, f.at));
    let outcome = Outcome {
        stats,
        findings,
        recordings: Vec::new(),
        initial_random: 0,
        initial_ad: String::new(),
    };
    (outcome, sent)
}

/// An unreachable server is bad input (exit 2), not a run full of failed connections.
async fn probe(server: SocketAddr) -> Result<(), SimError> {
    match timeout(IO_TIMEOUT, TcpStream::connect(server)).await {
        Ok(Ok(probe)) => {
            drop(probe);
            Ok(())
        }
        Ok(Err(e)) => Err(SimError::External(format!("{server}: {e}"))),
        Err(_) => Err(SimError::External(format!(
            "{server}: no connection within {}s",
            IO_TIMEOUT.as_secs()
        ))),
    }
}

/// Which client gets which fault: each fault's share of the clients, drawn at random
/// without overlap; with the count per fault for the report.
fn assign_faults(
    loaded: &LoadedScenario,
    rng: &mut SimRng,
) -> (Vec<Option<Fault>>, Vec<(String, u64)>) {
    let sc = &loaded.scenario;
    let total = sc.client_count() as usize;
    let mut order: Vec<usize> = (0..total).collect();
    rand::seq::SliceRandom::shuffle(&mut order[..], rng);
    let mut faults: Vec<Option<Fault>> = vec![None; total];
    let mut next = 0;
    let mut fault_counts = Vec::new();
    for f in &sc.faults {
        let n = ((f.share() * total as f64).round() as usize).min(total - next);
        for c in &order[next..next + n] {
            faults[*c] = Some(f.clone());
        }
        next += n;
        fault_counts.push((f.name(), n as u64));
    }
    (faults, fault_counts)
}

/// Publishes through the control port at the scenario's rates; returns the counts.
async fn publish_task(
    loaded: LoadedScenario,
    control: SocketAddr,
    mut rng: SimRng,
    start: Instant,
    end: Instant,
    tx: broadcast::Sender<ItemKind>,
) -> Result<[u64; 2], String> {
    let sc = &loaded.scenario;
    let mut port = ControlClient::connect(&control.to_string(), IO_TIMEOUT)
        .await
        .map_err(|e| match e {
            ControlError::ConnectTimeout(_) => "connect timed out".to_string(),
            other => other.to_string(),
        })?;
    let ads: Vec<String> = sc
        .publishers
        .ads
        .clone()
        .unwrap_or_else(|| vec!["Simulated ad".to_string()]);
    let mut next: [Option<Instant>; 2] = [None, None];
    for kind in ItemKind::ALL {
        if let Some(s) = sc.publishers.stream(kind).filter(|s| s.rate > 0.0) {
            next[idx(kind)] = Some(start + Duration::from_micros(exponential(&mut rng, s.rate)));
        }
    }
    let mut counts = [0u64; 2];
    let mut ad = 0usize;
    loop {
        let Some((i, at)) = next
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (i, t)))
            .min_by_key(|(_, t)| *t)
        else {
            return Ok(counts);
        };
        if at >= end {
            return Ok(counts);
        }
        sleep_until(at).await;
        let kind = ItemKind::ALL[i];
        let Some(stream) = sc.publishers.stream(kind) else {
            return Ok(counts);
        };
        for _ in 0..draw_count(&mut rng, stream.burst.lo, stream.burst.hi) {
            let line = match kind {
                ItemKind::Random => format!("publish random {}", rng.random::<u32>()),
                ItemKind::Classified => {
                    ad += 1;
                    format!("publish classified {}", ads[ad % ads.len()])
                }
            };
            port.request(&line)
                .await
                .map_err(|e| publish_failure(&line, e))?;
            counts[i] += 1;
            let _ = tx.send(kind);
        }
        next[i] = Some(Instant::now() + Duration::from_micros(exponential(&mut rng, stream.rate)));
    }
}

/// How a failed publish is worded in the run's error (after `control port ADDR: `).
fn publish_failure(line: &str, e: ControlError) -> String {
    match e {
        ControlError::Refused(reply) => format!("`{line}` was answered `{}`", printable(&reply)),
        ControlError::TooLong { limit } => {
            format!("`{line}` was answered with a line over {limit} bytes")
        }
        ControlError::Closed => "closed by the server".to_string(),
        ControlError::NoReply(t) => format!("no reply within {}s", t.as_secs()),
        other => other.to_string(),
    }
}

struct ClientCtx {
    client: u32,
    dialect: Dialect,
    target: ExternalServer,
    start: Instant,
    end: Instant,
    deadline: Instant,
    liveness: Tick,
    reconnect_after: super::scenario::Span,
    reconnect_max: u32,
    shared: SharedRef,
    saver: Option<Arc<Saver>>,
    group: String,
}

/// Where violating conversations go, and what was written.
struct Saver {
    dir: PathBuf,
    loaded: LoadedScenario,
    seed: u64,
    max: usize,
    saved: Mutex<Vec<Saved>>,
}

impl ClientCtx {
    fn now(&self) -> Tick {
        to_tick(self.start.elapsed())
    }

    fn report(
        &self,
        conn: u32,
        actor: &Actor,
        dropped: bool,
        broken: &mut Vec<Broken>,
        reported: &mut Vec<RuleId>,
    ) {
        if !broken.is_empty() {
            let mut s = lock(&self.shared);
            s.findings
                .add(conn, self.client, actor.fault(), dropped, reported, broken);
        }
    }
}

impl Saver {
    /// Writes the conversation if it broke a rule that counts (at most `max` of them).
    #[allow(clippy::too_many_arguments)]
    fn save(
        &self,
        conn: u32,
        ctx: &ClientCtx,
        actor: &Actor,
        reported: &[RuleId],
        events: Vec<(Tick, crate::checker::Event)>,
        opened: Tick,
        ended: Tick,
        complete: bool,
    ) {
        let ignore = &self.loaded.scenario.checks.ignore;
        let Some(rule) = reported
            .iter()
            .copied()
            .find(|r| !explained(*r, actor.fault()) && !ignore.contains(r))
        else {
            return;
        };
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        if saved.len() >= self.max {
            return;
        }
        let rec = Recording {
            client: ctx.client,
            group: ctx.group.clone(),
            fault: actor.fault().map(Fault::name),
            started: opened,
            events,
            complete,
            ended,
        };
        let path = self.dir.join(format!("conn-{conn}.txt"));
        let header = Header {
            scenario: &self.loaded.name,
            seed: self.seed,
            conn,
            rec: &rec,
            rule,
            dialect: &self.loaded.dialect_ref,
        };
        let relative: Vec<_> = rec
            .events
            .iter()
            .map(|(t, e)| (t.saturating_sub(opened), e.clone()))
            .collect();
        let note = "recorded at the client over TCP: what it sent, what it read, publishes as it heard of them";
        if let Err(e) = write_transcript(&path, &header, Some(note), &relative) {
            tracing::warn!("{e}");
            return;
        }
        saved.push(Saved {
            connection: conn,
            rule: rule.to_string(),
            original: path.display().to_string(),
            shrunk: None,
            steps: relative.len(),
            shrunk_steps: None,
            not_shrunk: Some("an external server cannot be replayed deterministically".into()),
            check_reproduces: checks_offline(&path, rule, &self.loaded),
        });
    }
}

/// One simulated client: connects, plays its behaviour, reconnects per its policy.
async fn client_task(
    ctx: ClientCtx,
    mut actor: Actor,
    first: Instant,
    pubs: broadcast::Receiver<ItemKind>,
) {
    let mut pubs = Some(pubs);
    let d = ctx.dialect.clone();
    sleep_until(first).await;
    let mut reconnects = 0;
    let mut random_version = 1u64;
    let mut ended = false;
    loop {
        if Instant::now() >= ctx.end {
            return;
        }
        let conn = {
            let mut s = lock(&ctx.shared);
            s.next_conn += 1;
            s.stats.connections += 1;
            s.next_conn - 1
        };
        if let Ok(Ok(stream)) = timeout(IO_TIMEOUT, TcpStream::connect(ctx.target.server)).await {
            connection(
                &ctx,
                &d,
                conn,
                stream,
                &mut actor,
                &mut pubs,
                &mut random_version,
                &mut ended,
            )
            .await;
        } else {
            lock(&ctx.shared).stats.gave_up += 1;
        }
        actor.on_disconnected();
        reconnects += 1;
        if ended || reconnects > ctx.reconnect_max || Instant::now() >= ctx.end {
            return;
        }
        let wait = draw(actor.rng(), ctx.reconnect_after);
        tokio::time::sleep(Duration::from_micros(wait.max(1))).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    ctx: &ClientCtx,
    d: &Dialect,
    conn: u32,
    stream: TcpStream,
    actor: &mut Actor,
    pubs: &mut Option<broadcast::Receiver<ItemKind>>,
    random_version: &mut u64,
    ended: &mut bool,
) {
    let (r, mut w) = stream.into_split();
    let mut reader = FramedRead::new(r, LineCodec::new(d.max_line, d.line_ending));
    let opened = ctx.now();
    let mut obs = Observer::new(
        d,
        ctx.liveness,
        *random_version,
        opened,
        ctx.saver.is_some(),
        false,
    );
    let mut broken = Vec::new();
    let mut reported = Vec::new();
    let mut actions = Vec::new();
    let mut dropped = false;
    let mut st = Stats::default();
    actor.on_connect(ctx.now(), d, &mut actions);
    let complete = 'conn: loop {
        let mut seat = Seat {
            d,
            obs: &mut obs,
            st: &mut st,
            broken: &mut broken,
        };
        if !seat.act(ctx, &mut w, &mut actions, &mut dropped).await {
            break 'conn true;
        }
        ctx.report(conn, actor, dropped, &mut broken, &mut reported);
        let wake = actor
            .next_wakeup()
            .map(|t| ctx.start + Duration::from_micros(t))
            .unwrap_or(ctx.deadline);
        tokio::select! {
            _ = sleep_until(ctx.end), if !*ended => {
                *ended = true;
                actor.finish_run(ctx.now(), &mut actions);
            }
            _ = sleep_until(ctx.deadline) => break 'conn false,
            frame = reader.next(), if actor.reading() => {
                let delay = actor.read_delay();
                if delay > 0 {
                    tokio::time::sleep(Duration::from_micros(delay)).await;
                }
                let now = ctx.now();
                let mut seat = Seat { d, obs: &mut obs, st: &mut st, broken: &mut broken };
                if !seat.server_frame(now, frame, actor, *random_version, &mut actions) {
                    break 'conn true;
                }
            }
            _ = sleep_until(wake) => actor.on_timer(ctx.now(), d, &mut actions),
            kind = next_publish(pubs) => match kind {
                Ok(kind) => {
                    if kind == ItemKind::Random {
                        *random_version += 1;
                    }
                    obs.published(ctx.now(), kind, false, &mut broken);
                    actor.on_due(ctx.now(), kind, &mut actions);
                }
                // The publisher is done: stop listening (a closed channel answers at once,
                // forever, and would spin this loop).
                Err(broadcast::error::RecvError::Closed) => *pubs = None,
                // Too far behind: some publishes go unseen, which only weakens the judgement.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
        }
    };
    let now = ctx.now();
    obs.finish(now, complete, false, &mut broken);
    ctx.report(conn, actor, dropped, &mut broken, &mut reported);
    if let (Some(saver), Some(events)) = (&ctx.saver, obs.recording.take()) {
        let counted: Vec<RuleId> = reported
            .iter()
            .copied()
            .filter(|r| !(dropped && r.party() == Party::Client))
            .collect();
        saver.save(conn, ctx, actor, &counted, events, opened, now, complete);
    }
    let mut s = lock(&ctx.shared);
    merge(&mut s.stats, st, complete);
    s.stats.take_from(actor);
}

/// One connection's observation from the client's seat: what the server sent, judged and
/// counted, and handed to the simulated client.
struct Seat<'a> {
    d: &'a Dialect,
    obs: &'a mut Observer,
    st: &'a mut Stats,
    broken: &'a mut Vec<Broken>,
}

impl Seat<'_> {
    /// Carries out the simulated client's actions in order; false once the connection is
    /// over (the client closed it, or a write failed because the server had).
    async fn act(
        &mut self,
        ctx: &ClientCtx,
        w: &mut OwnedWriteHalf,
        actions: &mut Vec<Action>,
        dropped: &mut bool,
    ) -> bool {
        let d = self.d;
        for a in actions.drain(..) {
            match a {
                Action::Send(bytes) => {
                    let class = invariants::classify_client(d, &bytes);
                    count_client(self.st, class);
                    self.st.bytes_to_server += bytes.len() as u64 + 2;
                    self.obs
                        .client_line(ctx.now(), &bytes, class, false, self.broken);
                    let mut line = bytes;
                    line.extend_from_slice(d.line_ending.as_bytes());
                    if !matches!(timeout(IO_TIMEOUT, w.write_all(&line)).await, Ok(Ok(()))) {
                        self.obs
                            .closed(ctx.now(), Party::Server, false, self.broken);
                        return false;
                    }
                }
                Action::Close | Action::Drop => {
                    *dropped |= a == Action::Drop;
                    self.st.client_closes += 1;
                    self.obs
                        .closed(ctx.now(), Party::Client, false, self.broken);
                    let _ = timeout(IO_TIMEOUT, w.shutdown()).await;
                    return false;
                }
            }
        }
        true
    }

    /// A frame from the server; false when the server closed the connection (or it failed).
    fn server_frame(
        &mut self,
        now: Tick,
        frame: Option<std::io::Result<Frame>>,
        actor: &mut Actor,
        random_version: u64,
        actions: &mut Vec<Action>,
    ) -> bool {
        let d = self.d;
        match frame {
            Some(Ok(Frame::Line(line))) => {
                let text = line.lossy();
                let class = invariants::classify_server(d, &text);
                count_server(self.st, class);
                self.st.bytes_to_client += line.bytes.len() as u64 + 2;
                if let Some(lat) =
                    self.obs
                        .server_line(now, &text, class, random_version, false, self.broken)
                {
                    self.st.latencies.record(lat);
                }
                actor.on_line(now, &line.bytes, d, actions);
            }
            Some(Ok(Frame::TooLong { .. })) => {
                self.obs.server_line(
                    now,
                    "<line over the limit>",
                    ServerLine::Other,
                    random_version,
                    false,
                    self.broken,
                );
                actions.push(Action::Drop);
            }
            Some(Err(_)) | None => {
                self.st.server_closes += 1;
                self.obs.closed(now, Party::Server, false, self.broken);
                return false;
            }
        }
        true
    }
}

/// The next publish, or never once the publisher is gone.
async fn next_publish(
    pubs: &mut Option<broadcast::Receiver<ItemKind>>,
) -> Result<ItemKind, broadcast::error::RecvError> {
    match pubs {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn merge(into: &mut Stats, from: Stats, complete: bool) {
    into.requests += from.requests;
    into.mode_entries += from.mode_entries;
    into.notifications += from.notifications;
    into.answers += from.answers;
    into.stops += from.stops;
    into.other_client_lines += from.other_client_lines;
    into.replies += from.replies;
    into.errors += from.errors;
    into.lines += from.lines;
    into.bytes_to_server += from.bytes_to_server;
    into.bytes_to_client += from.bytes_to_client;
    into.latencies.merge(&from.latencies);
    into.server_closes += from.server_closes;
    into.client_closes += from.client_closes;
    if !complete {
        into.unfinished += 1;
    }
}
