//! Servers under test run as child processes: the reference server, the floor and Redis alike.
//!
//! A separate process per server makes the comparisons fair (each server gets its own
//! runtime and allocator, the load generator lives in this process for all of them), lets
//! memory be read from the server's own `/proc/<pid>/status`, and keeps the file descriptors
//! of 10,000 client sockets and 10,000 server sockets in two processes, each under the
//! per-process limit.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::BenchError;

/// How long a child server may take to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a killed child may take to be reaped.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A free loopback address, found by binding port 0 and releasing it. Another process could
/// take the port in between; on a loopback-only benchmark that race is accepted (the start
/// then fails with a clear error rather than measuring the wrong thing).
pub fn free_addr() -> Result<SocketAddr, BenchError> {
    let l = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|source| BenchError::Io {
        what: "finding a free loopback port".into(),
        source,
    })?;
    l.local_addr().map_err(|source| BenchError::Io {
        what: "finding a free loopback port".into(),
        source,
    })
}

/// A running child server, killed when dropped so that no run leaves one behind.
#[derive(Debug)]
pub struct ChildServer {
    name: String,
    child: Child,
    pid: u32,
}

impl ChildServer {
    /// Starts `program args…` and waits until `probe` accepts a TCP connection.
    /// `stdin` is piped and held open: a child that watches it (the floor) exits when this
    /// process dies, even by SIGKILL.
    pub async fn start(
        name: &str,
        program: &Path,
        args: &[String],
        envs: &[(&str, &str)],
        probe: SocketAddr,
    ) -> Result<ChildServer, BenchError> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|source| BenchError::Io {
            what: format!("starting {name} ({})", program.display()),
            source,
        })?;
        let pid = child.id().ok_or_else(|| BenchError::Start {
            name: name.to_string(),
            reason: "exited at once".into(),
        })?;
        let mut server = ChildServer {
            name: name.to_string(),
            child,
            pid,
        };
        server.wait_ready(probe).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, probe: SocketAddr) -> Result<(), BenchError> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BenchError::Start {
                    name: self.name.clone(),
                    reason: format!("exited with {status} before accepting connections"),
                });
            }
            if let Ok(Ok(_probe)) =
                tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(probe)).await
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BenchError::Start {
                    name: self.name.clone(),
                    reason: format!("no connection accepted on {probe} within {START_TIMEOUT:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The child's resident memory now, in bytes.
    pub fn rss(&self) -> Result<u64, BenchError> {
        rss_of(self.pid)
    }

    /// Kills the child and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await;
    }
}

/// Runs `program args…` to completion within `timeout` and returns its wall time. A failure
/// says why, with the first lines of its stderr; a command this build does not implement is
/// [`BenchError::Unavailable`], not a failure.
pub async fn time_child<A: AsRef<OsStr>>(
    program: &Path,
    args: &[A],
    timeout: Duration,
) -> Result<Duration, BenchError> {
    let what = format!(
        "{} {}",
        program.display(),
        args.first()
            .map_or(String::new(), |a| a.as_ref().to_string_lossy().into_owned())
    );
    let start = tokio::time::Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| BenchError::Io {
            what: format!("starting {what}"),
            source,
        })?;
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| BenchError::Timeout {
            what: what.clone(),
            after: timeout,
        })?
        .map_err(|source| BenchError::Io {
            what: what.clone(),
            source,
        })?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().take(3).collect::<Vec<_>>().join(" / ");
        if first.contains("not implemented") {
            return Err(BenchError::Unavailable(format!(
                "{what}: not available in this build ({first})"
            )));
        }
        return Err(BenchError::Protocol {
            what: format!("{what} exited with {}: {first}", out.status),
        });
    }
    Ok(elapsed)
}

/// Resident memory of a process from `/proc/<pid>/status` (`VmRSS`), in bytes.
pub fn rss_of(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|source| BenchError::Io {
        what: format!("reading {path}"),
        source,
    })?;
    parse_vm_rss(&status).ok_or_else(|| BenchError::Start {
        name: format!("pid {pid}"),
        reason: format!("{path} has no VmRSS line"),
    })
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Whether `program` can be found on `PATH` (Redis is optional: its absence skips a column).
pub fn on_path(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t    2048 kB\nThreads: 1\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn own_rss_is_positive() {
        assert!(rss_of(std::process::id()).expect("own status") > 0);
    }
}
