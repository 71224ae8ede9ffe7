//! The World: the state of one running scenario and the methods its steps call.
//!
//! It stays small on purpose: the dialect, the target, the named peers (each with its own
//! connection, received-lines buffer and checker) and, for client scenarios, the scripted
//! server. There are no `last_reply` fields: what a peer received is read from that peer.

use std::sync::Arc;
use std::time::Duration;

pub use super::failure::{Failure, StepError};
use super::items::ItemSource;
use super::peer::{Incoming, Peer, fmt_dur};
use super::scripted::Scripted;
use super::steps::{Expect, Item, PeerName, Step};
use super::suite::Suite;
use super::target::{ConformTarget, TargetSession};
use crate::checker::LineReading as _;
use crate::checker::{Party, Terminator, Violation};
use crate::dialect::{Dialect, ErrorPolicy, ItemKind};
use crate::rule::RuleId;

/// Most clients a "many clients" step may open: enough to show concurrency, bounded so a
/// typo cannot exhaust file descriptors.
const MAX_CROWD: u64 = 64;
/// Most items `has read everything` will fetch before deciding the server never runs dry.
const MAX_CATCH_UP: usize = 64;

/// Default of [`super::runner::Options::quiet_cap`] (kept here, below the runner, because
/// a fresh world starts with it).
pub const DEFAULT_QUIET_CAP: Duration = Duration::from_millis(250);

/// The state of one scenario.
#[derive(Debug)]
pub struct World {
    pub(super) dialect: Dialect,
    pub(super) target: ConformTarget,
    /// The default bound of every wait.
    pub(super) timeout: Duration,
    pub(super) server: Option<TargetSession>,
    pub(super) peers: Vec<Peer>,
    pub(super) crowd: Vec<Peer>,
    pub(super) scripted: Option<Scripted>,
    pub(super) suite: Arc<Suite>,
    /// The conversation of the last transcript replay, for failure reports.
    pub(super) replayed: Vec<String>,
    /// Longest `! quiet` of a replayed transcript.
    pub(super) quiet_cap: Duration,
    /// Publishes, as `! publish ...` lines, for the conversation report (bounded: a scenario
    /// has a fixed number of steps).
    pub(super) notes: Vec<(tokio::time::Instant, String)>,
    /// How items appear (control port, publish command, or the server's own publishing).
    pub(super) items: ItemSource,
    /// Spontaneous mode: the scenario asked for an item that has not been announced yet.
    pub(super) pending_publish: bool,
    /// Spontaneous mode: the ads the scenario asked to publish (read back as "an ad").
    pub(super) chosen_ads: Vec<String>,
    /// Spontaneous mode: the kind of the last notification a step waited for, per peer.
    pub(super) announced: Vec<(String, ItemKind)>,
    /// What the embedded reference server chooses where the seed leaves the behaviour open.
    pub(super) choices: crate::choices::Choices,
    /// Ads each peer has read (received as replies that are ads), to recognise a repeated one
    /// as the answer to `classified?` with nothing unread. Bounded by the scenario's steps.
    pub(super) read_ads: Vec<(PeerName, String)>,
}

impl World {
    /// A fresh world for one scenario.
    pub fn new(
        dialect: Dialect,
        target: ConformTarget,
        timeout: Duration,
        suite: Arc<Suite>,
    ) -> World {
        World {
            suite,
            replayed: Vec::new(),
            notes: Vec::new(),
            quiet_cap: DEFAULT_QUIET_CAP,
            dialect,
            target,
            timeout,
            server: None,
            peers: Vec::new(),
            crowd: Vec::new(),
            scripted: None,
            items: ItemSource::default(),
            pending_publish: false,
            chosen_ads: Vec::new(),
            announced: Vec::new(),
            choices: crate::choices::Choices::default(),
            read_ads: Vec::new(),
        }
    }

    /// Runs one step, then collects what the checkers found during it: a step fails when
    /// its own assertion fails *or* when a checker saw the other side break any rule.
    pub async fn run(&mut self, step: &Step) -> Result<(), StepError> {
        let outcome = self.exec(step).await;
        let found = self.take_violations();
        match (outcome, found.into_iter().next()) {
            // The step saw something wrong; the checker, which judged every line in its
            // context, names the rule (a close after an oversized line is `S-ROBUST`, an
            // error line in reply to `random?` is `S-ERR`, whatever the step expected).
            (Err(StepError::Failed(f)), Some(v)) => Err(StepError::Failed(Failure {
                rule: Some(v.rule),
                message: format!("{} (checker: {})", f.message, v.message),
                ..f
            })),
            // A step that could not conclude (spontaneous mode) still fails on what the checker
            // saw: safety rules are judged on whatever arrived.
            (Err(StepError::Skipped(_)), Some(v)) if self.spontaneous().is_some() => {
                Err(StepError::Failed(v.into()))
            }
            (Err(e), _) => Err(e),
            (Ok(()), Some(v)) => Err(StepError::Failed(v.into())),
            (Ok(()), None) => Ok(()),
        }
    }

    /// Ends the scenario: the checkers judge the conversations as recordings that stopped
    /// here. Returns what they found.
    pub fn finish(&mut self) -> Vec<Violation> {
        let mut found = Vec::new();
        for p in self.peers.iter_mut().chain(self.crowd.iter_mut()) {
            found.extend(p.finish());
        }
        if let Some(s) = &mut self.scripted {
            found.extend(s.peer.finish());
        }
        found
    }

    fn take_violations(&mut self) -> Vec<Violation> {
        let mut found = Vec::new();
        for p in self.peers.iter_mut().chain(self.crowd.iter_mut()) {
            found.extend(p.take_violations());
        }
        if let Some(s) = &mut self.scripted {
            found.extend(s.peer.take_violations());
        }
        found
    }

    /// The conversation so far, all peers and publishes interleaved in time, for failure
    /// reports.
    pub fn conversation(&self) -> Vec<String> {
        let mut all: Vec<&(tokio::time::Instant, String)> = self
            .peers
            .iter()
            .chain(self.scripted.as_ref().map(|s| &s.peer))
            .flat_map(|p| p.log())
            .chain(self.notes.iter())
            .collect();
        all.sort_by_key(|(at, _)| *at);
        // Each line carries its time since the first, so a reader (and the HTML report's
        // sequence diagram) sees how the lines were spaced: a late reply, a crossing.
        let t0 = all.first().map(|(at, _)| *at);
        let mut out: Vec<String> = all
            .into_iter()
            .map(|(at, l)| {
                let since = t0.map(|t0| at.duration_since(t0)).unwrap_or_default();
                format!("+{:.3}s {l}", since.as_secs_f64())
            })
            .collect();
        out.extend(self.replayed.iter().cloned());
        out
    }

    async fn exec(&mut self, step: &Step) -> Result<(), StepError> {
        match step {
            Step::Server => self.server().await.map(|_| ()),
            Step::Dialect(name) => self.require_dialect(name),
            Step::Connect(p) => self.connect(p).await,
            Step::CatchUp(p) => self.catch_up(p).await,
            Step::ReadAds(p, ads) => self.read_ads(p, ads).await,
            Step::AnswerAll(p, d) => self.answer_all(p, *d).await,
            Step::InMode(p) => self.in_mode(p).await,
            Step::Send { peer, line, crlf } => self.send(peer, line, *crlf).await,
            Step::SendPipelined(p, lines) => self.send_pipelined(p, lines).await,
            Step::SendOversized(p) => self.send_oversized(p).await,
            Step::SendInvalidUtf8(p) => self.send_invalid_utf8(p).await,
            Step::DisconnectMidLine(p) => self.disconnect_mid_line(p).await,
            Step::Close(p) => {
                self.peer(p)?.close().await;
                Ok(())
            }
            Step::Publish(item) => self.publish(item).await,
            Step::Crowd(n, line) => self.crowd(*n, line).await,
            Step::CrowdReceives(expect) => self.crowd_receives(expect).await,
            Step::Receive(p, expect, within) => {
                let wait = within.unwrap_or(self.timeout);
                self.receive(p, expect, wait).await.map(|_| ())
            }
            Step::Nothing(p, d) => self.nothing(p, *d).await,
            Step::StopOkAfterCrossing(p) => self.stop_ok_after_crossing(p).await,
            Step::ClosedByServer(p) => self.closed_by_server(p).await,
            Step::DealtWith(p) => self.dealt_with(p).await,
            Step::StillUsable(p) => self.still_usable(p).await,
            Step::Replay(path) => self.replay(path).await,
            Step::Flagged(path) => self.flagged(path),
            Step::ClientConnects => self.client_connects().await,
            Step::ServeUntilMode => {
                let timeout = self.timeout;
                self.scripted()?.serve_until_mode(timeout).await
            }
            Step::ServerSends(line) => {
                let line = translate_server(&self.dialect, line);
                self.scripted()?.send(&line).await
            }
            Step::ClientAnswers(d) => self.scripted()?.await_answer(*d).await,
            Step::CrossTheStop => self.scripted()?.cross_the_stop().await,
            Step::PlayAlong(d) => self.scripted()?.play_along(*d).await,
        }
    }

    fn require_dialect(&self, name: &str) -> Result<(), StepError> {
        if self.dialect.name == name {
            Ok(())
        } else {
            Err(StepError::Skipped(format!(
                "written for dialect `{name}`; the run is in `{}`",
                self.dialect.name
            )))
        }
    }

    pub(super) async fn server(&mut self) -> Result<&TargetSession, StepError> {
        if !self.target.has_server() {
            return Err(StepError::Skipped(
                "a server scenario, and the target is a client".into(),
            ));
        }
        let session = match self.server.take() {
            Some(s) => s,
            None => TargetSession::start(&self.target, &self.dialect, self.choices).await?,
        };
        Ok(self.server.insert(session))
    }

    pub(super) fn peer(&mut self, name: &str) -> Result<&mut Peer, StepError> {
        let full = format!("client {name}");
        self.peers
            .iter_mut()
            .find(|p| p.name() == full)
            .ok_or_else(|| {
                StepError::Error(format!(
                    "{full} is not connected (a step `Given {full} is connected` is missing)"
                ))
            })
    }

    async fn open(&mut self, name: String) -> Result<Peer, StepError> {
        let timeout = self.timeout;
        let stream = self.server().await?.connect(timeout).await?;
        let items_known = self.target == ConformTarget::Reference;
        Ok(Peer::new(
            name,
            Party::Client,
            stream,
            &self.dialect,
            items_known,
        ))
    }

    pub(super) async fn connect(&mut self, name: &str) -> Result<(), StepError> {
        let full = format!("client {name}");
        if self.peers.iter().any(|p| p.name() == full) {
            return Err(StepError::Error(format!("{full} is already connected")));
        }
        let peer = match self.open(full.clone()).await {
            Ok(peer) => peer,
            // The server accepted this scenario's earlier connections: refusing one now is
            // its behaviour (it stopped accepting), judged under the scenario's rules.
            Err(StepError::Error(e)) if !self.peers.is_empty() => {
                return Err(Failure::new(
                    None,
                    format!("{full} could not connect although earlier clients did: {e}"),
                )
                .into());
            }
            Err(e) => return Err(e),
        };
        self.peers.push(peer);
        Ok(())
    }

    /// Fetches the random number and every unread ad. With nothing unread a server answers
    /// `classified?` with an empty line or with an ad already read (the seed does not say
    /// which), so reading stops at either: an ad read twice means nothing is unread.
    pub(super) async fn catch_up(&mut self, p: &str) -> Result<(), StepError> {
        let (random, classified) = (
            self.dialect.commands.random.clone(),
            self.dialect.commands.classified.clone(),
        );
        self.send(p, &random, None).await?;
        self.receive(p, &Expect::Integer, self.timeout).await?;
        for _ in 0..MAX_CATCH_UP {
            self.send(p, &classified, None).await?;
            let got = self.receive(p, &Expect::Any, self.timeout).await?;
            if got.is_empty() || self.has_read(p, &got) {
                return Ok(());
            }
            self.read_ads.push((p.to_string(), got));
        }
        if self.spontaneous().is_some() {
            return Err(StepError::Skipped(format!(
                "not concluded: client {p} read {MAX_CATCH_UP} ads and the server, publishing on \
                 its own, still had unread ones"
            )));
        }
        Err(Failure::new(
            Some(RuleId::SClassifiedLine),
            format!(
                "client {p} read {MAX_CATCH_UP} different ads and the server still had unread ones"
            ),
        )
        .into())
    }

    fn has_read(&self, p: &str, ad: &str) -> bool {
        self.read_ads.iter().any(|(q, a)| q == p && a == ad)
    }

    /// Answers each notification with OK until `quiet` passes without one (at most
    /// [`MAX_CATCH_UP`] of them: a server announcing more is flooding), then hands the quiet to
    /// the checker.
    async fn answer_all(&mut self, p: &str, quiet: Duration) -> Result<(), StepError> {
        let ok = self.dialect.answers.ok.clone();
        let ending = self.ending(None);
        let dialect = self.dialect.clone();
        let peer = self.peer(p)?;
        for _ in 0..MAX_CATCH_UP {
            match peer.recv(quiet).await {
                None => {
                    peer.quiet(quiet);
                    return Ok(());
                }
                Some(Incoming::Line(line, _)) if dialect.notification_kind(&line).is_some() => {
                    peer.send(&ok, ending).await?;
                }
                Some(other) => {
                    return Err(Failure::new(
                        None,
                        format!("client {p} expected notifications or nothing"),
                    )
                    .diff("<a notification, or nothing>", describe(&other))
                    .into());
                }
            }
        }
        Err(Failure::new(
            Some(RuleId::SNoDup),
            format!("client {p} answered {MAX_CATCH_UP} notifications and more kept coming"),
        )
        .into())
    }

    /// Reads as many ads as `ads` holds and checks they are those, in whatever order.
    async fn read_ads(&mut self, p: &str, ads: &[String]) -> Result<(), StepError> {
        let classified = self.dialect.commands.classified.clone();
        let mut got = Vec::with_capacity(ads.len());
        for _ in ads {
            self.send(p, &classified, None).await?;
            let line = self.receive(p, &Expect::Any, self.timeout).await?;
            self.read_ads.push((p.to_string(), line.clone()));
            got.push(line);
        }
        let (mut want_sorted, mut got_sorted) = (ads.to_vec(), got.clone());
        want_sorted.sort();
        got_sorted.sort();
        if want_sorted == got_sorted {
            return Ok(());
        }
        Err(Failure::new(
            Some(RuleId::SClassifiedLine),
            format!(
                "client {p} expected the ads {} in either order, got {}",
                ads.join(" / "),
                got.join(" / ")
            ),
        )
        .diff(ads.join("\n"), got.join("\n"))
        .into())
    }

    pub(super) async fn in_mode(&mut self, p: &str) -> Result<(), StepError> {
        let enter = self.dialect.commands.enter.clone();
        let ack = self.dialect.replies.mode_ack.clone();
        self.send(p, &enter, None).await?;
        self.receive(p, &Expect::Exact(ack), self.timeout)
            .await
            .map(|_| ())
    }

    fn ending(&self, crlf: Option<bool>) -> &'static [u8] {
        match crlf {
            None => self.dialect.line_ending.as_bytes(),
            Some(true) => b"\r\n",
            Some(false) => b"\n",
        }
    }

    async fn send(&mut self, p: &str, line: &str, crlf: Option<bool>) -> Result<(), StepError> {
        let line = translate_client(&self.dialect, line);
        let ending = self.ending(crlf);
        self.peer(p)?.send(&line, ending).await?;
        Ok(())
    }

    async fn send_pipelined(&mut self, p: &str, lines: &[String]) -> Result<(), StepError> {
        let lines: Vec<String> = lines
            .iter()
            .map(|l| translate_client(&self.dialect, l))
            .collect();
        let ending = self.ending(None);
        self.peer(p)?.send_many(&lines, ending).await?;
        Ok(())
    }

    async fn send_oversized(&mut self, p: &str) -> Result<(), StepError> {
        let line = "x".repeat(self.dialect.max_line + 64);
        let ending = self.ending(None);
        self.peer(p)?.send(&line, ending).await?;
        Ok(())
    }

    async fn send_invalid_utf8(&mut self, p: &str) -> Result<(), StepError> {
        let mut bytes = b"random\xff\xfe?".to_vec();
        bytes.extend_from_slice(self.ending(None));
        self.peer(p)?
            .send_raw(&bytes, Some("random\u{fffd}\u{fffd}?"))
            .await?;
        Ok(())
    }

    async fn disconnect_mid_line(&mut self, p: &str) -> Result<(), StepError> {
        let peer = self.peer(p)?;
        peer.send_raw(b"rand", None).await?;
        peer.close().await;
        Ok(())
    }

    pub(super) async fn publish(&mut self, item: &Item) -> Result<(), StepError> {
        let timeout = self.timeout;
        if let Some(sp) = self.spontaneous() {
            if sp.is_dry() {
                return Err(StepError::Skipped(super::items::DRY.into()));
            }
            // The server publishes on its own: the scenario's item is whatever comes next.
            if let Item::Classified(text) = item {
                self.chosen_ads.push(text.clone());
            }
            self.pending_publish = true;
            self.notes.push((
                tokio::time::Instant::now(),
                "! (spontaneous mode: waiting for the server's own item)".into(),
            ));
            return Ok(());
        }
        let kind = match self.items.clone() {
            ItemSource::Command(cmd) => {
                self.server().await?;
                cmd.publish(item, timeout).await?
            }
            _ => self.server().await?.publish(item, timeout).await?,
        };
        let what = match item {
            Item::Random(None) => "! publish random".to_string(),
            Item::Random(Some(n)) => format!("! publish random {n}"),
            Item::Classified(text) => format!("! publish classified {text}"),
        };
        self.notes.push((tokio::time::Instant::now(), what));
        for p in self.peers.iter_mut().chain(self.crowd.iter_mut()) {
            p.published(kind);
        }
        Ok(())
    }

    async fn crowd(&mut self, n: u64, line: &str) -> Result<(), StepError> {
        if n > MAX_CROWD {
            return Err(StepError::Error(format!(
                "{n} clients is more than this suite opens (at most {MAX_CROWD})"
            )));
        }
        let line = translate_client(&self.dialect, line);
        let ending = self.ending(None);
        for i in 1..=n {
            let peer = self.open(format!("other client {i}")).await?;
            self.crowd.push(peer);
        }
        for peer in &mut self.crowd {
            peer.send(&line, ending).await?;
        }
        Ok(())
    }

    async fn crowd_receives(&mut self, expect: &Expect) -> Result<(), StepError> {
        let (dialect, timeout) = (&self.dialect, self.timeout);
        let waits = self
            .crowd
            .iter_mut()
            .map(|peer| async move { receive_on(peer, dialect, expect, timeout).await });
        for result in futures::future::join_all(waits).await {
            result?;
        }
        Ok(())
    }

    /// Waits for the next line of peer `p` and checks it against `expect`; returns it.
    pub(super) async fn receive(
        &mut self,
        p: &str,
        expect: &Expect,
        wait: Duration,
    ) -> Result<String, StepError> {
        let dialect = self.dialect.clone();
        if *expect == Expect::Error && dialect.errors.policy == ErrorPolicy::Ignore {
            // The dialect answers bad commands with silence.
            let quiet = wait.min(Duration::from_millis(200));
            let quiet = match self.spontaneous() {
                Some(_) => self.quiet_spontaneous(p, quiet, None).await,
                None => nothing_on(self.peer(p)?, quiet).await,
            };
            return quiet.map(|_| String::new());
        }
        if *expect == Expect::NoneUnread {
            let got = receive_on(self.peer(p)?, &dialect, &Expect::Any, wait).await?;
            if got.is_empty() || self.has_read(p, &got) {
                return Ok(got);
            }
            if self.spontaneous().is_some() {
                // A server publishing on its own may have a new ad by now.
                return Err(StepError::Skipped(format!(
                    "not concluded: client {p} had read every ad, but the server, publishing on \
                     its own, answered with an ad it had not read (`{got}`)"
                )));
            }
            return Err(Failure::new(
                Some(RuleId::SClassifiedLine),
                format!(
                    "client {p} had read every ad, and expected an empty line or an ad it had read; got `{got}`"
                ),
            )
            .diff(describe_expect(&dialect, expect), got)
            .into());
        }
        let got = if self.spontaneous().is_some() {
            self.receive_spontaneous(p, expect, wait).await?
        } else {
            receive_on(self.peer(p)?, &dialect, expect, wait).await?
        };
        if matches!(expect, Expect::Ad | Expect::Exact(_))
            && fits(&dialect, &Expect::Ad, &got)
            && !self.has_read(p, &got)
        {
            self.read_ads.push((p.to_string(), got.clone()));
        }
        Ok(got)
    }

    /// A request still gets its reply. A connection that was dropped (or a reply that does
    /// not come) breaks the rule the scenario checks (`S-ERR`: the connection stays usable;
    /// `S-ROBUST`: other clients are unharmed), unless the checker names another.
    async fn still_usable(&mut self, p: &str) -> Result<(), StepError> {
        let random = self.dialect.commands.random.clone();
        let checked = async {
            self.send(p, &random, None).await?;
            self.receive(p, &Expect::Integer, self.timeout).await
        };
        match checked.await {
            Ok(_) => Ok(()),
            Err(StepError::Failed(f)) => Err(StepError::Failed(Failure {
                rule: None,
                message: format!("client {p} is no longer usable: {}", f.message),
                ..f
            })),
            Err(e) => Err(e),
        }
    }

    async fn nothing(&mut self, p: &str, d: Duration) -> Result<(), StepError> {
        if self.spontaneous().is_some() {
            return self.nothing_spontaneous(p, d).await;
        }
        nothing_on(self.peer(p)?, d).await
    }

    async fn stop_ok_after_crossing(&mut self, p: &str) -> Result<(), StepError> {
        let ok = self.dialect.replies.stop_ok.clone();
        let timeout = self.timeout;
        let got = self.receive(p, &Expect::Any, timeout).await?;
        if self.dialect.notification_kind(&got).is_some() {
            self.receive(p, &Expect::Exact(ok), timeout).await?;
            return Ok(());
        }
        if got == ok {
            return Ok(());
        }
        Err(Failure::new(
            Some(RuleId::SStopOk),
            format!("client {p} expected `{ok}` completing stop_notif, got `{got}`"),
        )
        .diff(ok, got)
        .into())
    }

    /// Waits until the server has reacted to client `p`'s last line by closing the
    /// connection, with or without an error line first: a later step about another client
    /// then sees the server after that line, whatever the timing.
    async fn dealt_with(&mut self, p: &str) -> Result<(), StepError> {
        let timeout = self.timeout;
        let dialect = self.dialect.clone();
        let peer = self.peer(p)?;
        let mut got = peer.recv(timeout).await;
        if let Some(Incoming::Line(l, _)) = &got
            && dialect.is_error_line(l)
        {
            got = peer.recv(timeout).await;
        }
        closed_or_fail(p, got, timeout)
    }

    async fn closed_by_server(&mut self, p: &str) -> Result<(), StepError> {
        let timeout = self.timeout;
        let got = self.peer(p)?.recv(timeout).await;
        closed_or_fail(p, got, timeout)
    }

    fn scripted(&mut self) -> Result<&mut Scripted, StepError> {
        self.scripted.as_mut().ok_or_else(|| {
            StepError::Error(
                "no client under test (a step `Given the client under test is connected` is missing)"
                    .into(),
            )
        })
    }

    async fn client_connects(&mut self) -> Result<(), StepError> {
        if !self.target.has_client() {
            return Err(StepError::Skipped(
                "a client scenario, and the target is a server".into(),
            ));
        }
        self.scripted = Some(Scripted::start(&self.target, &self.dialect, self.timeout).await?);
        Ok(())
    }
}

/// How an incoming event reads in a diff.
pub(super) fn describe(incoming: &Incoming) -> String {
    match incoming {
        Incoming::Line(text, _) => text.clone(),
        Incoming::TooLong => "<a line longer than the limit>".into(),
        Incoming::Closed => "<closed>".into(),
    }
}

/// The rule an expectation stands for, when a mismatch has one obvious culprit (the
/// checker's judgement, when it has one, takes precedence: see [`World::run`]).
fn rule_of(dialect: &Dialect, expect: &Expect) -> Option<RuleId> {
    match expect {
        Expect::Integer => Some(RuleId::SRandomInt),
        Expect::Empty | Expect::Ad | Expect::NoneUnread => Some(RuleId::SClassifiedLine),
        Expect::Error => Some(RuleId::SErr),
        Expect::Notification(_) => Some(RuleId::SLiveness),
        Expect::Exact(s) if translate_server(dialect, s) == dialect.replies.mode_ack => {
            Some(RuleId::SModeAck)
        }
        Expect::Exact(s) if translate_server(dialect, s) == dialect.replies.stop_ok => {
            Some(RuleId::SStopOk)
        }
        Expect::Exact(_) | Expect::Any => None,
    }
}

fn describe_expect(dialect: &Dialect, expect: &Expect) -> String {
    match expect {
        Expect::Exact(s) => s.clone(),
        Expect::Integer => "<an integer>".into(),
        Expect::Empty => "<an empty line>".into(),
        Expect::NoneUnread => "<an empty line, or an ad already read>".into(),
        Expect::Ad => "<an ad: a non-empty line>".into(),
        Expect::Error => format!("<an error line: `{} ...`>", dialect.errors.prefix),
        Expect::Notification(None) => "<a notification>".into(),
        Expect::Notification(Some(k)) => dialect.notification(*k).to_string(),
        Expect::Any => "<any line>".into(),
    }
}

fn fits(dialect: &Dialect, expect: &Expect, line: &str) -> bool {
    match expect {
        Expect::Exact(s) => translate_server(dialect, s) == line,
        Expect::Integer => !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()),
        Expect::Empty => line.is_empty(),
        // Judged by `World::receive`, which knows what the peer has read.
        Expect::NoneUnread => true,
        Expect::Ad => {
            !line.is_empty()
                && dialect.notification_kind(line).is_none()
                && !dialect.is_error_line(line)
                && line != dialect.replies.mode_ack
        }
        Expect::Error => dialect.is_error_line(line),
        Expect::Notification(None) => dialect.notification_kind(line).is_some(),
        Expect::Notification(Some(k)) => dialect.notification_kind(line) == Some(*k),
        Expect::Any => true,
    }
}

/// Receives one line on `peer` within `wait` and checks it, naming the deadline on timeout.
pub(super) async fn receive_on(
    peer: &mut Peer,
    dialect: &Dialect,
    expect: &Expect,
    wait: Duration,
) -> Result<String, StepError> {
    let got = peer.recv(wait).await;
    check_incoming(peer, dialect, expect, wait, got)
}

/// Checks what a peer received (`None`: nothing within `wait`) against `expect`.
pub(super) fn check_incoming(
    peer: &mut Peer,
    dialect: &Dialect,
    expect: &Expect,
    wait: Duration,
    got: Option<Incoming>,
) -> Result<String, StepError> {
    let name = peer.name().to_string();
    let want = describe_expect(dialect, expect);
    let (line, terminator) = match got {
        Some(Incoming::Line(line, t)) => (line, t),
        None => {
            // The quiet period goes to the checker, which knows what was owed: the rule
            // requiring the missing line (`S-STOP-OK` for a stop, `S-MODE-ACK` for the enter
            // command, `S-FRAMING` for a request ended by a bare LF, ...) is the finding.
            peer.quiet(wait);
            let rule = rule_of(dialect, expect).or(Some(RuleId::SReplyOne));
            return Err(Failure::new(
                rule,
                format!(
                    "{name} waited {} for {want} and nothing arrived (deadline passed)",
                    fmt_dur(wait)
                ),
            )
            .diff(want, "<nothing>")
            .into());
        }
        Some(other) => {
            return Err(
                Failure::new(rule_of(dialect, expect), format!("{name} expected {want}"))
                    .diff(want, describe(&other))
                    .into(),
            );
        }
    };
    let wanted_ending = match dialect.line_ending {
        crate::dialect::LineEnding::Crlf => Terminator::CrLf,
        crate::dialect::LineEnding::Lf => Terminator::Lf,
    };
    if terminator != wanted_ending {
        return Err(Failure::new(
            Some(RuleId::SFraming),
            format!(
                "{name} received `{line}` ended by {terminator:?}; the dialect's line ending is {wanted_ending:?}"
            ),
        )
        .into());
    }
    if !fits(dialect, expect, &line) {
        return Err(Failure::new(
            rule_of(dialect, expect),
            format!("{name} expected {want}, got `{line}`"),
        )
        .diff(want, line)
        .into());
    }
    Ok(line)
}

/// Checks that nothing arrives on `peer` for `d`.
pub(super) async fn nothing_on(peer: &mut Peer, d: Duration) -> Result<(), StepError> {
    match peer.recv(d).await {
        None => {
            peer.quiet(d);
            Ok(())
        }
        Some(other) => Err(not_nothing(peer, d, &other)),
    }
}

/// The failure when `peer` received `other` during a `d` that should have stayed quiet.
pub(super) fn not_nothing(peer: &Peer, d: Duration, other: &Incoming) -> StepError {
    Failure::new(
        None,
        format!(
            "{} expected nothing for {}, got `{}`",
            peer.name(),
            fmt_dur(d),
            describe(other)
        ),
    )
    .diff("<nothing>", describe(other))
    .into()
}

/// Maps a client line spelled as in the default dialect (`_notif_`, `OK`, …) to the dialect
/// under test, so one feature serves every dialect. Other text is sent as written.
pub fn translate_client(d: &Dialect, line: &str) -> String {
    let seed = Dialect::default();
    let pairs = [
        (&seed.commands.random, &d.commands.random),
        (&seed.commands.classified, &d.commands.classified),
        (&seed.commands.enter, &d.commands.enter),
        (&seed.commands.stop, &d.commands.stop),
        (&seed.answers.ok, &d.answers.ok),
    ];
    translate(&pairs, line)
}

/// Maps a server line spelled as in the default dialect to the dialect under test.
pub fn translate_server(d: &Dialect, line: &str) -> String {
    let seed = Dialect::default();
    let pairs = [
        (&seed.replies.mode_ack, &d.replies.mode_ack),
        (&seed.replies.stop_ok, &d.replies.stop_ok),
        (&seed.notifications.random, &d.notifications.random),
        (&seed.notifications.classified, &d.notifications.classified),
    ];
    translate(&pairs, line)
}

fn translate(pairs: &[(&String, &String)], line: &str) -> String {
    pairs
        .iter()
        .find(|(seed, _)| seed.as_str() == line)
        .map(|(_, ours)| ours.to_string())
        .unwrap_or_else(|| line.to_string())
}

/// What client `p` received when the server should have closed its connection.
fn closed_or_fail(p: &str, got: Option<Incoming>, timeout: Duration) -> Result<(), StepError> {
    match got {
        Some(Incoming::Closed) => Ok(()),
        None => Err(Failure::new(
            Some(RuleId::SRobust),
            format!(
                "client {p}: the server did not close the connection within {}",
                fmt_dur(timeout)
            ),
        )
        .into()),
        Some(other) => Err(Failure::new(
            Some(RuleId::SRobust),
            format!("client {p}: expected the server to close the connection"),
        )
        .diff("<closed>", describe(&other))
        .into()),
    }
}
