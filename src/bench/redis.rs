//! Redis, the baseline for fan-out and memory: a `redis-server` child on a free loopback
//! port, persistence off, and the few RESP exchanges the benchmark needs, written by hand.

use std::net::SocketAddr;
use std::path::Path;

use super::BenchError;
use super::conn::LineConn;
use super::process::{ChildServer, free_addr};

/// The pub/sub channel the benchmark uses.
pub const CHANNEL: &str = "notifspec-bench";

/// Starts `redis-server` with no persistence and room for `clients` connections.
pub async fn start(
    program: &Path,
    clients: usize,
) -> Result<(ChildServer, SocketAddr), BenchError> {
    let addr = free_addr()?;
    let args: Vec<String> = [
        "--port",
        &addr.port().to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--loglevel",
        "warning",
        "--maxclients",
        &(clients + 100).to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let child = ChildServer::start("redis-server", program, &args, &[], addr).await?;
    Ok((child, addr))
}

/// Reads one RESP array of bulk strings and integers (what SUBSCRIBE confirmations and
/// pub/sub messages are), as its elements' bytes.
pub async fn read_array(conn: &mut LineConn) -> Result<Vec<Vec<u8>>, BenchError> {
    let head = conn.line().await?;
    let n: usize = head
        .strip_prefix(b"*")
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse().ok())
        .filter(|&n| n <= 8)
        .ok_or_else(|| bad("an array", head))?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let line = conn.line().await?;
        match line.first() {
            Some(b':') => items.push(line[1..].to_vec()),
            Some(b'$') => {
                // Payloads here are single lines, so the bulk's content is the next line.
                let data = conn.line().await?;
                items.push(data.to_vec());
            }
            _ => return Err(bad("a bulk string or integer", line)),
        }
    }
    Ok(items)
}

/// Subscribes `conn` to [`CHANNEL`] and waits for the confirmation.
pub async fn subscribe(conn: &mut LineConn) -> Result<(), BenchError> {
    conn.send(format!("SUBSCRIBE {CHANNEL}\r\n").as_bytes())
        .await?;
    let reply = read_array(conn).await?;
    if reply.first().map(Vec::as_slice) != Some(b"subscribe".as_slice()) {
        return Err(BenchError::Protocol {
            what: format!("SUBSCRIBE was not confirmed: {reply:?}"),
        });
    }
    Ok(())
}

/// Publishes `payload` on [`CHANNEL`] and returns how many subscribers received it.
pub async fn publish(conn: &mut LineConn, payload: &str) -> Result<u64, BenchError> {
    conn.send(format!("PUBLISH {CHANNEL} {payload}\r\n").as_bytes())
        .await?;
    let reply = conn.line().await?;
    reply
        .strip_prefix(b":")
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad("an integer reply", reply))
}

fn bad(wanted: &str, got: &[u8]) -> BenchError {
    BenchError::Protocol {
        what: format!(
            "redis: expected {wanted}, got `{}`",
            String::from_utf8_lossy(got)
        ),
    }
}
