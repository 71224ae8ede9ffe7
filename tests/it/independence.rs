//! The checker is the oracle: it lives in its own crate, `notifspec-check`, which must depend on
//! nothing of the reference peers, the framing, the network shell, replay or the simulator (the
//! root `notifspec` crate), or a bug could hide in shared code. Cargo enforces the direction;
//! this test keeps the dependency graph so: the oracle's direct dependencies are registry crates
//! from a fixed list (none can lead back to the workspace), so no new one comes without a decision.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The only packages `notifspec-check` may depend on directly (normal dependencies).
const ALLOWED: &[&str] = &[
    "humantime",
    // Only for its open(2) flags: `fsio` opens untrusted files non-blocking (a FIFO must not
    // hang) and results without following links.
    "libc",
    "memchr",
    "rand",
    "serde",
    "serde_yaml",
    "strsim",
    "thiserror",
];

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn the_checker_crate_depends_on_nothing_of_the_references() {
    let meta = metadata();
    let packages = meta["packages"].as_array().unwrap();
    let check = packages
        .iter()
        .find(|p| p["name"] == "notifspec-check")
        .expect("notifspec-check is a workspace member");
    let direct: BTreeSet<&str> = check["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].is_null())
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    let allowed: BTreeSet<&str> = ALLOWED.iter().copied().collect();
    assert_eq!(direct, allowed, "notifspec-check's dependencies changed");

    // Every allowed dependency is a registry crate, so none can lead back to the workspace.
    for dep in check["dependencies"].as_array().unwrap() {
        if dep["kind"].is_null() {
            assert!(
                dep["path"].is_null(),
                "{} is a path dependency",
                dep["name"]
            );
        }
    }
}

#[test]
fn the_root_crate_uses_the_oracle_from_its_own_crate() {
    let meta = metadata();
    let root = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "notifspec")
        .unwrap();
    assert!(
        root["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "notifspec-check" && d["path"].is_string()),
        "notifspec depends on the workspace's notifspec-check"
    );
    // The oracle's sources are no longer inside the root crate, where a `use crate::proto`
    // would compile.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for moved in ["checker", "transcript", "rule.rs", "dialect.rs"] {
        assert!(
            !src.join(moved).exists(),
            "src/{moved} is back in the root crate"
        );
    }
}
