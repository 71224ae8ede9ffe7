//! The checker is the oracle: it must not import the reference peers, the framing, the
//! network shell, replay or the simulator, or a bug could hide in shared code.

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "crate::proto",
    "crate::net",
    "crate::wire",
    "crate::sim",
    "crate::replay",
    "crate::conform",
    "notifspec::",
    "super::super",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn checker_imports_only_dialect_rule_and_transcript() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/checker");
    let mut files = vec![];
    rust_files(&dir, &mut files);
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for bad in FORBIDDEN {
                assert!(
                    !code.contains(bad),
                    "{}:{}: the checker must not use `{bad}`: {line}",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}
