//! `notifspec check` end to end: the real binary, its exit codes, text and JSON output,
//! folder recursion, parse errors, and every transcript shipped in `transcripts/`.

use std::path::Path;
use std::process::Command;

const PASSING: &str = "---\ntitle: ok\n---\nC: random?\nS: 1\n! close\n";
/// Conforming traffic claimed to break S-ERR: whatever the checker says, exactly {S-ERR} is
/// not reported, so this fails.
const FAILING: &str = "---\nexpect: [S-ERR]\n---\nC: random?\nS: 1\n";
const BROKEN: &str = "C: random?\n  X: foo\n";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn check(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_notifspec"))
        .arg("check")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run notifspec");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn exit_codes_pass_fail_error() {
    let dir = folder(&[("p.txt", PASSING), ("f.txt", FAILING), ("b.txt", BROKEN)]);
    let r = check(dir.path(), &["p.txt"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "PASS p.txt\n1 passed, 0 failed\n");
    let r = check(dir.path(), &["p.txt", "f.txt"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL f.txt\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("expected but not reported: S-ERR"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("1 passed, 1 failed\n"), "{}", r.stdout);
    let r = check(dir.path(), &["p.txt", "f.txt", "b.txt"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stdout.ends_with("1 passed, 1 failed, 1 errors\n"),
        "{}",
        r.stdout
    );
    let r = check(dir.path(), &["missing.txt"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.txt"), "{}", r.stderr);
}

#[test]
fn parse_error_shows_file_line_column_caret_and_help() {
    let dir = folder(&[("b.txt", BROKEN)]);
    let r = check(dir.path(), &["b.txt"]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.starts_with("ERROR b.txt\n"), "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "b.txt:2:3: unrecognized line `X: foo`\n      X: foo\n      ^\nhelp: a line starts with `C:`"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn json_has_one_object_per_file() {
    let dir = folder(&[("p.txt", PASSING), ("f.txt", FAILING), ("b.txt", BROKEN)]);
    let r = check(dir.path(), &["--format", "json", "p.txt", "f.txt", "b.txt"]);
    assert_eq!(r.code, 2);
    let v = json_lines(&r.stdout);
    assert_eq!(v.len(), 3, "{}", r.stdout);
    assert_eq!(v[0]["file"], "p.txt");
    assert_eq!(v[0]["verdict"], "pass");
    assert_eq!(v[0]["violations"], serde_json::json!([]));
    assert_eq!(v[1]["verdict"], "fail");
    assert_eq!(v[1]["expected"], serde_json::json!(["S-ERR"]));
    assert_eq!(v[1]["missing"], serde_json::json!(["S-ERR"]));
    assert_eq!(v[2]["verdict"], "error");
    assert!(
        v[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("b.txt:2:3: unrecognized line"),
        "{}",
        v[2]
    );
}

#[test]
fn folders_are_searched_recursively_in_sorted_order() {
    let dir = folder(&[
        ("t/b.txt", PASSING),
        ("t/a/z.transcript", PASSING),
        ("t/a/deeper/y.txt", PASSING),
        ("t/a/notes.md", BROKEN),
        ("t/dialect.yaml", BROKEN),
    ]);
    let r = check(dir.path(), &["t"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "PASS t/a/deeper/y.txt\nPASS t/a/z.transcript\nPASS t/b.txt\n3 passed, 0 failed\n"
    );
    // A file named explicitly is checked whatever its ending.
    let r = check(dir.path(), &["t/a/notes.md"]);
    assert_eq!(r.code, 2);
}

#[test]
fn dialects_by_name_relative_path_or_option() {
    let dialect = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("transcripts/custom-dialect/dialects/no-answers.yaml"),
    )
    .unwrap();
    let dir = folder(&[
        ("d/custom.yaml", &dialect),
        ("t/d/custom.yaml", &dialect),
        (
            "t/rel.txt",
            "---\ndialect: d/custom.yaml\n---\nC: random?\nS: 1\n",
        ),
        (
            "t/up.txt",
            "---\ndialect: ../d/custom.yaml\n---\nC: random?\nS: 1\n",
        ),
        (
            "t/missing.txt",
            "---\ndialect: nowhere.yaml\n---\nC: random?\n",
        ),
        ("t/plain.txt", "C: notif\nS: notif: OK\n"),
    ]);
    assert_eq!(check(dir.path(), &["t/rel.txt"]).code, 0);
    // Out of the transcript's folder tree only when the command line allows it.
    let r = check(dir.path(), &["t/up.txt"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--allow-path"), "{}", r.stderr);
    assert_eq!(
        check(dir.path(), &["--allow-path", "d", "t/up.txt"]).code,
        0
    );
    let r = check(dir.path(), &["t/missing.txt"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nowhere.yaml"), "{}", r.stderr);
    assert_eq!(
        check(dir.path(), &["--dialect", "seed-text", "t/plain.txt"]).code,
        0
    );
    let r = check(dir.path(), &["--dialect", "nope", "t/plain.txt"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown dialect `nope`"), "{}", r.stderr);
}

#[test]
fn long_transcripts_stream() {
    // 200 000 lines of conforming traffic: checked without holding the file.
    let mut text = String::from("---\ntitle: long\n---\n");
    for i in 0..50_000 {
        text.push_str(&format!("C: random?\nS: {i}\nC: classified?\nS:\n"));
    }
    text.push_str("! close\n");
    let dir = folder(&[("long.txt", &text)]);
    let r = check(dir.path(), &["long.txt"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// Every shipped transcript gets its expected verdict: conforming ones report nothing,
/// negative examples exactly the rules they name.
#[test]
fn every_shipped_transcript_gets_its_expected_verdict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let r = check(root, &["--format", "json", "transcripts"]);
    let results = json_lines(&r.stdout);
    assert!(results.len() >= 40, "{}", r.stdout);
    let wrong: Vec<_> = results.iter().filter(|v| v["verdict"] != "pass").collect();
    assert!(
        wrong.is_empty(),
        "{}",
        wrong
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(r.code, 0);
}

/// One negative example per rule that a transcript can show (offline or with `! publish`).
#[test]
fn every_judgeable_rule_has_a_negative_transcript() {
    use notifspec::rule::Checkable;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("transcripts/violations");
    for rule in notifspec::RuleId::ALL {
        if rule.checkable() == Checkable::Live {
            continue;
        }
        let file = root.join(format!("{}.txt", rule.as_str().to_ascii_lowercase()));
        let t = notifspec::transcript::Transcript::from_file(&file)
            .unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!(
            t.front.expect,
            notifspec::transcript::Expectation::Violates(vec![*rule]),
            "{}",
            file.display()
        );
    }
}

/// Every shipped transcript (and the same with its publishes moved to the end, where a
/// one-pass reader learns of them last): `check` streams each file once, yet reports exactly
/// the violations `check_transcript` finds on the parsed file, messages and order included.
#[test]
fn one_pass_check_reports_what_check_transcript_reports() {
    use notifspec::check_files::check_file;
    use notifspec::dialect::Dialect;
    use notifspec::transcript::Transcript;
    use notifspec::transcript::check_transcript;

    fn copy_tree(from: &Path, to: &Path, files: &mut Vec<std::path::PathBuf>) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let (src, dst) = (e.path(), to.join(e.file_name()));
            if src.is_dir() {
                copy_tree(&src, &dst, files);
            } else {
                std::fs::copy(&src, &dst).unwrap();
                if dst.extension().is_some_and(|x| x == "txt") {
                    files.push(dst);
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("transcripts");
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![];
    copy_tree(&root, dir.path(), &mut files);
    assert!(files.len() >= 40);
    let mut variants = files.clone();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let (publish, rest): (Vec<&str>, Vec<&str>) = text
            .lines()
            .partition(|l| l.trim_start().starts_with("! publish"));
        if publish.is_empty() || text.contains("[...]") {
            continue;
        }
        // Beside the original, so a relative dialect path still resolves.
        let name = path.file_name().unwrap().to_string_lossy();
        let late = path.with_file_name(format!("late-publish-{name}"));
        std::fs::write(
            &late,
            format!("{}\n{}\n", rest.join("\n"), publish.join("\n")),
        )
        .unwrap();
        variants.push(late);
    }
    assert!(variants.len() >= files.len() + 3);
    for file in variants {
        let t = Transcript::from_file(&file).unwrap();
        let dialect = match &t.front.dialect {
            Some(d) => Dialect::load(d, file.parent()).unwrap(),
            None => Dialect::default(),
        };
        let want = check_transcript(&t, &dialect);
        let got = check_file(&file, &Dialect::default());
        assert_eq!(got.error, None, "{}", file.display());
        assert_eq!(got.violations, want, "{}", file.display());
    }
}

/// A publish on the last line of a long recording: the violations before it that only a
/// known publish makes violations (S-NO-DUP on every notification but the first here) are reported, kept
/// and counted as if the file had been read knowing it from the start.
#[test]
fn a_late_publish_judges_the_whole_recording() {
    use notifspec::check_files::check_file;
    use notifspec::dialect::Dialect;
    use notifspec::report::MAX_KEPT_VIOLATIONS;
    use notifspec::transcript::Transcript;
    use notifspec::transcript::check_transcript;

    let mut text = String::from("C: _notif_\nS: will send notifs\n");
    for _ in 0..1_500 {
        text.push_str("S: notif: random\nC: OK\n");
    }
    let dir = folder(&[
        ("late.txt", &text),
        ("late-pub.txt", &format!("{text}! publish random\n")),
    ]);
    let plain = check_file(&dir.path().join("late.txt"), &Dialect::default());
    assert_eq!(plain.violations, vec![]);
    let path = dir.path().join("late-pub.txt");
    let got = check_file(&path, &Dialect::default());
    let want = check_transcript(&Transcript::from_file(&path).unwrap(), &Dialect::default());
    // The first may announce the number current at connect (docs/protocol.md 8.1,
    // `connect-random`); each of the other 1,499 repeats it.
    assert_eq!(want.len(), 1_499);
    assert_eq!(got.violations, want[..MAX_KEPT_VIOLATIONS]);
    assert_eq!(got.omitted, 499);
    assert_eq!(got.verdict, notifspec::report::Verdict::Fail);
}

/// `--jobs N` checks files on N threads and prints exactly what one thread prints, in the
/// same order: a large first file (finished last) does not reorder the rest, and errors
/// (a missing path, an unparsable file) keep their place.
#[test]
fn jobs_check_in_parallel_and_print_in_order() {
    let mut big = Vec::new();
    notifspec::transcript::generate_conforming(200_000, &mut big).unwrap();
    let big = String::from_utf8(big).unwrap();
    let mut files: Vec<(String, &str)> = vec![("a/0-big.txt".into(), big.as_str())];
    for i in 0..24 {
        let text = [PASSING, FAILING, BROKEN][i % 3];
        files.push((format!("a/{i:02}.txt"), text));
    }
    let named: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let dir = folder(&named);
    for format in ["text", "json"] {
        let args = |jobs: &'static str| ["--format", format, "--jobs", jobs, "a", "nope.txt"];
        let one = check(dir.path(), &args("1"));
        assert_eq!(one.code, 2, "{}{}", one.stdout, one.stderr);
        assert!(one.stdout.lines().count() >= 25, "{}", one.stdout);
        for jobs in ["4", "0"] {
            let many = check(dir.path(), &args(jobs));
            assert_eq!(
                (many.code, &many.stdout, &many.stderr),
                (one.code, &one.stdout, &one.stderr),
                "--jobs {jobs} --format {format}"
            );
        }
    }
}
