//! Files notifspec does not trust: every file it reads, and every path named inside one.
//!
//! A conformance gate runs on transcripts, dialects and scenarios from pull requests, so a
//! file must not be able to make notifspec hang, exhaust memory, or show another file's
//! contents (see `docs/security.md`). One module does it for every loader, so the rules are
//! the same everywhere:
//! - only regular files are read: a FIFO, a device or a folder given as a file is refused
//!   without blocking (a FIFO is opened non-blocking, and never read);
//! - every read stops at a limit per kind of file, counted on the bytes actually read, not
//!   on the size the OS reports (`/proc` files report 0);
//! - a path named inside a file resolves only inside that file's folder tree (symlinks
//!   resolved first), unless the command line allows more ([`AllowedPaths`]);
//! - output files are created new, never through a symlink ([`create_new`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// A kind of input file and the most bytes notifspec reads of one: the limit and the name
/// in the error go together, so a user learns which limit a file broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKind {
    /// What the file is, as the error says it (`dialect`, `scenario`...).
    pub what: &'static str,
    /// Most bytes read; a longer file is refused.
    pub limit: u64,
}

/// A file that could not be read safely. Each variant names the file and, where a limit
/// was broken, which one.
#[derive(Debug)]
pub enum FileError {
    /// What the OS said (no such file, permission denied...).
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A FIFO, device, socket or folder where a file was expected.
    NotRegular {
        /// The path given.
        path: PathBuf,
        /// What it is (`a FIFO`, `a folder`...).
        found: &'static str,
        /// The kind of file expected.
        what: &'static str,
    },
    /// Longer than the limit for its kind.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The kind, with its limit.
        kind: FileKind,
        /// The size the OS reported, or `None` when the file proved longer while read.
        size: Option<u64>,
    },
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path().display(), self.reason())
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl FileError {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            FileError::Io { path, .. }
            | FileError::NotRegular { path, .. }
            | FileError::TooLarge { path, .. } => path,
        }
    }

    /// What is wrong, without the path (for errors that name the file their own way).
    pub fn reason(&self) -> String {
        match self {
            FileError::Io { source, .. } => source.to_string(),
            FileError::NotRegular { found, what, .. } => format!(
                "is {found}, not a regular file ({what} files are read only from regular files)"
            ),
            FileError::TooLarge {
                kind,
                size: Some(n),
                ..
            } => format!(
                "{n} bytes is too large ({} files are at most {} bytes)",
                kind.what, kind.limit
            ),
            FileError::TooLarge {
                kind, size: None, ..
            } => format!(
                "more than {} bytes read before its end, too large ({} files are at most {} \
                 bytes)",
                kind.limit, kind.what, kind.limit
            ),
        }
    }
}

/// How a non-regular file is named in errors.
fn describe(ft: std::fs::FileType) -> Option<&'static str> {
    if ft.is_file() {
        None
    } else if ft.is_dir() {
        Some("a folder")
    } else if ft.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if ft.is_char_device() {
        Some("a character device")
    } else if ft.is_block_device() {
        Some("a block device")
    } else if ft.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    }
}

/// Opens `path` for reading if it is a regular file of at most `kind.limit` reported bytes.
///
/// The type is checked before opening (a device is never opened) and again on the open
/// descriptor (a FIFO swapped in between is opened non-blocking, so it cannot hang). The
/// caller bounds its reads itself (see [`read_bounded`]): the reported size can lie.
pub fn open_regular(path: &Path, kind: FileKind) -> Result<File, FileError> {
    let io_err = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_regular = |found| FileError::NotRegular {
        path: path.to_path_buf(),
        found,
        what: kind.what,
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if let Some(found) = describe(meta.file_type()) {
        return Err(not_regular(found));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if let Some(found) = describe(meta.file_type()) {
        return Err(not_regular(found));
    }
    if meta.len() > kind.limit {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            kind,
            size: Some(meta.len()),
        });
    }
    Ok(file)
}

/// Reads a whole regular file of at most `kind.limit` bytes, counting the bytes read.
pub fn read_bounded(path: &Path, kind: FileKind) -> Result<Vec<u8>, FileError> {
    let file = open_regular(path, kind)?;
    let mut bytes = Vec::new();
    file.take(kind.limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| FileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > kind.limit {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            kind,
            size: None,
        });
    }
    Ok(bytes)
}

/// Creates `path` for writing; fails if anything exists there, a symlink included (it is
/// not followed), so an output never overwrites a file or writes through a planted link.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Makes `dir` ready for a command's results: created if missing; refused if it holds
/// earlier results (files whose name `is_ours` recognises) unless `force`, which deletes
/// those and nothing else (a link is deleted, never followed). Every result is then written
/// with [`create_new`], so two results of one run never overwrite each other either.
pub fn prepare_output_dir(dir: &Path, is_ours: fn(&str) -> bool, force: bool) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut earlier: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(is_ours) && !entry.file_type()?.is_dir() {
            earlier.push(entry.path());
        }
    }
    earlier.sort();
    let Some(first) = earlier.first() else {
        return Ok(());
    };
    if !force {
        return Err(io::Error::other(format!(
            "{} holds {} result(s) of an earlier run (such as {}); pass --force to delete \
             them first, or choose another folder",
            dir.display(),
            earlier.len(),
            first.display()
        )));
    }
    for path in &earlier {
        std::fs::remove_file(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Folders a path named inside a file may reach besides that file's own folder tree:
/// the command line's `--allow-path` values. Built-in names need none.
#[derive(Debug, Clone, Default)]
pub struct AllowedPaths {
    /// Canonical (symlinks resolved) folders.
    dirs: Vec<PathBuf>,
}

/// A path named inside a file that leads outside the folders it may reach.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{named}` is outside {}, the folder of the file naming it; a path inside a file may \
     only reach that folder tree (pass --allow-path DIR to allow another folder)",
    .base.display()
)]
pub struct OutsideError {
    /// The path as the file wrote it.
    pub named: String,
    /// The folder of the file naming it.
    pub base: PathBuf,
}

impl AllowedPaths {
    /// Nothing beyond each file's own folder tree.
    pub fn none() -> AllowedPaths {
        AllowedPaths::default()
    }

    /// Allows `dirs` too (each must exist: it is resolved now, symlinks included).
    pub fn new(dirs: &[PathBuf]) -> Result<AllowedPaths, FileError> {
        let dirs = dirs
            .iter()
            .map(|d| {
                d.canonicalize().map_err(|source| FileError::Io {
                    path: d.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowedPaths { dirs })
    }

    /// Whether `real` (a canonical path) lies in one of the allowed folders.
    pub fn allows(&self, real: &Path) -> bool {
        self.dirs.iter().any(|d| real.starts_with(d))
    }

    /// Resolves `named`, written in a file whose folder is `base`: `Ok(None)` when nothing
    /// exists there, the path when it stays inside `base` or an allowed folder once every
    /// symlink is resolved, else an error (so `../../.env`, `/etc/passwd` and a link
    /// pointing out are all refused).
    pub fn resolve(&self, named: &str, base: &Path) -> Result<Option<PathBuf>, OutsideError> {
        let joined = base.join(named);
        let outside = || OutsideError {
            named: named.to_string(),
            base: base.to_path_buf(),
        };
        let Ok(real) = joined.canonicalize() else {
            return Ok(None);
        };
        let base_real = if base.as_os_str().is_empty() {
            Path::new(".").canonicalize()
        } else {
            base.canonicalize()
        };
        let inside = base_real.iter().any(|d| real.starts_with(d)) || self.allows(&real);
        if inside {
            Ok(Some(joined))
        } else {
            Err(outside())
        }
    }
}

/// Shortens text taken from a file the user did not name (say, in a YAML error quoting a
/// value) to its first line and at most `max` bytes, so an error never shows more of it.
pub fn excerpt(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let more = first.len() < text.trim_end().len();
    if first.len() <= max && !more {
        return first.to_string();
    }
    let mut cut = max.min(first.len());
    while !first.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &first[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: FileKind = FileKind {
        what: "test",
        limit: 10,
    };

    #[test]
    fn folder_and_device_are_refused_by_type() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_bounded(dir.path(), KIND).unwrap_err().to_string();
        assert!(e.contains("is a folder, not a regular file"), "{e}");
        let e = read_bounded(Path::new("/dev/zero"), KIND)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a character device"), "{e}");
    }

    #[test]
    fn proc_files_are_bounded_by_bytes_read() {
        // /proc files report a size of 0 but have content.
        let e = read_bounded(Path::new("/proc/self/status"), KIND)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 10 bytes read before its end"), "{e}");
        assert!(e.contains("test files are at most 10 bytes"), "{e}");
    }

    #[test]
    fn create_new_neither_overwrites_nor_follows_links() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        assert!(create_new(&target).is_err());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        assert!(create_new(&link).is_err());
        assert!(!dir.path().join("elsewhere").exists());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }

    #[test]
    fn output_dir_with_earlier_results_needs_force_which_deletes_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let ours = |n: &str| n.ends_with(".ours");
        prepare_output_dir(&out, ours, false).unwrap();
        std::fs::write(out.join("a.ours"), "old").unwrap();
        std::fs::write(out.join("notes.md"), "keep").unwrap();
        let outside = dir.path().join("outside.ours");
        std::fs::write(&outside, "keep").unwrap();
        std::os::unix::fs::symlink(&outside, out.join("link.ours")).unwrap();
        let e = prepare_output_dir(&out, ours, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("holds 2 result(s)") && e.contains("--force"),
            "{e}"
        );
        assert!(out.join("a.ours").exists());
        prepare_output_dir(&out, ours, true).unwrap();
        assert!(!out.join("a.ours").exists() && !out.join("link.ours").exists());
        assert_eq!(
            std::fs::read_to_string(out.join("notes.md")).unwrap(),
            "keep"
        );
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
    }

    #[test]
    fn named_paths_stay_in_the_tree_unless_allowed() {
        let root = tempfile::tempdir().unwrap();
        let inner = root.path().join("inner");
        std::fs::create_dir_all(inner.join("sub")).unwrap();
        std::fs::write(inner.join("sub/d.yaml"), "x").unwrap();
        std::fs::write(root.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(root.path().join("secret"), inner.join("link")).unwrap();
        let none = AllowedPaths::none();
        assert!(none.resolve("sub/d.yaml", &inner).unwrap().is_some());
        assert!(none.resolve("missing.yaml", &inner).unwrap().is_none());
        for bad in ["../secret", "link", "/etc/passwd"] {
            let e = none.resolve(bad, &inner).unwrap_err().to_string();
            assert!(e.contains("--allow-path"), "{e}");
        }
        let allowed = AllowedPaths::new(&[root.path().to_path_buf()]).unwrap();
        assert!(allowed.resolve("../secret", &inner).unwrap().is_some());
        assert!(allowed.resolve("link", &inner).unwrap().is_some());
        assert!(allowed.resolve("/etc/passwd", &inner).is_err());
    }

    #[test]
    fn excerpt_keeps_one_bounded_line() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("line one\nline two", 100), "line one...");
        assert_eq!(excerpt("abcdefghijkl", 5), "abcde...");
        assert_eq!(excerpt("ééé", 3), "é...");
    }
}
