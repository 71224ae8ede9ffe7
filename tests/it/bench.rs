//! The benchmark machinery on tiny plans: every measurement runs end to end against real child
//! servers on loopback and counts what it should. Speed is never asserted; only that the
//! figures come from traffic that actually happened.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use notifspec::bench::{self, Cell, Plan, Reference, Which, fanout, redis, rr, swarm::Broker};
use notifspec::dialect::Dialect;

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_notifspec"))
}

/// A few hundred round trips, a few clients, two runs.
fn tiny(only: &[Which]) -> Plan {
    let mut plan = Plan::quick(exe());
    plan.runs = 2;
    plan.only = only.to_vec();
    plan.rr = rr::RrPlan {
        conns: vec![1, 3],
        duration: Duration::from_secs(20),
        max_per_conn: 100,
    };
    plan.fanout = fanout::FanoutPlan {
        points: vec![fanout::Point {
            clients: 5,
            interval: Duration::from_millis(5),
        }],
        duration: Duration::from_millis(100),
        drain: Duration::from_secs(5),
    };
    plan.memory.conns = 20;
    plan.check.lines = 2_000;
    plan
}

fn num(cell: &Cell) -> f64 {
    match cell {
        Cell::Num(v, _) => *v,
        Cell::Text(t) => panic!("expected a number, got `{t}`"),
    }
}

fn request() -> Arc<[u8]> {
    Arc::from(&b"random?\r\n"[..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_are_counted_against_floor_and_reference() {
    let plan = tiny(&[]);
    let (floor, addr) = rr::start_floor(&plan).await.expect("floor starts");
    let s = rr::drive(addr, 3, request(), Duration::from_secs(20), 100).await;
    floor.stop().await;
    let s = s.expect("floor answers");
    assert_eq!(s.round_trips, 300);
    assert_eq!(s.latency.count(), 300);

    let server = Reference::start(&plan).await.expect("reference starts");
    let s = rr::drive(server.addr, 3, request(), Duration::from_secs(20), 100).await;
    server.child.stop().await;
    let s = s.expect("reference answers random? with numbers");
    assert_eq!(s.round_trips, 300);
    assert!(s.latency.max() > Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_numeric_reply_fails_the_point() {
    let plan = tiny(&[]);
    let server = Reference::start(&plan).await.expect("reference starts");
    // `_notif_` is answered by the mode ack, which is not a number.
    let s = rr::drive(
        server.addr,
        1,
        Arc::from(&b"_notif_\r\n"[..]),
        Duration::from_secs(5),
        10,
    )
    .await;
    server.child.stop().await;
    let err = s.expect_err("a mode ack is not a random number");
    assert!(err.to_string().contains("will send notifs"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_hears_about_the_last_publish() {
    let plan = tiny(&[]);
    let point = plan.fanout.points[0];
    let server = Reference::start(&plan).await.expect("reference starts");
    let broker = Broker::Reference {
        addr: server.addr,
        control: server.control,
    };
    let s = fanout::drive(broker, point, &plan.fanout, &Dialect::default()).await;
    server.child.stop().await;
    let s = s.expect("fan-out runs");
    let clients = point.clients as u64;
    assert!(s.publishes >= 2, "{s:?}");
    // Each subscriber gets at least one notification, never more than one per publish,
    // and finishes only once the last publish is covered (else it would wait for the drain).
    assert!(s.deliveries >= clients, "{s:?}");
    assert!(s.deliveries <= clients * s.publishes as u64, "{s:?}");
    assert!(s.latency.count() >= clients, "{s:?}");
    assert!(s.span < plan.fanout.drain, "subscribers caught up: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_delivers_every_message_to_every_subscriber() {
    let Some(program) = notifspec::bench::process::on_path("redis-server") else {
        eprintln!("redis-server not installed: skipped");
        return;
    };
    let plan = tiny(&[]);
    let point = plan.fanout.points[0];
    let (child, addr) = redis::start(&program, point.clients)
        .await
        .expect("redis starts");
    let s = fanout::drive(
        Broker::Redis { addr },
        point,
        &plan.fanout,
        &Dialect::default(),
    )
    .await;
    child.stop().await;
    let s = s.expect("fan-out runs");
    assert_eq!(s.deliveries, point.clients as u64 * s.publishes as u64);
    assert_eq!(s.latency.count(), s.deliveries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_run_fills_every_table() {
    let plan = tiny(&[Which::Rr, Which::Fanout, Which::Memory, Which::Check]);
    let (tables, failed) = bench::run(&plan).await;
    let text: String = tables.iter().map(|t| t.to_text()).collect();
    assert!(!failed, "{text}");
    let ids: Vec<&str> = tables.iter().map(|t| t.id).collect();
    assert_eq!(ids, ["rr", "fanout", "memory", "check"]);

    let rr = &tables[0];
    assert_eq!(rr.rows.len(), 2, "{text}");
    for row in &rr.rows {
        assert!(num(&row[1]) > 0.0 && num(&row[4]) > 0.0, "{text}");
    }
    assert!(rr.targets.iter().all(|t| t.ratio.is_some()), "{text}");
    // Issue 14's goal: at least 0.95× the floor at every connection count.
    assert_eq!(rr.targets.len(), 2, "{text}");
    assert!(rr.targets.iter().all(|t| t.goal == 0.95), "{text}");

    let with_redis = plan.redis.is_some();
    let fan = &tables[1];
    assert_eq!(fan.rows.len(), if with_redis { 2 } else { 1 }, "{text}");
    assert!(num(&fan.rows[0][4]) >= 5.0, "{text}");
    let mem = &tables[2];
    assert!(
        num(&mem.rows[0][2]) > 0.0 && num(&mem.rows[0][3]) > 0.0,
        "{text}"
    );
    // Issue 14's goal first: bytes per idle connection against the 2 KB budget, always
    // measured; then the ratio to Redis, when it is installed.
    let per_conn = num(&mem.rows[0][4]);
    assert!(mem.targets[0].what.contains("/ 2048 B"), "{text}");
    let budget_ratio = mem.targets[0].ratio.expect("measured without Redis too");
    assert!((budget_ratio * 2048.0 - per_conn).abs() <= 0.5, "{text}");
    assert_eq!(mem.targets[0].goal, 1.0, "{text}");
    assert_eq!(mem.targets[1].ratio.is_some(), with_redis, "{text}");

    // `check` passed on the generated transcript (else the table would carry an error).
    let check = &tables[3];
    assert_eq!(check.rows.len(), 2, "{text}");
    assert!(num(&check.rows[1][1]) >= 2_000.0, "{text}");
    assert!(check.targets[0].ratio.is_some_and(|r| r > 0.0), "{text}");
}

#[test]
fn the_cli_prints_json_tables() {
    let out = Command::new(exe())
        .args(["bench", "--quick", "--only", "replay", "--format", "json"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let table = &doc["tables"][0];
    assert_eq!(table["id"], "replay");
    // One job and --jobs 4, each with a positive rate over the quick plan's 100 transcripts.
    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!(rows[1][0], 4.0);
    assert_eq!(rows[1][1], 100.0);
    assert!(rows[1][3].as_f64().is_some_and(|r| r > 0.0), "{table}");
}

#[tokio::test]
async fn a_build_without_parallel_replay_says_so() {
    // `true` stands for a notifspec whose `replay --help` has no --jobs.
    let mut plan = tiny(&[Which::Replay]);
    plan.exe = PathBuf::from("true");
    let (tables, failed) = bench::run(&plan).await;
    assert!(!failed, "an absent command is not a failure");
    assert_eq!(
        tables[0].notes,
        ["not measured: replay: not available in this build"]
    );
}

#[tokio::test]
async fn a_server_that_cannot_start_fails_the_run_with_a_reason() {
    // `false` stands for a notifspec whose servers exit at once.
    let mut plan = tiny(&[Which::Rr]);
    plan.exe = PathBuf::from("false");
    let (tables, failed) = bench::run(&plan).await;
    assert!(failed);
    assert_eq!(tables[0].id, "rr");
    assert!(tables[0].rows.is_empty());
    let note = &tables[0].notes[0];
    assert!(
        note.starts_with("not measured: could not start the floor server: exited with"),
        "{note}"
    );
}

/// The proxy table: round trips direct, through `notifspec proxy` and (when installed)
/// haproxy, each path counted from real traffic, with the added latency and the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_table_measures_each_path() {
    let mut plan = tiny(&[Which::Proxy]);
    plan.runs = 1;
    plan.proxy = notifspec::bench::proxy::ProxyPlan {
        conns: vec![2],
        duration: Duration::from_secs(20),
        max_per_conn: 50,
    };
    let (tables, failed) = bench::run(&plan).await;
    assert!(!failed, "{tables:?}");
    let t = &tables[0];
    assert_eq!(t.id, "proxy");
    let with_haproxy = plan.haproxy.is_some();
    // Three paths, the haproxy row carrying `-` when it is not installed.
    assert_eq!(t.rows.len(), 3, "{t:?}");
    assert_eq!(t.rows[2][2] != Cell::text("-"), with_haproxy, "{t:?}");
    // Direct and through notifspec proxy: real round trips, 2 × 50 in each.
    for row in &t.rows[..2] {
        assert!(num(&row[2]) > 0.0, "{row:?}");
        assert!(num(&row[3]) > 0.0, "{row:?}");
    }
    // The proxy path's ratio to direct is a real number; direct has no added latency.
    assert_eq!(t.rows[0][5], Cell::text("-"));
    assert!(num(&t.rows[1][7]) > 0.0);
    assert_eq!(t.targets.len(), 1);
    assert_eq!(t.targets[0].ratio.is_some(), with_haproxy, "{t:?}");
    if !with_haproxy {
        assert!(
            t.notes.iter().any(|n| n.contains("haproxy not installed")),
            "{t:?}"
        );
    }
}

#[test]
fn haproxy_config_forwards_tcp_to_the_reference() {
    let cfg = notifspec::bench::proxy::haproxy_config(
        "127.0.0.1:1000".parse().unwrap(),
        "127.0.0.1:2000".parse().unwrap(),
    );
    assert!(cfg.contains("mode tcp"), "{cfg}");
    assert!(cfg.contains("bind 127.0.0.1:1000"), "{cfg}");
    assert!(cfg.contains("server reference 127.0.0.1:2000"), "{cfg}");
}
