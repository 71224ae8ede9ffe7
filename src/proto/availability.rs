//! The availability model: what a server holds (the newest random number, a bounded ring of
//! classified ads) and the read-only view a [`ServerSession`](super::server::ServerSession)
//! consults.
//!
//! The store is shared by every connection, and a connection keeps only two numbers about it
//! (the random version it last fetched, the id of its oldest unread ad). That is what makes a
//! publish cost O(1) whatever the number of clients: nothing is queued per client, each one
//! compares its two numbers with the store when it is woken up. Plain data, no locks or
//! channels: the tokio shell wraps it in a mutex and a wake-up signal.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::fsio::{self, FileError, FileKind};
use crate::yaml::{self, YamlError};

/// How many ads the store retains by default. A client that falls further behind than this
/// skips to the oldest retained ad, so memory stays bounded however many ads are published.
pub const DEFAULT_AD_CAPACITY: usize = 10_000;

/// Largest `--feed` file: room for thousands of ads of a generous line length.
pub const MAX_FEED_FILE: u64 = 16 * 1024 * 1024;

/// How a feed file is read: its limit, and its name in errors.
pub const FEED_FILE: FileKind = FileKind {
    what: "feed",
    limit: MAX_FEED_FILE,
};

/// The ads compiled into notifspec, used when `serve` is given no `--feed`.
pub const BUILTIN_FEED: &str = include_str!("../../data/ads.yaml");

/// What a session may know about the shared items: cheap lookups, so the shell can hand a
/// session a locked store (or a simulator its own) without copying anything.
pub trait ItemsView {
    /// The version of the newest random number; it increases by one per publish.
    fn random_version(&self) -> u64;
    /// The newest random number.
    fn random_value(&self) -> u64;
    /// The id the next published ad will get: every ad with a smaller id has been published.
    fn ads_end(&self) -> u64;
    /// The oldest retained ad whose id is at least `id`, with its id.
    fn ad_at_or_after(&self, id: u64) -> Option<(u64, &str)>;
}

/// The server's items: the newest random number and the last `capacity` ads, with ids that
/// increase by one per published ad and are never reused.
#[derive(Debug, Clone)]
pub struct Items {
    random_value: u64,
    random_version: u64,
    ads: VecDeque<Arc<str>>,
    first_ad_id: u64,
    capacity: usize,
}

impl Items {
    /// A store holding `random` and the single ad `first_ad`, as the protocol requires at start
    /// (every request has an answer from the first connection on). `capacity` is clamped to 1.
    pub fn new(random: u64, first_ad: &str, capacity: usize) -> Items {
        let mut ads = VecDeque::new();
        ads.push_back(Arc::from(first_ad));
        Items {
            random_value: random,
            random_version: 1,
            ads,
            first_ad_id: 0,
            capacity: capacity.max(1),
        }
    }

    /// Makes `value` the newest random number and returns its version.
    pub fn publish_random(&mut self, value: u64) -> u64 {
        self.random_value = value;
        self.random_version += 1;
        self.random_version
    }

    /// Appends an ad, evicting the oldest one when the ring is full, and returns its id.
    pub fn publish_classified(&mut self, text: &str) -> u64 {
        if self.ads.len() == self.capacity {
            self.ads.pop_front();
            self.first_ad_id += 1;
        }
        self.ads.push_back(Arc::from(text));
        self.ads_end() - 1
    }

    /// How many ads are retained (at most the capacity).
    pub fn retained_ads(&self) -> usize {
        self.ads.len()
    }
}

impl ItemsView for Items {
    fn random_version(&self) -> u64 {
        self.random_version
    }

    fn random_value(&self) -> u64 {
        self.random_value
    }

    fn ads_end(&self) -> u64 {
        self.first_ad_id + self.ads.len() as u64
    }

    fn ad_at_or_after(&self, id: u64) -> Option<(u64, &str)> {
        let id = id.max(self.first_ad_id);
        let index = usize::try_from(id - self.first_ad_id).ok()?;
        self.ads.get(index).map(|ad| (id, &**ad))
    }
}

/// Why a feed of ads could not be loaded; each variant names the place.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The file could not be read: missing, not a regular file, or over [`MAX_FEED_FILE`].
    #[error(transparent)]
    File(#[from] FileError),
    /// Not YAML of the expected shape (`ads:` followed by a list of strings).
    #[error(transparent)]
    Syntax(#[from] YamlError),
    /// An ad that could not be sent as one protocol line.
    #[error("{origin}: ad #{index}: {message}")]
    BadAd {
        /// File path or `built-in feed`.
        origin: String,
        /// 1-based position in the list.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The list is empty, but the server must hold an ad from the start.
    #[error("{origin}: the feed has no ads; the server needs at least one")]
    Empty {
        /// File path or `built-in feed`.
        origin: String,
    },
}

/// The classified ads a server publishes, in order: the first at start, the next ones on the
/// auto-publish schedule (wrapping around).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    ads: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedFile {
    ads: Vec<String>,
}

/// Checks that `text` can be published as an ad: one non-empty line (an empty line means "no
/// unread ad") within `max_line` bytes.
pub fn validate_ad(text: &str, max_line: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("an ad must not be empty (an empty line means `no unread ad`)".into());
    }
    if text.contains(['\r', '\n']) {
        return Err("an ad must be one line, without line breaks".into());
    }
    if text.len() > max_line {
        return Err(format!(
            "the ad is {} bytes, longer than the line limit {max_line}",
            text.len()
        ));
    }
    Ok(())
}

impl Feed {
    /// The feed compiled into notifspec.
    pub fn builtin() -> Feed {
        Feed::from_yaml_str(BUILTIN_FEED, "built-in feed", usize::MAX)
            .expect("the built-in feed is valid")
    }

    /// Reads a feed file; ads longer than `max_line` are refused since they could not be sent.
    pub fn from_file(path: &Path, max_line: usize) -> Result<Feed, FeedError> {
        let origin = path.display().to_string();
        let bytes = fsio::read_bounded(path, FEED_FILE)?;
        let text = crate::yaml::decode(bytes, &origin, "a feed")?;
        Feed::from_yaml_str(&text, &origin, max_line)
    }

    /// Parses `ads: [...]` YAML; `origin` names the source in errors.
    pub fn from_yaml_str(text: &str, origin: &str, max_line: usize) -> Result<Feed, FeedError> {
        let file: FeedFile = yaml::from_str(text, origin)?;
        if file.ads.is_empty() {
            return Err(FeedError::Empty {
                origin: origin.to_string(),
            });
        }
        for (i, ad) in file.ads.iter().enumerate() {
            validate_ad(ad, max_line).map_err(|message| FeedError::BadAd {
                origin: origin.to_string(),
                index: i + 1,
                message,
            })?;
        }
        Ok(Feed { ads: file.ads })
    }

    /// The ads in publishing order (never empty).
    pub fn ads(&self) -> &[String] {
        &self.ads
    }

    /// The ad published `n`-th (0 = at start), wrapping around the list.
    pub fn nth(&self, n: u64) -> &str {
        let len = self.ads.len() as u64;
        // `len` is at least 1 (checked at load), and the remainder fits in usize.
        &self.ads[usize::try_from(n % len.max(1)).unwrap_or(0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded_and_ids_are_monotonic() {
        let mut items = Items::new(7, "first", 3);
        assert_eq!(items.ads_end(), 1);
        for i in 0..10 {
            assert_eq!(items.publish_classified(&format!("ad {i}")), i + 1);
        }
        assert_eq!(items.retained_ads(), 3);
        assert_eq!(items.ads_end(), 11);
        // A reader far behind skips to the oldest retained ad.
        assert_eq!(items.ad_at_or_after(0), Some((8, "ad 7")));
        assert_eq!(items.ad_at_or_after(10), Some((10, "ad 9")));
        assert_eq!(items.ad_at_or_after(11), None);
    }

    #[test]
    fn random_versions_increase() {
        let mut items = Items::new(7, "first", 3);
        let v = items.random_version();
        assert_eq!(items.publish_random(9), v + 1);
        assert_eq!(items.random_value(), 9);
    }

    #[test]
    fn builtin_feed_has_a_few_dozen_ads() {
        let feed = Feed::builtin();
        assert!(feed.ads().len() >= 24, "{}", feed.ads().len());
        assert_eq!(feed.nth(0), "Nice appart in the 11e.");
        assert_eq!(feed.nth(feed.ads().len() as u64), feed.nth(0));
    }

    #[test]
    fn bad_feeds_name_the_place() {
        let err = Feed::from_yaml_str("ads:\n  - ok\n  - \"\"\n", "f.yaml", 100)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "f.yaml: ad #2: an ad must not be empty (an empty line means `no unread ad`)"
        );
        let err = Feed::from_yaml_str("adz: []\n", "f.yaml", 100)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.yaml:1:1:"), "{err}");
        let err = Feed::from_yaml_str("ads: []\n", "f.yaml", 100)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no ads"), "{err}");
        let err = Feed::from_yaml_str("ads: [abcdef]\n", "f.yaml", 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than the line limit 3"), "{err}");
    }
}
