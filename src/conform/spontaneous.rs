//! The steps of a scenario in spontaneous mode, where the server publishes on its own.
//!
//! Three changes make a scenario written for a control port safe against a server whose
//! items arrive at any time, without letting a rule pass that was not judged:
//!
//! - A notification the step did not ask for, that the peer's checker accepts (the server may
//!   send it now), is the server's own item: it is *absorbed* (answered with OK when the
//!   dialect wants answers and the client has not sent its stop), and the step goes on
//!   waiting for what it asked for. A notification the checker flags is not absorbed: it
//!   fails the step under the checker's rule, and so does any violation seen during a step
//!   that could not conclude.
//! - A step that waits for a notification waits up to the spontaneous bound for one (of the
//!   kind it names only when the scenario reads an ad back); when none comes, the scenario is
//!   *not concluded* (skipped with the reason), never passed nor failed. An ad the scenario
//!   published is read back as "an ad" once a classified notification was seen.
//! - A quiet step that follows a publish lasts until a witness connection has been notified
//!   of a real publish, so "nothing arrives" is judged across one; without one, the scenario
//!   is not concluded.

use std::time::Duration;

use tokio::time::Instant;

use super::items::Spontaneous;
use super::peer::{Incoming, Peer};
use super::steps::Expect;
use super::world::{Failure, StepError, World, check_incoming, describe, translate_server};
use crate::checker::LineReading as _;
use crate::dialect::{Dialect, ItemKind};

/// Most notifications one step absorbs before it reports the next one as unexpected: a
/// server flooding notifications cannot keep a step waiting forever.
const MAX_ABSORBED: usize = 256;

impl World {
    /// The spontaneous mode, when this run is in it.
    pub(super) fn spontaneous(&self) -> Option<&Spontaneous> {
        self.items.spontaneous(&self.target)
    }

    /// [`World::receive`] in spontaneous mode.
    pub(super) async fn receive_spontaneous(
        &mut self,
        p: &str,
        expect: &Expect,
        wait: Duration,
    ) -> Result<String, StepError> {
        let Some(sp) = self.spontaneous().cloned() else {
            return Err(StepError::Error("not in spontaneous mode".into()));
        };
        let dialect = self.dialect.clone();
        let expect = self.spontaneous_expect(p, expect)?;
        if let Expect::Notification(kind) = expect {
            // The kind a scenario names is incidental unless it reads an ad back: then it
            // waits for a classified notification.
            let kind = kind.filter(|_| sp.kinds_matter);
            if let Some(reason) = sp.dry_reason(kind) {
                return Err(StepError::Skipped(reason));
            }
            let peer = self.peer(p)?;
            let got = recv_absorbing(peer, &dialect, &sp, sp.wait, Some(kind)).await?;
            if got.is_none() {
                let what = match kind {
                    Some(k) => format!("`{}`", dialect.notification(k)),
                    None => "a notification".into(),
                };
                let reason = sp.timed_out(kind, &format!("{what} for client {p}"));
                return Err(StepError::Skipped(reason));
            }
            let expect = Expect::Notification(kind);
            let line = check_incoming(peer, &dialect, &expect, sp.wait, got)?;
            if let Some(k) = dialect.notification_kind(&line) {
                sp.seen(k);
            }
            self.pending_publish = false;
            if let Some(k) = dialect.notification_kind(&line) {
                self.announced.retain(|(name, _)| name != p);
                self.announced.push((p.to_string(), k));
            }
            return Ok(line);
        }
        let peer = self.peer(p)?;
        let got = recv_absorbing(peer, &dialect, &sp, wait, None).await?;
        if expect == Expect::Empty
            && let Some(Incoming::Line(line, _)) = &got
            && !line.is_empty()
            && dialect.notification_kind(line).is_none()
            && !dialect.is_error_line(line)
        {
            return Err(StepError::Skipped(format!(
                "not concluded: client {p} expected no unread ad and got `{line}`, which the \
                 server may have published on its own meanwhile"
            )));
        }
        check_incoming(peer, &dialect, &expect, wait, got)
    }

    /// What an expectation written for a control port means when the server chooses its
    /// own items: a named notification is waited for as such, a chosen ad is "an ad" once
    /// a classified notification was seen (else not concludable).
    fn spontaneous_expect(&self, p: &str, expect: &Expect) -> Result<Expect, StepError> {
        let Expect::Exact(text) = expect else {
            return Ok(expect.clone());
        };
        let line = translate_server(&self.dialect, text);
        if let Some(kind) = self.dialect.notification_kind(&line) {
            return Ok(Expect::Notification(Some(kind)));
        }
        if self.chosen_ads.iter().any(|a| a == text) {
            let announced = self
                .announced
                .iter()
                .any(|(name, k)| name == p && *k == ItemKind::Classified);
            if !announced {
                return Err(StepError::Skipped(format!(
                    "not concluded: the ad `{text}` cannot be chosen in spontaneous mode, and \
                     no classified notification told client {p} one was there"
                )));
            }
            return Ok(Expect::Ad);
        }
        Ok(expect.clone())
    }

    /// [`World::nothing`] in spontaneous mode: the server's own notifications that the
    /// checker accepts are absorbed. A quiet that follows a publish is only concluded when
    /// an item was in fact published meanwhile, which a witness connection (caught up, in
    /// notification mode) tells: the quiet lasts until the witness is notified, then the
    /// step's own duration. When the witness sees nothing, the scenario is not concluded.
    pub(super) async fn nothing_spontaneous(
        &mut self,
        p: &str,
        d: Duration,
    ) -> Result<(), StepError> {
        let Some(sp) = self.spontaneous().cloned() else {
            return Err(StepError::Error("not in spontaneous mode".into()));
        };
        let witnessed = if std::mem::take(&mut self.pending_publish) {
            Some(self.witness_a_publish(&sp).await?)
        } else {
            None
        };
        self.quiet_spontaneous(p, d, witnessed).await
    }

    /// Nothing but the server's own notifications (absorbed) for `d`. `witnessed`: whether
    /// an item was seen published, when the quiet is meant to follow one.
    pub(super) async fn quiet_spontaneous(
        &mut self,
        p: &str,
        d: Duration,
        witnessed: Option<bool>,
    ) -> Result<(), StepError> {
        let Some(sp) = self.spontaneous().cloned() else {
            return Err(StepError::Error("not in spontaneous mode".into()));
        };
        let dialect = self.dialect.clone();
        let peer = self.peer(p)?;
        match recv_absorbing(peer, &dialect, &sp, d, None).await? {
            None => {
                peer.quiet(d);
                if witnessed == Some(false) {
                    let what = format!("an item published while client {p} stayed quiet");
                    return Err(StepError::Skipped(sp.timed_out(None, &what)));
                }
                Ok(())
            }
            Some(other) => Err(super::world::not_nothing(peer, d, &other)),
        }
    }

    /// Opens a witness connection that has read everything and is in notification mode, and
    /// waits up to the spontaneous bound for its first notification: whether the server
    /// published something meanwhile. Its conversation is checked like any other.
    async fn witness_a_publish(&mut self, sp: &Spontaneous) -> Result<bool, StepError> {
        if let Some(reason) = sp.dry_reason(None) {
            return Err(StepError::Skipped(reason));
        }
        let witness = format!("{WITNESS}{}", self.peers.len());
        self.connect(&witness).await?;
        self.catch_up(&witness).await?;
        self.in_mode(&witness).await?;
        let dialect = self.dialect.clone();
        let peer = self.peer(&witness)?;
        let got = recv_absorbing(peer, &dialect, sp, sp.wait, Some(None)).await?;
        let kind = match &got {
            Some(Incoming::Line(line, _)) => dialect.notification_kind(line),
            _ => None,
        };
        if let Some(k) = kind {
            sp.seen(k);
        }
        peer.close().await;
        match (got, kind) {
            (_, Some(_)) => Ok(true),
            (None, None) => Ok(false),
            (Some(other), None) => Err(Failure::new(
                None,
                format!("{} expected a notification or nothing", peer.name()),
            )
            .diff("<a notification>", describe(&other))
            .into()),
        }
    }
}

/// The name of witness connections (`client witness-1`).
const WITNESS: &str = "witness-";

/// Receives on `peer` for up to `wait`, absorbing the server's own notifications: those the
/// checker accepts and that are not what the step waits for (`want`: a notification of
/// this kind, or of any kind for `Some(None)`). Returns what the step gets, `None` when
/// nothing came.
async fn recv_absorbing(
    peer: &mut Peer,
    dialect: &Dialect,
    sp: &Spontaneous,
    wait: Duration,
    want: Option<Option<ItemKind>>,
) -> Result<Option<Incoming>, StepError> {
    let deadline = Instant::now() + wait;
    let mut absorbed = 0usize;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = peer.recv(left).await;
        let Some(Incoming::Line(text, _)) = &got else {
            return Ok(got);
        };
        let Some(kind) = dialect.notification_kind(text) else {
            return Ok(got);
        };
        sp.seen(kind);
        let wanted = match want {
            Some(None) => true,
            Some(Some(k)) => k == kind,
            None => false,
        };
        if wanted || peer.other_side_flagged() || absorbed == MAX_ABSORBED {
            return Ok(got);
        }
        absorbed += 1;
        if dialect.answers_required() && !peer.stopping() {
            let ending = dialect.line_ending.as_bytes();
            peer.send(&dialect.answers.ok, ending).await?;
        }
    }
}
