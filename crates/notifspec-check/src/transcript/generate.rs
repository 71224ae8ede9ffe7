//! Generated conforming transcripts of any length, for benchmarks (`notifspec check` on a
//! recording of millions of lines) and for tests that must agree on a large input.
//!
//! The conversation is what a well-behaved client and server of the default dialect
//! (`seed-session`) would record: requests and their replies, notification sessions with
//! answered notifications, stops answering a notification, stops crossed by one notification,
//! and the odd comment. It is deterministic (a fixed-seed xorshift), so two runs produce the
//! same bytes and a benchmark measures the same file everywhere.

use std::io::{self, BufWriter, Write};

/// Ads used as classified replies (the first one is the seed's).
const ADS: &[&str] = &[
    "Nice appart in the 11e.",
    "Bike for sale, barely used",
    "Piano lessons on Saturdays",
    "Lost cat near the station, answers to Felix",
    "Sofa, free to whoever carries it",
];

/// Writes a conforming transcript of exactly `lines` lines (front matter included) to `w`.
///
/// It has no `! publish` directive and does not end with `! close`: like a recording of real
/// traffic it ends where the recording stopped, possibly in the middle of an exchange, so any
/// line count gives a transcript that checks as `pass`.
pub fn generate_conforming(lines: usize, w: impl Write) -> io::Result<()> {
    let mut g = Generator {
        out: BufWriter::with_capacity(1 << 16, w),
        left: lines,
        rng: 0x9E37_79B9_7F4A_7C15,
        promised: false,
    };
    if lines >= 8 {
        g.line(format_args!("---"))?;
        g.line(format_args!("title: generated conforming conversation"))?;
        g.line(format_args!("expect: pass"))?;
        g.line(format_args!("---"))?;
    }
    while g.left > 0 {
        g.exchange()?;
    }
    g.out.flush()
}

struct Generator<W: Write> {
    out: BufWriter<W>,
    /// Lines still to write.
    left: usize,
    rng: u64,
    /// A `notif: classified` was sent and no `classified?` reply has come since: the next
    /// reply must be a non-empty ad (`S-PROMISE`).
    promised: bool,
}

impl<W: Write> Generator<W> {
    /// Writes one line unless the requested count is reached (then silently nothing: the
    /// recording stops there).
    fn line(&mut self, args: std::fmt::Arguments<'_>) -> io::Result<()> {
        if self.left == 0 {
            return Ok(());
        }
        self.left -= 1;
        self.out.write_fmt(args)?;
        self.out.write_all(b"\n")
    }

    fn next(&mut self) -> u64 {
        // xorshift64: deterministic and good enough to vary the conversation.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// One exchange, chosen at random.
    fn exchange(&mut self) -> io::Result<()> {
        match self.next() % 16 {
            0..=3 => self.random(),
            4..=6 => self.classified(),
            7 => self.line(format_args!("# the client looks around")),
            _ => self.session(),
        }
    }

    fn random(&mut self) -> io::Result<()> {
        let n = self.next() % 100_000_000_000;
        self.line(format_args!("C: random?"))?;
        self.line(format_args!("S: {n}"))
    }

    fn classified(&mut self) -> io::Result<()> {
        let pick = self.next() as usize % (ADS.len() + 1);
        self.line(format_args!("C: classified?"))?;
        // An empty reply (no unread ad) is fine unless a notification promised one.
        if pick == ADS.len() && !self.promised {
            self.line(format_args!("S:"))?;
        } else {
            let ad = ADS[pick % ADS.len()];
            self.line(format_args!("S: {ad}"))?;
        }
        self.promised = false;
        Ok(())
    }

    /// Enter the mode, a few answered notifications, then one of the three ways to leave.
    fn session(&mut self) -> io::Result<()> {
        self.line(format_args!("C: _notif_"))?;
        self.line(format_args!("S: will send notifs"))?;
        for _ in 0..self.next() % 4 {
            self.notification()?;
            self.line(format_args!("C: OK"))?;
        }
        match self.next() % 3 {
            0 => {
                // stop_notif with nothing outstanding.
                self.line(format_args!("C: stop_notif"))?;
            }
            1 => {
                // stop_notif as the answer to a notification.
                self.notification()?;
                self.line(format_args!("C: stop_notif"))?;
            }
            _ => {
                // One notification crosses the stop; the client must not answer it.
                self.line(format_args!("C: stop_notif"))?;
                self.notification()?;
            }
        }
        self.line(format_args!("S: OK"))?;
        // A client that was told about something fetches it.
        if self.promised {
            self.classified()?;
        }
        Ok(())
    }

    fn notification(&mut self) -> io::Result<()> {
        if self.next().is_multiple_of(2) {
            self.promised = true;
            self.line(format_args!("S: notif: classified"))
        } else {
            self.line(format_args!("S: notif: random"))
        }
    }
}
