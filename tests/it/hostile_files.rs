//! Hostile files and output folders (issue 11, docs/security.md): transcripts, dialects,
//! scenarios, expect-fail and feed files from a pull request, and output folders with
//! earlier results or planted links. Every case runs the real binary under a deadline and a
//! memory limit: a regression shows as a failure, never as a hung or swapping test run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long any one command may take: each case here finishes in well under a second.
const DEADLINE: Duration = Duration::from_secs(60);

struct Run {
    code: Option<i32>,
    out: String,
}

impl Run {
    /// Exit code 2 (bad input), with `needle` in the output.
    fn refused(&self, needle: &str) {
        assert_eq!(self.code, Some(2), "{}", self.out);
        assert!(
            self.out.contains(needle),
            "`{needle}` not in:\n{}",
            self.out
        );
    }
}

/// Runs `notifspec ARGS` in `dir` under [`DEADLINE`] and a 2 GB address-space limit (so a
/// read without a bound aborts instead of eating the machine); stdout and stderr together.
fn notifspec(dir: &Path, args: &[&str]) -> Run {
    notifspec_env(dir, args, &[])
}

fn notifspec_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 2000000 && exec \"$0\" \"$@\" 2>&1")
        .arg(env!("CARGO_BIN_EXE_notifspec"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("run notifspec");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(out) => {
            let out = out.expect("wait for notifspec");
            Run {
                code: out.status.code(),
                out: String::from_utf8_lossy(&out.stdout).into_owned(),
            }
        }
        Err(_) => {
            // SAFETY: kill(2) on the child we spawned; it has not been reaped (no output yet).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("notifspec {args:?} did not finish within {DEADLINE:?}");
        }
    }
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

fn sparse(path: &Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

fn seed_session() -> String {
    notifspec::Dialect::builtin("seed-session")
        .unwrap()
        .to_yaml()
}

fn smoke_scenario(dialect: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.yaml"))
        .unwrap()
        .replace("dialect: seed-session", &format!("dialect: {dialect}"))
}

const SECRET: &str = "hunter2-do-not-print";

// ---------------------------------------------------------------------------------------
// Paths named inside files
// ---------------------------------------------------------------------------------------

#[test]
fn a_transcript_dialect_outside_its_folder_is_refused_and_never_shown() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "secret.yaml", format!("password: {SECRET}\n"));
    std::fs::create_dir(d.join("t")).unwrap();
    std::os::unix::fs::symlink(d.join("secret.yaml"), d.join("t/link.yaml")).unwrap();
    for (name, dialect) in [
        ("passwd.txt", "/etc/passwd"),
        ("up.txt", "../secret.yaml"),
        ("link.txt", "link.yaml"),
    ] {
        write(
            d,
            &format!("t/{name}"),
            format!("---\ndialect: {dialect}\n---\nC: random?\nS: 1\n"),
        );
        for format in ["text", "json"] {
            for cmd in ["check", "replay"] {
                let r = notifspec(d, &[cmd, "--format", format, &format!("t/{name}")]);
                r.refused("--allow-path");
                assert!(
                    !r.out.contains(SECRET) && !r.out.contains("root:"),
                    "{}",
                    r.out
                );
            }
        }
    }
    // The command line may allow more; what is then shown of a file that is no dialect is
    // the parser's one-line complaint, not the file.
    let r = notifspec(d, &["check", "--allow-path", ".", "t/up.txt"]);
    r.refused("unknown field `password`");
    assert!(!r.out.contains(SECRET), "{}", r.out);
}

#[test]
fn check_on_a_folder_reads_no_link_leading_out_of_it() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "secret.env", format!("TOKEN={SECRET}\n"));
    write(d, "t/real.txt", "C: random?\nS: 1\n");
    std::os::unix::fs::symlink(d.join("secret.env"), d.join("t/evil.txt")).unwrap();
    std::os::unix::fs::symlink(d.join("t/real.txt"), d.join("t/alias.txt")).unwrap();
    for format in ["text", "json"] {
        let r = notifspec(d, &["check", "--format", format, "t"]);
        r.refused("a link leading out of t");
        assert!(!r.out.contains(SECRET), "{}", r.out);
        // The link inside the folder is checked like the file it points to.
        assert!(
            r.out.contains("alias.txt") && r.out.contains("real.txt"),
            "{}",
            r.out
        );
    }
}

#[test]
fn a_scenario_dialect_outside_its_folder_needs_allow_path() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "dialects/mine.yaml", seed_session());
    write(d, "s/up.yaml", smoke_scenario("../dialects/mine.yaml"));
    write(d, "s/dialects/mine.yaml", seed_session());
    write(d, "s/inside.yaml", smoke_scenario("dialects/mine.yaml"));
    notifspec(d, &["simulate", "s/up.yaml"]).refused("--allow-path");
    let r = notifspec(d, &["simulate", "--allow-path", "dialects", "s/up.yaml"]);
    assert_eq!(r.code, Some(0), "{}", r.out);
    let r = notifspec(d, &["simulate", "s/inside.yaml"]);
    assert_eq!(r.code, Some(0), "{}", r.out);
}

#[test]
fn an_error_quotes_at_most_one_bounded_line_of_another_file() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    // A text file in the transcript's own folder, named as its dialect: the YAML parser
    // reads it as one long string and used to quote all of it.
    let notes = format!(
        "{}\nsecond line {SECRET}\nthird line\n",
        "first ".repeat(100)
    );
    write(d, "notes.yaml", notes);
    write(
        d,
        "t.txt",
        "---\ndialect: notes.yaml\n---\nC: random?\nS: 1\n",
    );
    for format in ["text", "json"] {
        let r = notifspec(d, &["check", "--format", format, "t.txt"]);
        r.refused("notes.yaml");
        assert!(!r.out.contains(SECRET), "{}", r.out);
        assert!(!r.out.contains(&"first ".repeat(40)), "{}", r.out);
    }
}

// ---------------------------------------------------------------------------------------
// What is read: regular files only, bounded by the bytes read
// ---------------------------------------------------------------------------------------

#[test]
fn fifos_are_refused_without_hanging() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    for name in ["pipe.txt", "pipe.yaml", "t/pipe.yaml"] {
        std::fs::create_dir_all(d.join("t")).unwrap();
        mkfifo(&d.join(name));
    }
    write(
        d,
        "t/names-fifo.txt",
        "---\ndialect: pipe.yaml\n---\nC: random?\nS: 1\n",
    );
    write(d, "plain.txt", "C: random?\nS: 1\n");
    let cases: &[&[&str]] = &[
        &["check", "pipe.txt"],
        &["check", "t/names-fifo.txt"],
        &["check", "--dialect", "pipe.yaml", "plain.txt"],
        &["replay", "pipe.txt"],
        &["replay", "t/names-fifo.txt"],
        &["replay", "--dialect", "pipe.yaml", "plain.txt"],
        &["simulate", "pipe.yaml"],
        &["conform", "--expect-fail", "pipe.yaml"],
        &["serve", "--addr", "127.0.0.1:0", "--feed", "pipe.yaml"],
    ];
    for args in cases {
        notifspec(d, args).refused("is a FIFO (named pipe), not a regular file");
    }
}

#[test]
fn devices_and_folders_given_as_files_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "plain.txt", "C: random?\nS: 1\n");
    std::fs::create_dir(d.join("folder.yaml")).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["check", "/dev/zero"], "character device"),
        (
            &["check", "--dialect", "/dev/zero", "plain.txt"],
            "character device",
        ),
        (&["replay", "/dev/zero"], "character device"),
        (&["simulate", "/dev/zero"], "character device"),
        (
            &["conform", "--expect-fail", "/dev/zero"],
            "character device",
        ),
        (
            &["serve", "--addr", "127.0.0.1:0", "--feed", "/dev/zero"],
            "character device",
        ),
        (
            &["check", "--dialect", "folder.yaml", "plain.txt"],
            "is a folder",
        ),
        (&["simulate", "folder.yaml"], "is a folder"),
        (&["conform", "--expect-fail", "folder.yaml"], "is a folder"),
    ];
    for (args, needle) in cases {
        notifspec(d, args).refused(needle);
    }
}

#[test]
fn reads_are_bounded_by_the_bytes_read_not_the_size_the_os_reports() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "plain.txt", "C: random?\nS: 1\n");
    // /proc files report a size of 0; this one holds 100 KB, more than any dialect.
    let big = "x".repeat(100 * 1024);
    let r = notifspec_env(
        d,
        &["check", "--dialect", "/proc/self/environ", "plain.txt"],
        &[("NOTIFSPEC_TEST_PADDING", &big)],
    );
    r.refused("more than 65536 bytes read before its end");
    assert!(r.out.contains("dialect files are at most"), "{}", r.out);
    assert!(!r.out.contains("xxxxxxxxxxxxxxxxxxxx"), "{}", r.out);
}

#[test]
fn every_kind_of_file_has_its_own_limit_named_in_the_error() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "plain.txt", "C: random?\nS: 1\n");
    // Sparse: refused from the reported size before a byte is read.
    let cases: &[(&str, u64, &[&str], &str)] = &[
        (
            "big.yaml",
            2 << 30,
            &["conform", "--expect-fail", "big.yaml"],
            "expect-fail files are at most 262144 bytes",
        ),
        (
            "feed.yaml",
            2 << 30,
            &["serve", "--addr", "127.0.0.1:0", "--feed", "feed.yaml"],
            "feed files are at most 16777216 bytes",
        ),
        (
            "s.yaml",
            (1 << 20) + 1,
            &["simulate", "s.yaml"],
            "scenario files are at most 1048576 bytes",
        ),
        (
            "d.yaml",
            65537,
            &["check", "--dialect", "d.yaml", "plain.txt"],
            "dialect files are at most 65536 bytes",
        ),
        (
            "t.txt",
            (64 << 20) + 1,
            &["replay", "t.txt"],
            "too large to parse in memory",
        ),
    ];
    for (name, len, args, needle) in cases {
        sparse(&d.join(name), *len);
        notifspec(d, args).refused(needle);
    }
}

// ---------------------------------------------------------------------------------------
// YAML nesting
// ---------------------------------------------------------------------------------------

#[test]
fn deeply_nested_yaml_is_refused_before_parsing() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "plain.txt", "C: random?\nS: 1\n");
    // 100,000 `[` took 20 s to parse; a 1 MB scenario (under its limit) over 300 s;
    // 60 KB of front matter 7 s.
    write(d, "deep.yaml", "[".repeat(100_000));
    write(d, "full.yaml", "[".repeat((1 << 20) - 1));
    write(d, "blocks.yaml", format!("a: {}x\n", "- ".repeat(400_000)));
    write(
        d,
        "front.txt",
        format!("---\ntitle: {}\n---\nC: random?\n", "[".repeat(60_000)),
    );
    write(d, "dialect.yaml", format!("name: {}\n", "{".repeat(60_000)));
    let cases: &[&[&str]] = &[
        &["simulate", "deep.yaml"],
        &["simulate", "full.yaml"],
        &["simulate", "blocks.yaml"],
        &["check", "front.txt"],
        &["check", "--dialect", "dialect.yaml", "plain.txt"],
        &["conform", "--expect-fail", "deep.yaml"],
        &["serve", "--addr", "127.0.0.1:0", "--feed", "deep.yaml"],
    ];
    for args in cases {
        notifspec(d, args).refused("levels deep");
    }
}

// ---------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------

#[test]
fn colliding_inputs_get_distinct_observed_transcripts() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "race/x.txt", "C: random?\nS: {int}\n! close\n");
    write(d, "seed-text/x.txt", "C: classified?\nS: {text}\n! close\n");
    let r = notifspec(
        d,
        &[
            "replay",
            "--save-observed",
            "obs",
            "race/x.txt",
            "seed-text/x.txt",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.out);
    let mut saved: Vec<String> = std::fs::read_dir(d.join("obs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    saved.sort();
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert!(
        saved
            .iter()
            .any(|t| t.contains("source transcript: race/x.txt")),
        "{saved:?}"
    );
    assert!(
        saved
            .iter()
            .any(|t| t.contains("source transcript: seed-text/x.txt")),
        "{saved:?}"
    );
}

#[test]
fn save_observed_refuses_earlier_results_and_never_writes_through_a_link() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "x.txt", "C: random?\nS: {int}\n! close\n");
    let outside = write(d, "outside.txt", "precious");
    std::fs::create_dir(d.join("obs")).unwrap();
    std::os::unix::fs::symlink(&outside, d.join("obs/x.observed.txt")).unwrap();
    write(d, "obs/notes.md", "mine");
    let r = notifspec(d, &["replay", "--save-observed", "obs", "x.txt"]);
    r.refused("--force");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
    let r = notifspec(d, &["replay", "--save-observed", "obs", "--force", "x.txt"]);
    assert_eq!(r.code, Some(0), "{}", r.out);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
    let saved = d.join("obs/x.observed.txt");
    assert!(!saved.is_symlink());
    assert!(
        std::fs::read_to_string(saved)
            .unwrap()
            .contains("C: random?")
    );
    assert_eq!(
        std::fs::read_to_string(d.join("obs/notes.md")).unwrap(),
        "mine"
    );
}

#[test]
fn simulate_out_refuses_earlier_results_and_force_clears_only_its_own() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "smoke.yaml", smoke_scenario("seed-session"));
    let outside = write(d, "outside.txt", "precious");
    write(d, "out/conn-3.txt", "stale");
    write(d, "out/conn-3.shrunk.txt", "stale");
    write(d, "out/notes.md", "mine");
    std::os::unix::fs::symlink(&outside, d.join("out/conn-9.txt")).unwrap();
    notifspec(d, &["simulate", "smoke.yaml", "--out", "out"]).refused("--force");
    assert!(d.join("out/conn-3.txt").exists());
    let r = notifspec(d, &["simulate", "smoke.yaml", "--out", "out", "--force"]);
    assert_eq!(r.code, Some(0), "{}", r.out);
    let left: Vec<String> = std::fs::read_dir(d.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["notes.md"]);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
}

#[test]
fn check_refuses_an_empty_transcript_and_a_folder_without_transcripts() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(d, "empty.txt", "");
    write(
        d,
        "comments.txt",
        "---\ntitle: cut off\n---\n# nothing recorded\n",
    );
    std::fs::create_dir(d.join("none")).unwrap();
    write(d, "docs/readme.md", "not a transcript");
    notifspec(d, &["check", "empty.txt"]).refused("no conversation");
    notifspec(d, &["check", "comments.txt"]).refused("no conversation");
    notifspec(d, &["check", "none"]).refused("no transcripts in this folder");
    let r = notifspec(d, &["check", "--format", "json", "docs"]);
    r.refused("no transcripts in this folder");
}
