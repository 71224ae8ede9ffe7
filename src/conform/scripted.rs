//! The scripted server of client scenarios: notifspec plays a conforming server, judges every
//! line the client under test sends, and lets scenarios inject notifications.
//!
//! It tracks the client's state itself (a second opinion next to the checker's), so a client
//! that answers twice, sends a request in notification mode or answers a notification that
//! crossed its stop fails with the rule it broke even if the checker missed it.

use std::time::Duration;

use tokio::time::Instant;

use super::failure::{Failure, StepError};
use super::peer::{Incoming, Peer, fmt_dur};
use super::target::{ClientProcess, ConformTarget};
use crate::checker::LineReading as _;
use crate::checker::{Party, Terminator};
use crate::dialect::Dialect;
use crate::rule::RuleId;

/// Most lines a serving step answers before deciding the client is looping.
const MAX_SERVED: usize = 64;

/// How the client answered the last notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Stop,
}

/// notifspec as the client's server, for one scenario.
#[derive(Debug)]
pub struct Scripted {
    pub(super) peer: Peer,
    _process: ClientProcess,
    dialect: Dialect,
    in_mode: bool,
    outstanding: bool,
    stop_sent: bool,
    /// The client's stop_notif is read and its OK not sent yet.
    ok_pending: bool,
    /// A notification crossed the stop: the client must not answer it.
    crossed: bool,
    last_answer: Option<Answer>,
    served: u64,
}

impl Scripted {
    /// Starts the client under test and accepts its connection.
    pub async fn start(
        target: &ConformTarget,
        dialect: &Dialect,
        wait: Duration,
    ) -> Result<Scripted, StepError> {
        let (process, stream) = ClientProcess::start(target, dialect, wait).await?;
        Ok(Scripted {
            peer: Peer::new("the client", Party::Server, stream, dialect, false),
            _process: process,
            dialect: dialect.clone(),
            in_mode: false,
            outstanding: false,
            stop_sent: false,
            ok_pending: false,
            crossed: false,
            last_answer: None,
            served: 0,
        })
    }

    async fn reply(&mut self, line: &str) -> Result<(), StepError> {
        let ending = self.dialect.line_ending.as_bytes();
        self.peer.send(line, ending).await?;
        Ok(())
    }

    /// Sends a line as the server; a notification becomes outstanding.
    pub async fn send(&mut self, line: &str) -> Result<(), StepError> {
        if self.dialect.notification_kind(line).is_some() && self.dialect.answers_required() {
            self.outstanding = true;
        }
        self.reply(line).await
    }

    async fn flush_ok(&mut self) -> Result<(), StepError> {
        if self.ok_pending {
            self.ok_pending = false;
            self.in_mode = false;
            let ok = self.dialect.replies.stop_ok.clone();
            self.reply(&ok).await?;
        }
        Ok(())
    }

    fn violation(&self, rule: RuleId, line: &str, why: &str) -> StepError {
        Failure::new(Some(rule), format!("the client sent `{line}`: {why}")).into()
    }

    /// Reads the client's next line within `wait`; `Ok(None)` when nothing came or it left.
    async fn next_line(&mut self, wait: Duration) -> Result<Option<String>, StepError> {
        match self.peer.recv(wait).await {
            None | Some(Incoming::Closed) => Ok(None),
            Some(Incoming::TooLong) => Err(Failure::new(
                Some(RuleId::CFraming),
                format!(
                    "the client sent a line longer than {} bytes",
                    self.dialect.max_line
                ),
            )
            .into()),
            Some(Incoming::Line(text, Terminator::Missing)) => Err(self.violation(
                RuleId::CFraming,
                &text,
                "the connection ended in the middle of this line (no terminator)",
            )),
            Some(Incoming::Line(text, _)) => Ok(Some(text)),
        }
    }

    /// Answers one client line as a conforming server would, judging it first.
    async fn serve(&mut self, line: &str) -> Result<(), StepError> {
        self.served += 1;
        let d = self.dialect.clone();
        let pipelined = self.peer.line_buffered();
        let is_request = line == d.commands.random || line == d.commands.classified;
        if is_request || line == d.commands.enter {
            if self.in_mode {
                return Err(self.violation(
                    RuleId::CNoReqInNotif,
                    line,
                    "a request in notification mode",
                ));
            }
            if pipelined {
                return Err(self.violation(
                    RuleId::COneAtATime,
                    line,
                    "another line followed before the reply to this request",
                ));
            }
        }
        if line == d.commands.random {
            let n = 1000 + self.served;
            self.reply(&n.to_string()).await
        } else if line == d.commands.classified {
            let ad = format!("Ad number {} from the scripted server", self.served);
            self.reply(&ad).await
        } else if line == d.commands.enter {
            self.in_mode = true;
            self.stop_sent = false;
            self.crossed = false;
            self.reply(&d.replies.mode_ack).await
        } else if line == d.commands.stop {
            if !self.in_mode || self.stop_sent {
                return Err(self.violation(
                    RuleId::CStopOnlyInNotif,
                    line,
                    "stop_notif outside notification mode, or twice in one session",
                ));
            }
            self.stop_sent = true;
            self.outstanding = false;
            self.in_mode = false;
            self.reply(&d.replies.stop_ok).await
        } else if line == d.answers.ok && d.answers_required() {
            if self.crossed || self.stop_sent {
                return Err(self.violation(
                    RuleId::CNoAckAfterStop,
                    line,
                    "an answer to a notification that crossed stop_notif",
                ));
            }
            if !self.outstanding {
                return Err(self.violation(
                    RuleId::CAckOnlyNotif,
                    line,
                    "OK with no notification outstanding",
                ));
            }
            self.outstanding = false;
            Ok(())
        } else {
            Err(Failure::new(
                None,
                format!(
                    "the client sent `{line}`, which is no command of dialect `{}`",
                    d.name
                ),
            )
            .into())
        }
    }

    /// Plays the server until the client has entered notification mode.
    pub async fn serve_until_mode(&mut self, wait: Duration) -> Result<(), StepError> {
        self.flush_ok().await?;
        for _ in 0..MAX_SERVED {
            if self.in_mode {
                return Ok(());
            }
            match self.next_line(wait).await? {
                Some(line) => self.serve(&line).await?,
                None => {
                    return Err(StepError::Error(format!(
                        "the client did not enter notification mode (nothing sent for {}, or it disconnected)",
                        fmt_dur(wait)
                    )));
                }
            }
        }
        Err(StepError::Error(format!(
            "the client sent {MAX_SERVED} lines without entering notification mode"
        )))
    }

    /// Waits for the answer to the outstanding notification.
    pub async fn await_answer(&mut self, wait: Duration) -> Result<(), StepError> {
        let d = self.dialect.clone();
        let line = self.next_line(wait).await?.ok_or_else(|| {
            StepError::from(Failure::new(
                Some(RuleId::CAck),
                format!(
                    "the client did not answer the notification within {}",
                    fmt_dur(wait)
                ),
            ))
        })?;
        if line == d.answers.ok {
            self.last_answer = Some(Answer::Ok);
            self.serve(&line).await
        } else if line == d.commands.stop {
            if !self.outstanding {
                return Err(self.violation(RuleId::CAck, &line, "no notification to answer"));
            }
            // Hold the OK back: a scenario may let a notification cross the stop first.
            self.last_answer = Some(Answer::Stop);
            self.stop_sent = true;
            self.outstanding = false;
            self.ok_pending = true;
            Ok(())
        } else {
            Err(Failure::new(
                Some(RuleId::CAck),
                "the client answered a notification with something else than OK or stop_notif",
            )
            .diff(format!("{} | {}", d.answers.ok, d.commands.stop), line)
            .into())
        }
    }

    /// Lets a notification cross the client's stop_notif, then completes the stop.
    pub async fn cross_the_stop(&mut self) -> Result<(), StepError> {
        if self.last_answer != Some(Answer::Stop) || !self.ok_pending {
            return Err(StepError::Skipped(
                "inconclusive: the client answered the notification with OK, so it sent no stop_notif for one to cross".into(),
            ));
        }
        let crossing = self.dialect.notifications.random.clone();
        self.reply(&crossing).await?;
        self.crossed = true;
        self.flush_ok().await
    }

    /// Plays a conforming server for `d`, judging every line; a client that leaves is fine.
    pub async fn play_along(&mut self, d: Duration) -> Result<(), StepError> {
        self.flush_ok().await?;
        let deadline = Instant::now() + d;
        for _ in 0..MAX_SERVED {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.next_line(left).await? {
                Some(line) => self.serve(&line).await?,
                None => break,
            }
        }
        Ok(())
    }
}
