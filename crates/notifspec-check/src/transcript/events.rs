//! Turning transcript entries into checker events, so the offline checker sees a recorded
//! conversation exactly as it would see live traffic.

use super::parse::LineKind;
use super::{Directive, Entry, EntryKind, Message};
use crate::checker::{Checker, Violation};
use crate::dialect::ItemKind;
use crate::event::{Event, EventKind, Terminator};
use crate::rule::Party;

impl Entry {
    /// The checker event this entry stands for; `None` for `[...]` (the recording stops).
    /// A message with placeholders is judged through [`Message::sample`].
    pub fn to_event(&self) -> Option<Event> {
        let mut e = event(self.line, EventKind::Closed { by: Party::Client });
        self.fill_event(&mut e).then_some(e)
    }

    /// Makes `event` the one this entry stands for, reusing its text buffer when it already
    /// holds a line, so a long transcript costs no allocation per line; `false` for `[...]`
    /// (the recording stops). The one conversion behind [`Entry::to_event`] and
    /// [`super::check_transcript`].
    pub(crate) fn fill_event(&self, event: &mut Event) -> bool {
        match &self.kind {
            EntryKind::Client(m) => set_line(&mut event.kind, Party::Client, m),
            EntryKind::Server(m) => set_line(&mut event.kind, Party::Server, m),
            EntryKind::Directive(d) => event.kind = d.event_kind(),
            EntryKind::Unrecorded => return false,
        }
        event.source_line = Some(self.line);
        true
    }
}

/// Makes `kind` the line `m` from `from`, reusing its text buffer when it already is a line.
fn set_line(kind: &mut EventKind, from: Party, m: &Message) {
    if let EventKind::Line {
        from: f,
        text,
        terminator,
    } = kind
    {
        *f = from;
        *terminator = Terminator::Unknown;
        text.clear();
        m.sample_into(text);
    } else {
        let mut text = String::new();
        m.sample_into(&mut text);
        *kind = EventKind::Line {
            from,
            text,
            terminator: Terminator::Unknown,
        };
    }
}

fn message_text(m: &Message) -> String {
    match m.literal() {
        Some(s) => s.to_string(),
        None => m.sample(),
    }
}

fn line_event(from: Party, text: String) -> EventKind {
    EventKind::Line {
        from,
        text,
        terminator: Terminator::Unknown,
    }
}

fn event(line: usize, kind: EventKind) -> Event {
    Event {
        at: None,
        source_line: Some(line),
        kind,
    }
}

impl Directive {
    /// The checker event this directive stands for: one mapping for the offline checker and
    /// both parsing paths, so they cannot disagree.
    pub(crate) fn event_kind(&self) -> EventKind {
        match self {
            Directive::PublishRandom(_) => EventKind::Published {
                kind: ItemKind::Random,
            },
            Directive::PublishClassified(_) => EventKind::Published {
                kind: ItemKind::Classified,
            },
            Directive::Close => EventKind::Closed { by: Party::Client },
            Directive::ExpectClose => EventKind::Closed { by: Party::Server },
            Directive::Quiet(duration) => EventKind::Quiet {
                duration: *duration,
            },
        }
    }
}

/// The event for a borrowed entry (the streaming path): plain messages are copied once, with
/// no intermediate [`Message`].
pub(crate) fn line_kind_event(line: usize, kind: &LineKind<'_>) -> Option<Event> {
    let kind = match kind {
        LineKind::Client(m, true) => line_event(Party::Client, m.to_string()),
        LineKind::Server(m, true) => line_event(Party::Server, m.to_string()),
        LineKind::Client(m, false) => line_event(Party::Client, pattern_text(m)),
        LineKind::Server(m, false) => line_event(Party::Server, pattern_text(m)),
        LineKind::Directive(d) => d.event_kind(),
        LineKind::Unrecorded => return None,
    };
    Some(event(line, kind))
}

fn pattern_text(raw: &str) -> String {
    Message::parse(raw)
        .map(|m| message_text(&m))
        .unwrap_or_else(|_| raw.to_string())
}

impl<R: std::io::Read> super::Reader<R> {
    /// The next checker event, `Ok(None)` at the end of the file. `[...]` produces no event;
    /// [`is_complete`](super::Reader::is_complete) then tells whether hanging requests count.
    pub fn next_event(&mut self) -> Result<Option<Event>, super::ParseError> {
        loop {
            let Some((line, kind)) = self.next_kind()? else {
                return Ok(None);
            };
            if let Some(e) = line_kind_event(line, &kind) {
                return Ok(Some(e));
            }
        }
    }

    /// Feeds every remaining entry to `checker`, in order, and hands each violation to
    /// `found`: the streaming check of a whole recording. The same events as
    /// [`next_event`](super::Reader::next_event), but plain messages go to the checker
    /// borrowed from the read-ahead buffer, so a line costs no allocation and no copy.
    /// Stops at `[...]` (what follows may only be comments) or at the first parse error.
    /// Call [`Checker::finish`] afterwards.
    pub fn feed(
        &mut self,
        checker: &mut Checker,
        found: impl FnMut(Violation),
    ) -> Result<(), super::ParseError> {
        self.visit(&mut Feeding {
            checker,
            found,
            out: Vec::new(),
            stopped: false,
        })
    }
}

/// The streaming check: entries go to the checker as they are read, the usual fixed lines
/// recognized by the checker's own table before they are even split.
struct Feeding<'c, F> {
    checker: &'c mut Checker,
    found: F,
    /// Violations of the entry being fed (reused).
    out: Vec<Violation>,
    /// `[...]` was read: what follows (comments only) is not fed.
    stopped: bool,
}

impl<F: FnMut(Violation)> Feeding<'_, F> {
    #[inline]
    fn report(&mut self) {
        if !self.out.is_empty() {
            self.out.drain(..).for_each(&mut self.found);
        }
    }
}

impl<F: FnMut(Violation)> super::parse::Visit for Feeding<'_, F> {
    #[inline]
    fn whole_line(&mut self, client: bool, rest: &str, line: usize) -> Option<usize> {
        let len = self
            .checker
            .feed_known(client, rest, Some(line), &mut self.out)?;
        self.report();
        Some(len)
    }

    fn entry(&mut self, line: usize, kind: LineKind<'_>) {
        let at = Some(line);
        let out = &mut self.out;
        match kind {
            // Only comments may follow `[...]` (the reader fails on anything else).
            _ if self.stopped => {}
            LineKind::Client(m, true) => {
                self.checker
                    .feed_line(Party::Client, m, Terminator::Unknown, at, out)
            }
            LineKind::Server(m, true) => {
                self.checker
                    .feed_line(Party::Server, m, Terminator::Unknown, at, out)
            }
            LineKind::Unrecorded => self.stopped = true,
            other => {
                if let Some(e) = line_kind_event(line, &other) {
                    self.checker.feed_into(&e, out);
                }
            }
        }
        self.report();
    }
}
