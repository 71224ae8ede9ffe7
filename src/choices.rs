//! The points where the seed leaves a server's behaviour open, and which legal alternative the
//! reference server takes at each (docs/protocol.md, section 8.1).
//!
//! The checker accepts every alternative; the reference server takes one of each, chosen here,
//! so that a test can run the whole conformance suite against every legal reading and prove the
//! suite has no false positive (`tests/it/variants.rs`). Plain configuration, outside
//! [`crate::proto`], so the conformance suite's own peers can pass it on without touching the
//! reference peers. The defaults are the reading the
//! reference server always had. The spelling is the one of `notifspec serve --choice`:
//! `key=value` pairs separated by commas, e.g. `classified-order=newest,when-none=repeat`.

use std::fmt;
use std::str::FromStr;

/// Whether the random number current when a client connects is news to that client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectRandom {
    /// It counts as already fetched: only a number published after connect is announced.
    #[default]
    Seen,
    /// It is available until the client fetches it: the first notification session
    /// announces it.
    Available,
}

/// Which unread ad `classified?` returns ("the recent unread classified ads").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClassifiedOrder {
    /// The oldest unread ad first.
    #[default]
    Oldest,
    /// The newest unread ad first.
    Newest,
}

/// What `classified?` answers when nothing is unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenNone {
    /// An empty line.
    #[default]
    Empty,
    /// The newest ad again (already read, since nothing is unread).
    Repeat,
}

/// How ads that pile up behind the answer window (or before the mode is entered) are
/// announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdsBehind {
    /// One notification per unread ad, one at a time through the window.
    #[default]
    Each,
    /// One notification for all the ads unread when it is sent.
    One,
}

/// What `random?` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RandomReply {
    /// The newest published number (the same one until the next publish).
    #[default]
    Newest,
    /// A new number drawn for each request.
    Draw,
}

/// One legal alternative at every choice point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Choices {
    /// `connect-random=seen|available`.
    pub connect_random: ConnectRandom,
    /// `classified-order=oldest|newest`.
    pub classified_order: ClassifiedOrder,
    /// `when-none=empty|repeat`.
    pub when_none: WhenNone,
    /// `ads-behind=each|one`.
    pub ads_behind: AdsBehind,
    /// `random=newest|draw`.
    pub random: RandomReply,
}

/// Every choice point: its key and its alternatives, the default first.
pub const CHOICE_POINTS: &[(&str, &[&str])] = &[
    ("connect-random", &["seen", "available"]),
    ("classified-order", &["oldest", "newest"]),
    ("when-none", &["empty", "repeat"]),
    ("ads-behind", &["each", "one"]),
    ("random", &["newest", "draw"]),
];

impl Choices {
    /// Sets choice point `key` to `value`; the error names both and the legal values.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let Some((_, values)) = CHOICE_POINTS.iter().find(|(k, _)| *k == key) else {
            let keys: Vec<&str> = CHOICE_POINTS.iter().map(|(k, _)| *k).collect();
            return Err(format!(
                "unknown choice point `{key}`; known: {}",
                keys.join(", ")
            ));
        };
        let Some(i) = values.iter().position(|v| *v == value) else {
            return Err(format!(
                "`{key}` cannot be `{value}`; it is one of: {}",
                values.join(", ")
            ));
        };
        match key {
            "connect-random" => {
                self.connect_random = [ConnectRandom::Seen, ConnectRandom::Available][i];
            }
            "classified-order" => {
                self.classified_order = [ClassifiedOrder::Oldest, ClassifiedOrder::Newest][i];
            }
            "when-none" => self.when_none = [WhenNone::Empty, WhenNone::Repeat][i],
            "ads-behind" => self.ads_behind = [AdsBehind::Each, AdsBehind::One][i],
            _ => self.random = [RandomReply::Newest, RandomReply::Draw][i],
        }
        Ok(())
    }

    /// The alternative taken at each choice point, as an index into [`CHOICE_POINTS`] values.
    fn indices(&self) -> [usize; 5] {
        [
            usize::from(self.connect_random == ConnectRandom::Available),
            usize::from(self.classified_order == ClassifiedOrder::Newest),
            usize::from(self.when_none == WhenNone::Repeat),
            usize::from(self.ads_behind == AdsBehind::One),
            usize::from(self.random == RandomReply::Draw),
        ]
    }

    /// The choices with alternative `pick[i]` at choice point `i` (of [`CHOICE_POINTS`]).
    pub fn from_indices(pick: &[usize]) -> Choices {
        let mut c = Choices::default();
        for ((key, values), i) in CHOICE_POINTS.iter().zip(pick) {
            // Indices come from CHOICE_POINTS itself, so every pair is legal.
            let _ = c.set(key, values[*i % values.len()]);
        }
        c
    }

    /// Every choice point at its default except one: one entry per non-default alternative.
    pub fn single_alternatives() -> Vec<Choices> {
        let mut out = vec![];
        for (p, (_, values)) in CHOICE_POINTS.iter().enumerate() {
            for v in 1..values.len() {
                let mut pick = [0; 5];
                pick[p] = v;
                out.push(Choices::from_indices(&pick));
            }
        }
        out
    }

    /// A small set of combinations in which every pair of alternatives at every two choice
    /// points occurs at least once (pairwise coverage), built greedily.
    pub fn pairwise() -> Vec<Choices> {
        let n = CHOICE_POINTS.len();
        let sizes: Vec<usize> = CHOICE_POINTS.iter().map(|(_, v)| v.len()).collect();
        let mut uncovered = std::collections::BTreeSet::new();
        for a in 0..n {
            for b in a + 1..n {
                for va in 0..sizes[a] {
                    for vb in 0..sizes[b] {
                        uncovered.insert((a, va, b, vb));
                    }
                }
            }
        }
        let total: usize = sizes.iter().product();
        let all: Vec<Vec<usize>> = (0..total)
            .map(|mut k| {
                sizes
                    .iter()
                    .map(|s| {
                        let v = k % s;
                        k /= s;
                        v
                    })
                    .collect()
            })
            .collect();
        let mut out = vec![];
        while !uncovered.is_empty() {
            let covers = |pick: &Vec<usize>| {
                uncovered
                    .iter()
                    .filter(|(a, va, b, vb)| pick[*a] == *va && pick[*b] == *vb)
                    .count()
            };
            let Some(best) = all.iter().max_by_key(|p| covers(p)) else {
                break;
            };
            let best = best.clone();
            uncovered.retain(|(a, va, b, vb)| !(best[*a] == *va && best[*b] == *vb));
            out.push(Choices::from_indices(&best));
        }
        out
    }
}

impl fmt::Display for Choices {
    /// The `--choice` spelling of every choice point, defaults included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = CHOICE_POINTS
            .iter()
            .zip(self.indices())
            .map(|((k, values), i)| format!("{k}={}", values[i]))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Choices {
    type Err = String;

    /// `key=value,key=value`; unnamed choice points keep their default. An empty string is
    /// the defaults.
    fn from_str(s: &str) -> Result<Choices, String> {
        let mut c = Choices::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!("`{part}` is not `key=value`"));
            };
            c.set(key.trim(), value.trim())?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_round_trips_and_errors_name_the_place() {
        let c: Choices = "classified-order=newest, when-none=repeat".parse().unwrap();
        assert_eq!(c.classified_order, ClassifiedOrder::Newest);
        assert_eq!(c.when_none, WhenNone::Repeat);
        assert_eq!(c.connect_random, ConnectRandom::Seen);
        assert_eq!(c.to_string().parse::<Choices>().unwrap(), c);
        assert_eq!("".parse::<Choices>().unwrap(), Choices::default());
        let e = "colour=red".parse::<Choices>().unwrap_err();
        assert!(e.contains("unknown choice point `colour`"), "{e}");
        let e = "random=twice".parse::<Choices>().unwrap_err();
        assert!(e.contains("newest, draw"), "{e}");
        let e = "random".parse::<Choices>().unwrap_err();
        assert!(e.contains("key=value"), "{e}");
    }

    #[test]
    fn pairwise_covers_every_pair_with_few_combinations() {
        let set = Choices::pairwise();
        assert!(set.len() <= 8, "{}", set.len());
        for a in 0..5 {
            for b in a + 1..5 {
                for va in 0..2 {
                    for vb in 0..2 {
                        assert!(
                            set.iter().any(|c| {
                                let i = c.indices();
                                i[a] == va && i[b] == vb
                            }),
                            "pair {a}={va} {b}={vb} missing"
                        );
                    }
                }
            }
        }
        assert_eq!(Choices::single_alternatives().len(), 5);
        assert!(
            Choices::single_alternatives()
                .iter()
                .all(|c| *c != Choices::default())
        );
    }
}
