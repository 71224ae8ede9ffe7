//! Simulated clients: sans-IO actors that decide *what* to do and *when*, on top of the
//! reference client's protocol logic ([`ClientSession`]) which decides what may be sent.
//!
//! Because every well-behaved line goes through [`ClientSession`], a simulated client can
//! break a client rule only through an injected [`Fault`]; so a C- violation from a client
//! without a rule-breaking fault is a bug in the reference client, and the report says so.
//! An actor never reads a clock: the engine passes `now` and asks for the next wake-up.

use std::collections::VecDeque;

use crate::dialect::{Dialect, ItemKind};
use crate::proto::client::{ClientEvent, ClientSession, Reply, Request, State};

use super::Tick;
use super::rng::{SimRng, draw, draw_count};
use super::scenario::{BehaviourKind, ClientGroup, Fault, FaultState, Span};

/// What an actor asks the engine to do on its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send these bytes as one line (the engine adds the terminator).
    Send(Vec<u8>),
    /// Close the connection (gracefully or abruptly: on the wire they look the same).
    Close,
    /// Close it because the server broke the protocol: what the client leaves unanswered is
    /// then the server's doing, not a client violation.
    Drop,
}

/// What the actor will do when `act_at` comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// The next step of the plan (a request or entering the mode).
    Next,
    /// Answer the outstanding notification: leave the mode (`stop`) or stay (`OK`).
    Answer { stop: bool },
}

/// The parts of a group's configuration an actor consults on every event.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    behaviour: BehaviourKind,
    interest: [bool; 2],
    think: Span,
    stay: Span,
    lifetime: Option<Span>,
    reply_timeout: Tick,
}

impl Profile {
    pub(crate) fn new(group: &ClientGroup, reply_timeout: Tick) -> Profile {
        let mut interest = [false; 2];
        for k in &group.interest {
            interest[idx(*k)] = true;
        }
        Profile {
            behaviour: group.behaviour,
            interest,
            think: group.think,
            stay: group.stay,
            lifetime: group.lifetime,
            reply_timeout,
        }
    }
}

/// Index of a kind in per-kind arrays.
pub(crate) fn idx(kind: ItemKind) -> usize {
    match kind {
        ItemKind::Random => 0,
        ItemKind::Classified => 1,
    }
}

/// One simulated client across its connections.
#[derive(Debug)]
pub(crate) struct Actor {
    profile: Profile,
    fault: Option<Fault>,
    rng: SimRng,
    session: ClientSession,
    connected: bool,
    todo: VecDeque<Request>,
    act: Act,
    act_at: Option<Tick>,
    leave_at: Option<Tick>,
    give_up_at: Option<Tick>,
    fault_at: Option<Tick>,
    end_at: Option<Tick>,
    /// Error replies still due for lines a fault sent (consumed before the session sees them).
    expect_err: u32,
    /// This connection is ending gracefully (lifetime over, or the run is over).
    winding_down: bool,
    /// The run is over: no new connection does anything but close.
    run_over: bool,
    reading: bool,
    /// The `disconnect` fault strikes once per connection.
    disconnect_armed: bool,
    /// The server broke a rule visible from the client's seat (the connection was dropped).
    pub(crate) saw_server_error: u64,
    /// Requests that were never answered in time.
    pub(crate) gave_up: u64,
    /// Notifications that crossed this client's `stop_notif` on the wire (the races).
    pub(crate) crossed: u64,
}

impl Actor {
    pub(crate) fn new(
        profile: Profile,
        fault: Option<Fault>,
        rng: SimRng,
        dialect: &Dialect,
    ) -> Actor {
        Actor {
            profile,
            fault,
            rng,
            session: ClientSession::new(dialect.clone()),
            connected: false,
            todo: VecDeque::new(),
            act: Act::Next,
            act_at: None,
            leave_at: None,
            give_up_at: None,
            fault_at: None,
            end_at: None,
            expect_err: 0,
            winding_down: false,
            run_over: false,
            reading: true,
            disconnect_armed: false,
            saw_server_error: 0,
            gave_up: 0,
            crossed: 0,
        }
    }

    /// The client's fault, if any.
    pub(crate) fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// The actor's random source, shared with its links so one seed drives everything.
    pub(crate) fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    /// Whether the client reads what arrives (a `stop_reading` fault turns this off).
    pub(crate) fn reading(&self) -> bool {
        self.reading
    }

    /// Whether the client is connected.
    pub(crate) fn connected(&self) -> bool {
        self.connected
    }

    /// Delay before the client reads a line that arrived (a `slow_reader` fault).
    pub(crate) fn read_delay(&mut self) -> Tick {
        match self.fault {
            Some(Fault::SlowReader { delay, .. }) => draw(&mut self.rng, delay),
            _ => 0,
        }
    }

    /// Whether the client leaves the mode the moment an item is published.
    pub(crate) fn races_stop(&self) -> bool {
        self.profile.behaviour == BehaviourKind::Racy
            || matches!(self.fault, Some(Fault::StopWhenDue { .. }))
    }

    /// The earliest time the actor wants [`Actor::on_timer`].
    pub(crate) fn next_wakeup(&self) -> Option<Tick> {
        if !self.connected {
            return None;
        }
        [
            self.act_at,
            self.leave_at,
            self.give_up_at,
            self.fault_at,
            self.end_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn think(&mut self) -> Tick {
        if self.profile.behaviour == BehaviourKind::Greedy {
            return self.profile.think.lo.as_micros() as Tick;
        }
        draw(&mut self.rng, self.profile.think)
    }

    fn wants(&self, kind: ItemKind) -> bool {
        self.profile.interest[idx(kind)]
    }

    fn plan_fetches(&mut self, kinds: impl IntoIterator<Item = ItemKind>) {
        for k in kinds {
            let r = Request::Fetch(k);
            if self.wants(k) && !self.todo.contains(&r) {
                self.todo.push_back(r);
            }
        }
    }

    /// A new connection is up.
    pub(crate) fn on_connect(&mut self, now: Tick, dialect: &Dialect, out: &mut Vec<Action>) {
        self.session = ClientSession::new(dialect.clone());
        self.connected = true;
        self.todo.clear();
        self.plan_fetches(ItemKind::ALL);
        self.act = Act::Next;
        self.act_at = Some(now + self.think());
        self.leave_at = None;
        self.give_up_at = None;
        self.expect_err = 0;
        self.reading = true;
        self.disconnect_armed = matches!(self.fault, Some(Fault::Disconnect { .. }));
        self.end_at = self.profile.lifetime.map(|l| now + draw(&mut self.rng, l));
        self.fault_at = match self.fault {
            Some(Fault::StopReading { after: s, .. } | Fault::Oversized { after: s, .. })
            | Some(Fault::Garbage { every: s, .. }) => Some(now + draw(&mut self.rng, s)),
            _ => None,
        };
        self.winding_down = false;
        if self.run_over {
            self.close(out);
            return;
        }
        self.check_disconnect(out);
    }

    /// The run is over: wind down for good.
    pub(crate) fn finish_run(&mut self, now: Tick, out: &mut Vec<Action>) {
        self.run_over = true;
        self.wind_down(now, out);
    }

    /// The connection ended (closed by the server, or by us).
    pub(crate) fn on_disconnected(&mut self) {
        self.connected = false;
    }

    fn close(&mut self, out: &mut Vec<Action>) {
        if self.connected {
            out.push(Action::Close);
            self.connected = false;
        }
    }

    fn drop_connection(&mut self, out: &mut Vec<Action>) {
        self.saw_server_error += 1;
        if self.connected {
            out.push(Action::Drop);
            self.connected = false;
        }
    }

    fn fault_state(&self) -> FaultState {
        match self.session.state() {
            State::Idle => FaultState::Idle,
            State::AwaitingReply(_) | State::EnteringMode => FaultState::AwaitingReply,
            State::InMode { outstanding: None } => FaultState::InMode,
            State::InMode {
                outstanding: Some(_),
            } => FaultState::Notified,
            State::Stopping { .. } => FaultState::Stopping,
        }
    }

    /// Drops the connection if a `disconnect` fault targets the current state.
    fn check_disconnect(&mut self, out: &mut Vec<Action>) {
        if let Some(Fault::Disconnect { when, .. }) = self.fault
            && self.disconnect_armed
            && self.connected
            && when == self.fault_state()
        {
            self.disconnect_armed = false;
            self.close(out);
        }
    }

    fn send(&mut self, line: String, now: Tick, out: &mut Vec<Action>) {
        out.push(Action::Send(line.into_bytes()));
        self.give_up_at = Some(now + self.profile.reply_timeout);
        self.check_disconnect(out);
    }

    /// A line arrived from the server and the client read it.
    pub(crate) fn on_line(
        &mut self,
        now: Tick,
        line: &[u8],
        dialect: &Dialect,
        out: &mut Vec<Action>,
    ) {
        if !self.connected {
            return;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            self.drop_connection(out);
            return;
        };
        if self.expect_err > 0 && crate::proto::lines::is_error_reply(dialect, text) {
            self.expect_err -= 1;
            if self.expect_err == 0 && matches!(self.session.state(), State::Idle) {
                self.give_up_at = None;
            }
            return;
        }
        let event = match self.session.handle_line(text) {
            Ok(ev) => ev,
            Err(_) => {
                // The server broke a rule (the checker names it); the reference client
                // drops such a connection.
                self.drop_connection(out);
                return;
            }
        };
        match event {
            ClientEvent::Reply(reply) => {
                self.give_up_at = None;
                let more_ads = matches!(reply, Reply::Classified(Some(_)));
                if more_ads && self.profile.behaviour == BehaviourKind::Greedy {
                    self.todo.push_front(Request::Fetch(ItemKind::Classified));
                }
                self.after_reply(now, out);
            }
            ClientEvent::Refused(_) => {
                self.give_up_at = None;
                self.after_reply(now, out);
            }
            ClientEvent::ModeEntered => {
                self.give_up_at = None;
                if self.winding_down {
                    self.stop(now, out);
                    return;
                }
                self.leave_at = Some(now + draw(&mut self.rng, self.profile.stay));
                self.check_disconnect(out);
            }
            ClientEvent::Notification(kind) => {
                let stop = self.winding_down
                    || (self.wants(kind) && self.profile.behaviour != BehaviourKind::Lazy);
                if stop {
                    self.plan_fetches([kind]);
                }
                if self.session.outstanding().is_some() {
                    self.act = Act::Answer { stop };
                    self.act_at = Some(now + self.think());
                    self.check_disconnect(out);
                } else if stop {
                    // Answers not required: leave after thinking, with nothing to answer.
                    self.leave_at = Some(now + self.think());
                }
            }
            ClientEvent::Crossed(kind) => {
                self.crossed += 1;
                self.plan_fetches([kind]);
            }
            ClientEvent::Stopped { crossed } => {
                self.give_up_at = None;
                self.plan_fetches(crossed);
                self.after_reply(now, out);
            }
        }
    }

    /// Idle again: close if winding down, else plan the next step.
    fn after_reply(&mut self, now: Tick, out: &mut Vec<Action>) {
        if self.winding_down {
            self.close(out);
            return;
        }
        self.act = Act::Next;
        self.act_at = Some(now + self.think());
        self.check_disconnect(out);
    }

    fn stop(&mut self, now: Tick, out: &mut Vec<Action>) {
        self.leave_at = None;
        self.act_at = None;
        if let Ok(line) = self.session.stop() {
            self.send(line, now, out);
        }
    }

    /// An item was just published: a racing client leaves the mode now, so its `stop_notif`
    /// crosses the notification the server is about to send.
    pub(crate) fn on_due(&mut self, now: Tick, kind: ItemKind, out: &mut Vec<Action>) {
        if self.connected
            && self.races_stop()
            && self.expect_err == 0
            && matches!(self.session.state(), State::InMode { outstanding: None })
        {
            // Catch up on everything before entering again, so the next stretch in the mode
            // starts with nothing pending and the next publish races again.
            self.plan_fetches([kind]);
            self.plan_fetches(ItemKind::ALL);
            self.stop(now, out);
        }
    }

    /// The run is over: leave the mode, finish what is in flight, close.
    pub(crate) fn wind_down(&mut self, now: Tick, out: &mut Vec<Action>) {
        self.winding_down = true;
        self.end_at = None;
        self.fault_at = None;
        if !self.connected {
            return;
        }
        self.todo.clear();
        match self.session.state() {
            State::Idle if self.expect_err == 0 => self.close(out),
            State::InMode { outstanding: None } => self.stop(now, out),
            State::InMode {
                outstanding: Some(_),
            } => {
                self.act = Act::Answer { stop: true };
                self.act_at = Some(now);
            }
            _ => {}
        }
    }

    /// One of the actor's deadlines passed.
    pub(crate) fn on_timer(&mut self, now: Tick, dialect: &Dialect, out: &mut Vec<Action>) {
        if !self.connected {
            return;
        }
        if self.give_up_at.is_some_and(|t| t <= now) {
            self.give_up_at = None;
            self.gave_up += 1;
            self.close(out);
            return;
        }
        if self.end_at.is_some_and(|t| t <= now) {
            self.end_at = None;
            self.wind_down(now, out);
            return;
        }
        if self.act_at.is_some_and(|t| t <= now) {
            self.act_at = None;
            match self.act {
                Act::Next => self.next_step(now, out),
                Act::Answer { stop } => self.answer(stop, now, out),
            }
        }
        if self.leave_at.is_some_and(|t| t <= now) {
            self.leave_at = None;
            if matches!(self.session.state(), State::InMode { outstanding: None })
                && self.expect_err == 0
            {
                self.plan_fetches(ItemKind::ALL);
                self.stop(now, out);
            } else if matches!(self.session.state(), State::InMode { .. }) {
                // Busy answering or waiting for an error reply: try again a bit later.
                self.leave_at = Some(now + self.think().max(1_000));
            }
        }
        // Faults last: the client's own step, due at the same time, goes first.
        if self.connected && self.fault_at.is_some_and(|t| t <= now) {
            self.fault_at = None;
            self.inject_fault(now, dialect, out);
        }
    }

    fn next_step(&mut self, now: Tick, out: &mut Vec<Action>) {
        if !matches!(self.session.state(), State::Idle) {
            return;
        }
        if self.expect_err > 0 {
            // Wait for the error reply to the fault's line before the next request.
            self.act_at = Some(now + 1_000);
            return;
        }
        let req = self.todo.pop_front().unwrap_or(Request::EnterMode);
        if let Ok(line) = self.session.request(req) {
            self.send(line, now, out);
        }
    }

    fn answer(&mut self, stop: bool, now: Tick, out: &mut Vec<Action>) {
        if self.session.outstanding().is_none() {
            return;
        }
        if stop {
            self.stop(now, out);
            return;
        }
        if let Ok(Some(line)) = self.session.ack() {
            out.push(Action::Send(line.into_bytes()));
        }
        self.check_disconnect(out);
    }

    fn inject_fault(&mut self, now: Tick, dialect: &Dialect, out: &mut Vec<Action>) {
        let expects_reply = dialect.error_line("x").is_some();
        match self.fault.clone() {
            Some(Fault::StopReading { .. }) => self.reading = false,
            Some(Fault::Oversized { .. }) => {
                let extra = draw_count(&mut self.rng, 1, 64) as usize;
                out.push(Action::Send(vec![b'x'; dialect.max_line + extra]));
                if expects_reply {
                    self.expect_err += 1;
                }
            }
            Some(Fault::Garbage { every, .. }) => {
                let quiet = matches!(
                    self.session.state(),
                    State::Idle | State::InMode { outstanding: None }
                );
                if quiet && self.expect_err == 0 {
                    out.push(Action::Send(self.garbage(dialect)));
                    if expects_reply {
                        self.expect_err += 1;
                        self.give_up_at = Some(now + self.profile.reply_timeout);
                    }
                }
                // The client's own next step goes first: junk must not starve it.
                let next = now + draw(&mut self.rng, every).max(1);
                self.fault_at = Some(next.max(self.act_at.map_or(0, |t| t + 1)));
            }
            _ => {}
        }
    }

    /// A line that is no command of the dialect: typos, other protocols, binary junk.
    fn garbage(&mut self, dialect: &Dialect) -> Vec<u8> {
        const JUNK: &[&[u8]] = &[
            b"hello",
            b"RANDOM?",
            b"random",
            b"ok",
            b"GET / HTTP/1.1",
            b"stop notif",
            b"\xff\xfe\x00garbage",
            b"",
            b"classified? please",
        ];
        let commands = [
            &dialect.commands.random,
            &dialect.commands.classified,
            &dialect.commands.enter,
            &dialect.commands.stop,
            &dialect.answers.ok,
        ];
        loop {
            let pick = JUNK[draw_count(&mut self.rng, 0, JUNK.len() as u32 - 1) as usize];
            if !commands.iter().any(|c| c.as_bytes() == pick) {
                return pick.to_vec();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::time::Duration;

    fn actor(behaviour: BehaviourKind, fault: Option<Fault>) -> (Actor, Dialect) {
        let yaml = format!("count: 1\nbehaviour: {behaviour}\nthink: 10ms\nstay: 1s\n");
        let group: ClientGroup = serde_yaml::from_str(&yaml).unwrap();
        let d = Dialect::default();
        let a = Actor::new(
            Profile::new(&group, 30_000_000),
            fault,
            SimRng::seed_from_u64(1),
            &d,
        );
        (a, d)
    }

    fn lines(out: &[Action]) -> Vec<String> {
        out.iter()
            .map(|a| match a {
                Action::Send(b) => String::from_utf8_lossy(b).into_owned(),
                Action::Close | Action::Drop => "<close>".into(),
            })
            .collect()
    }

    /// Feeds server lines and fires timers until the actor is quiet; returns what it sent.
    fn run(a: &mut Actor, d: &Dialect, now: &mut Tick, server: &[&str]) -> Vec<String> {
        let mut out = vec![];
        for l in server {
            a.on_line(*now, l.as_bytes(), d, &mut out);
        }
        while let Some(t) = a.next_wakeup() {
            if t > *now + 500_000 {
                break;
            }
            *now = t;
            a.on_timer(t, d, &mut out);
            if !out.is_empty() {
                break;
            }
        }
        lines(&out)
    }

    /// Connects, answers the two fetches (a number, no ad) and returns at the `_notif_`.
    fn up_to_enter(a: &mut Actor, d: &Dialect, now: &mut Tick) {
        let mut out = vec![];
        a.on_connect(*now, d, &mut out);
        assert_eq!(run(a, d, now, &[]), ["random?"]);
        assert_eq!(run(a, d, now, &["1"]), ["classified?"]);
        assert_eq!(run(a, d, now, &[""]), ["_notif_"]);
    }

    #[test]
    fn typical_client_follows_the_seed_session() {
        let (mut a, d) = actor(BehaviourKind::Typical, None);
        let mut now = 0;
        let mut out = vec![];
        a.on_connect(now, &d, &mut out);
        assert!(out.is_empty());
        assert_eq!(run(&mut a, &d, &mut now, &[]), ["random?"]);
        assert_eq!(run(&mut a, &d, &mut now, &["456902234"]), ["classified?"]);
        assert_eq!(run(&mut a, &d, &mut now, &["Nice appart"]), ["_notif_"]);
        assert_eq!(
            run(
                &mut a,
                &d,
                &mut now,
                &["will send notifs", "notif: classified"]
            ),
            ["stop_notif"]
        );
        assert_eq!(run(&mut a, &d, &mut now, &["OK"]), ["classified?"]);
        assert_eq!(run(&mut a, &d, &mut now, &["An ad"]), ["_notif_"]);
    }

    #[test]
    fn lazy_client_answers_ok_and_racy_client_stops_when_due() {
        let (mut a, d) = actor(BehaviourKind::Lazy, None);
        let mut now = 0;
        up_to_enter(&mut a, &d, &mut now);
        assert_eq!(
            run(&mut a, &d, &mut now, &["will send notifs", "notif: random"]),
            ["OK"]
        );

        let (mut r, d) = actor(BehaviourKind::Racy, None);
        let mut now = 0;
        up_to_enter(&mut r, &d, &mut now);
        run(&mut r, &d, &mut now, &["will send notifs"]);
        let mut out = vec![];
        r.on_due(now, ItemKind::Random, &mut out);
        assert_eq!(lines(&out), ["stop_notif"]);
        // The notification that crossed the stop is not answered; the OK completes it.
        assert_eq!(
            run(&mut r, &d, &mut now, &["notif: random", "OK"]),
            ["random?"]
        );
        assert_eq!(r.crossed, 1);
    }

    #[test]
    fn disconnect_fault_strikes_in_its_state() {
        let fault = Fault::Disconnect {
            share: 1.0,
            when: FaultState::Notified,
        };
        let (mut a, d) = actor(BehaviourKind::Typical, Some(fault));
        let mut now = 0;
        up_to_enter(&mut a, &d, &mut now);
        let mut out = vec![];
        a.on_line(now, b"will send notifs", &d, &mut out);
        assert!(out.is_empty());
        a.on_line(now, b"notif: random", &d, &mut out);
        assert_eq!(lines(&out), ["<close>"]);
        assert!(!a.connected());
    }

    #[test]
    fn garbage_fault_waits_for_its_error_reply() {
        let fault = Fault::Garbage {
            share: 1.0,
            every: Span::new(Duration::from_millis(1), Duration::from_millis(1)),
        };
        let (mut a, d) = actor(BehaviourKind::Typical, Some(fault));
        let mut out = vec![];
        a.on_connect(0, &d, &mut out);
        let mut garbage = 0;
        for _ in 0..50 {
            let t = a.next_wakeup().unwrap();
            a.on_timer(t, &d, &mut out);
            let sent = lines(&out);
            out.clear();
            match sent.as_slice() {
                [] => {}
                [one] if one == "random?" => {
                    assert!(garbage > 0, "garbage first (every 1ms, think 10ms)");
                    return;
                }
                [_junk] => {
                    garbage += 1;
                    // Until its ERR arrives, nothing else is sent, however many timers fire.
                    for dt in 1..20 {
                        a.on_timer(t + dt * 1_000, &d, &mut out);
                        assert!(out.is_empty(), "{out:?}");
                    }
                    a.on_line(t + 20_000, b"ERR unknown command", &d, &mut out);
                }
                more => panic!("{more:?}"),
            }
        }
        panic!("the request never came");
    }
}
