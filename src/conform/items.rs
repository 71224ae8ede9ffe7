//! How items appear on a server under test: through its control port, through a command the
//! user gives (`--publish-cmd`), or on the server's own timeline (spontaneous mode).
//!
//! Real servers rarely have notifspec's control port: they publish when an admin API is
//! called, a row is inserted, or a timer fires. A publish command covers the first two; the
//! spontaneous mode covers the last, at a price: notifspec cannot choose what appears or when,
//! so a scenario that needs a chosen item (a given number, an ad read back by its text) or
//! needs to know every publish (S-NO-DUP) cannot be concluded and is skipped with that reason,
//! and a scenario that waits for an item waits up to a bound for the server's own. Safety
//! rules are judged by each peer's checker on whatever arrives.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::peer::fmt_dur;
use super::steps::{Expect, Item, Step};
use super::suite::FeatureScenario;
use super::target::{ConformTarget, TargetError};
use crate::dialect::ItemKind;
use crate::rule::RuleId;

/// The default bound of a spontaneous wait for the server's own item.
pub const DEFAULT_SPONTANEOUS_WAIT: Duration = Duration::from_secs(10);

/// How items are made to appear for scenarios that need one (tagged `@control`).
#[derive(Debug, Clone, Default)]
pub enum ItemSource {
    /// The target's control port (or the embedded reference's); without one, scenarios that
    /// publish are skipped.
    #[default]
    ControlPort,
    /// A shell command run once per publish.
    Command(PublishCmd),
    /// The server publishes on its own; scenarios wait for its items.
    Spontaneous(Spontaneous),
}

impl ItemSource {
    /// Why scenario `s` cannot run with this source against `target`, if it cannot.
    pub fn skip_reason(&self, target: &ConformTarget, s: &FeatureScenario) -> Option<String> {
        use super::suite::{TAG_CLIENT, TAG_CONTROL, TAG_OFFLINE};
        let publishes = s.has_tag(TAG_CONTROL);
        let talks_to_server = !s.has_tag(TAG_CLIENT) && !s.has_tag(TAG_OFFLINE);
        match self {
            ItemSource::Spontaneous(sp) if !target.has_control() && talks_to_server => {
                sp.skip_reason(s, publishes)
            }
            _ if publishes && !self.can_publish(target) => {
                Some("needs a control port to publish items (--control ADDR)".into())
            }
            _ => None,
        }
    }

    /// The source for one scenario (what the spontaneous mode must know about it).
    pub fn for_scenario(&self, s: &FeatureScenario) -> ItemSource {
        match self {
            ItemSource::Spontaneous(sp) => ItemSource::Spontaneous(sp.for_scenario(s)),
            other => other.clone(),
        }
    }

    /// Whether items can be published on demand.
    pub fn can_publish(&self, target: &ConformTarget) -> bool {
        match self {
            ItemSource::ControlPort | ItemSource::Spontaneous(_) => target.has_control(),
            ItemSource::Command(_) => target.has_server(),
        }
    }

    /// The spontaneous mode, when it is in force for `target` (a server without a control
    /// port).
    pub fn spontaneous(&self, target: &ConformTarget) -> Option<&Spontaneous> {
        match self {
            ItemSource::Spontaneous(sp) if !target.has_control() && target.has_server() => Some(sp),
            _ => None,
        }
    }

    /// How much longer than usual a step may take (a spontaneous wait is not the run's
    /// timeout).
    pub fn extra_bound(&self) -> Duration {
        match self {
            ItemSource::Spontaneous(sp) => sp.wait,
            _ => Duration::ZERO,
        }
    }

    /// A few words for the report's target line.
    pub fn describe(&self, target: &ConformTarget) -> String {
        match self {
            ItemSource::Command(c) if target.has_server() => {
                format!(
                    ", items published by `{}`",
                    crate::escape::printable(c.template())
                )
            }
            ItemSource::Spontaneous(sp) if !target.has_control() && target.has_server() => {
                format!(
                    ", items: the server's own (spontaneous mode, each wait up to {})",
                    fmt_dur(sp.wait)
                )
            }
            _ => String::new(),
        }
    }
}

pub use crate::publish_cmd::{PublishCmd, shell_quote};

/// What a scenario's item means to a publish command: its kind and its `{text}`.
fn kind_and_text(item: &Item) -> (ItemKind, String) {
    match item {
        Item::Random(None) => (ItemKind::Random, String::new()),
        Item::Random(Some(n)) => (ItemKind::Random, n.to_string()),
        Item::Classified(t) => (ItemKind::Classified, t.clone()),
    }
}

impl PublishCmd {
    /// The command line for a scenario's `item` (see [`PublishCmd::line_for`]).
    pub fn command_line(&self, item: &Item) -> String {
        let (kind, text) = kind_and_text(item);
        self.line_for(kind, &text)
    }

    /// Runs the command for a scenario's `item`, bounded by `wait`; a failure is a target
    /// that cannot be driven.
    pub async fn publish(&self, item: &Item, wait: Duration) -> Result<ItemKind, TargetError> {
        let (kind, text) = kind_and_text(item);
        self.run(kind, &text, wait)
            .await
            .map_err(|e| TargetError::Publish {
                cmd: e.cmd,
                reason: e.reason,
            })?;
        Ok(kind)
    }
}

/// The spontaneous mode: its wait bound and what the run has learnt of the server's
/// timeline so far (shared by all scenarios of a run, which then run one at a time).
#[derive(Debug, Clone)]
pub struct Spontaneous {
    /// The longest a scenario waits for the server's own item.
    pub wait: Duration,
    /// The scenario being run reads back an ad it published, so it waits for a classified
    /// notification; otherwise any notification stands for the item it asked for.
    pub(super) kinds_matter: bool,
    state: Arc<SpontaneousState>,
}

#[derive(Debug, Default)]
struct SpontaneousState {
    /// An item of each kind ([`kind_index`]) appeared during a step.
    seen: [AtomicBool; 2],
    /// A wait saw nothing at all, or nothing of that kind: scenarios waiting for one are
    /// skipped at once. Index 2: nothing at all.
    dry: [AtomicBool; 3],
}

fn kind_index(kind: ItemKind) -> usize {
    match kind {
        ItemKind::Random => 0,
        ItemKind::Classified => 1,
    }
}

/// Index of "nothing at all" in [`SpontaneousState::dry`].
const ANY: usize = 2;

impl Spontaneous {
    /// A spontaneous mode with waits of up to `wait`.
    pub fn new(wait: Duration) -> Spontaneous {
        Spontaneous {
            wait,
            kinds_matter: false,
            state: Arc::default(),
        }
    }

    /// The same run, prepared for scenario `s`.
    pub fn for_scenario(&self, s: &FeatureScenario) -> Spontaneous {
        Spontaneous {
            kinds_matter: reads_back_ad(s),
            ..self.clone()
        }
    }

    /// Whether the first wait of the run saw no item at all.
    pub fn is_dry(&self) -> bool {
        self.state.dry[ANY].load(Ordering::Relaxed)
    }

    /// Why a wait for a notification of `kind` (any, for `None`) is skipped at once, if it is.
    pub fn dry_reason(&self, kind: Option<ItemKind>) -> Option<String> {
        if self.is_dry() {
            return Some(DRY.into());
        }
        match kind {
            Some(k) if self.state.dry[kind_index(k)].load(Ordering::Relaxed) => Some(format!(
                "skipped at once: no {k} notification came in an earlier spontaneous wait of {} \
                 (the server does not seem to publish that kind on its own)",
                fmt_dur(self.wait)
            )),
            _ => None,
        }
    }

    /// An item of `kind` reached a client, whether a step waited for it or not.
    pub fn seen(&self, kind: ItemKind) {
        self.state.seen[kind_index(kind)].store(true, Ordering::Relaxed);
    }

    /// A wait for `kind` (any, for `None`) ended with nothing. Returns the skip reason: the
    /// first time nothing at all (or nothing of that kind) has been seen, it says so once and
    /// marks the run (or the kind) dry.
    pub fn timed_out(&self, kind: Option<ItemKind>, what: &str) -> String {
        let seen = |i: usize| self.state.seen[i].load(Ordering::Relaxed);
        if !seen(0) && !seen(1) && !self.state.dry[ANY].swap(true, Ordering::Relaxed) {
            return format!(
                "no item appeared within {} (spontaneous mode: the server has no control port \
                 and publish command, and published nothing on its own); the remaining \
                 scenarios that need an item are skipped at once",
                fmt_dur(self.wait)
            );
        }
        if let Some(k) = kind
            && !seen(kind_index(k))
            && !self.state.dry[kind_index(k)].swap(true, Ordering::Relaxed)
        {
            return format!(
                "no {k} notification came within {}, though other items did (spontaneous \
                 mode); the remaining scenarios that need one are skipped at once",
                fmt_dur(self.wait)
            );
        }
        if let Some(reason) = self.dry_reason(kind) {
            return reason;
        }
        format!(
            "not concluded: {what} did not come within {} (spontaneous mode: the server \
             published nothing of that kind meanwhile)",
            fmt_dur(self.wait)
        )
    }

    /// Why scenario `s` cannot be concluded in spontaneous mode, if it cannot.
    fn skip_reason(&self, s: &FeatureScenario, publishes: bool) -> Option<String> {
        if publishes && let Some(reason) = self.dry_reason(None) {
            return Some(reason);
        }
        if !s.rules.is_empty() && s.rules.iter().all(|r| UNCONCLUDED.contains(r)) {
            let rules: Vec<&str> = s.rules.iter().map(|r| r.as_str()).collect();
            return Some(format!(
                "spontaneous mode: {} needs to know every publish, and the server publishes \
                 on its own without telling (use --control or --publish-cmd)",
                rules.join(", ")
            ));
        }
        let steps: Vec<&Step> = s
            .steps
            .iter()
            .filter_map(|st| st.parsed.as_ref().ok())
            .collect();
        let mut ads: Vec<&str> = Vec::new();
        let mut announced_ad: Vec<&str> = Vec::new();
        for step in steps {
            match step {
                Step::Publish(Item::Random(Some(n))) => {
                    return Some(format!(
                        "spontaneous mode: publishes the number {n} and reads it back; the \
                         server's own numbers cannot be chosen (use --control or --publish-cmd)"
                    ));
                }
                Step::Publish(Item::Classified(text)) => ads.push(text),
                Step::Receive(p, expect, _) if announces_ad(expect) => announced_ad.push(p),
                Step::Receive(p, Expect::Exact(text), _)
                    if ads.contains(&text.as_str()) && !announced_ad.contains(&p.as_str()) =>
                {
                    return Some(format!(
                        "spontaneous mode: reads back the ad `{text}` it publishes, with no \
                         notification to tell when the server's own ad has appeared (use \
                         --control or --publish-cmd)"
                    ));
                }
                Step::ReadAds(p, wanted)
                    if wanted.iter().any(|w| ads.contains(&w.as_str()))
                        && !announced_ad.contains(&p.as_str()) =>
                {
                    return Some(format!(
                        "spontaneous mode: reads back the ads {} it publishes, with no \
                         notification to tell when the server's own ads have appeared (use \
                         --control or --publish-cmd)",
                        wanted.join(" / ")
                    ));
                }
                Step::AnswerAll(_, quiet) => {
                    return Some(format!(
                        "spontaneous mode: answers notifications until {} pass without one, \
                         which a server publishing on its own may never leave (use --control or \
                         --publish-cmd)",
                        fmt_dur(*quiet)
                    ));
                }
                _ => {}
            }
        }
        if publishes && reads_back_ad(s) {
            return self.dry_reason(Some(ItemKind::Classified));
        }
        None
    }
}

/// Whether scenario `s` reads back (by its text) an ad it published: it then needs the
/// server's own ad, announced by a classified notification.
fn reads_back_ad(s: &FeatureScenario) -> bool {
    let mut ads: Vec<&str> = Vec::new();
    s.steps
        .iter()
        .filter_map(|st| st.parsed.as_ref().ok())
        .any(|step| match step {
            Step::Publish(Item::Classified(text)) => {
                ads.push(text);
                false
            }
            Step::Receive(_, Expect::Exact(text), _) => ads.contains(&text.as_str()),
            _ => false,
        })
}

/// Said by every item scenario skipped after a first wait that saw nothing.
pub(super) const DRY: &str = "skipped at once: no item appeared in the first spontaneous wait (see the \
                   first such scenario)";

/// Rules that cannot be concluded when the server publishes on its own: judging them needs
/// every publish (a second notification may announce a new item, not repeat one).
const UNCONCLUDED: &[RuleId] = &[RuleId::SNoDup];

/// Whether `expect` stands for a classified notification (the scenario then learns an ad
/// is there to read back).
fn announces_ad(expect: &Expect) -> bool {
    match expect {
        Expect::Notification(Some(ItemKind::Classified)) => true,
        Expect::Exact(line) => line == &crate::dialect::Dialect::default().notifications.classified,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_item_becomes_its_kind_and_text() {
        let c = PublishCmd::new("pub {kind} {text}").unwrap();
        assert_eq!(c.command_line(&Item::Random(Some(42))), "pub 'random' '42'");
        assert_eq!(c.command_line(&Item::Random(None)), "pub 'random' ''");
        assert_eq!(
            c.command_line(&Item::Classified("ad".into())),
            "pub 'classified' 'ad'"
        );
    }

    #[test]
    fn the_first_empty_wait_is_said_once_then_everything_is_skipped_at_once() {
        let sp = Spontaneous::new(Duration::from_millis(10));
        let first = sp.timed_out(None, "a notification");
        assert!(first.contains("no item appeared within 10 ms"), "{first}");
        assert!(sp.is_dry());
        assert_eq!(sp.timed_out(None, "a notification"), DRY);
        assert_eq!(sp.dry_reason(Some(ItemKind::Random)).as_deref(), Some(DRY));
    }

    #[test]
    fn a_kind_never_seen_is_said_once_and_other_kinds_still_wait() {
        let sp = Spontaneous::new(Duration::from_secs(1));
        sp.seen(ItemKind::Random);
        let first = sp.timed_out(Some(ItemKind::Classified), "`notif: classified`");
        assert!(
            first.contains("no classified notification came within 1 s"),
            "{first}"
        );
        assert!(!sp.is_dry());
        assert!(sp.dry_reason(Some(ItemKind::Classified)).is_some());
        assert_eq!(sp.dry_reason(Some(ItemKind::Random)), None);
        assert_eq!(sp.dry_reason(None), None);
        let later = sp.timed_out(Some(ItemKind::Random), "`notif: random`");
        assert!(later.starts_with("not concluded"), "{later}");
    }
}
