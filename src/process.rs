//! The client command under test (`conform --client-cmd`, `replay --role server
//! --client-cmd`), run so that nothing it starts outlives the run.
//!
//! The command is untrusted: it may fork, ignore its input, never exit. It is started through
//! `sh -c` in a process group of its own, and the whole group is killed (SIGKILL) when the
//! [`ClientGroup`] ends: at the end of each scenario or transcript, on a timeout (the caller
//! drops it), and on Ctrl-C or SIGTERM ([`until_interrupted`]). Killing only the shell, as a
//! plain `Child::kill` does, left the client itself and anything it forked running.
//!
//! What it cannot catch: a process that leaves the group on purpose (`setsid`, a daemon).

use std::future::Future;
use std::io;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Process groups alive now, so a signal handler can end them all.
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<i32>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A started client command and its process group; dropping it kills the whole group.
#[derive(Debug)]
pub struct ClientGroup {
    child: Child,
    /// The group's id (the shell's pid), while the group may still have members.
    pgid: Option<i32>,
}

/// How long a killed group's leader gets to be reaped before we stop waiting for it.
const REAP_WAIT: Duration = Duration::from_secs(2);

impl ClientGroup {
    /// Starts `line` through `sh -c` in a new process group, with stdin closed and stdout
    /// discarded. With `show_stderr`, its stderr is copied to ours line by line, each line
    /// bounded and escaped ([`crate::escape::printable`]) behind `client: `, so the user sees
    /// why a client failed and the client cannot drive the terminal; without it, discarded.
    /// Must be called within a tokio runtime.
    pub fn spawn(line: &str, show_stderr: bool) -> io::Result<ClientGroup> {
        let mut group = if show_stderr {
            Self::spawn_with(line, Stdio::piped())?
        } else {
            Self::spawn_with(line, Stdio::null())?
        };
        if let Some(err) = group.child.stderr.take() {
            tokio::spawn(relay_stderr(err));
        }
        Ok(group)
    }

    /// Like [`ClientGroup::spawn`], with stderr piped for the caller to read (bounded), so
    /// a failing command (`conform --publish-cmd`) can be quoted in the report.
    pub fn spawn_piped_stderr(
        line: &str,
    ) -> io::Result<(ClientGroup, Option<tokio::process::ChildStderr>)> {
        let mut group = Self::spawn_with(line, Stdio::piped())?;
        let stderr = group.child.stderr.take();
        Ok((group, stderr))
    }

    fn spawn_with(line: &str, stderr: Stdio) -> io::Result<ClientGroup> {
        let mut cmd = shell(line);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let child = cmd.spawn()?;
        let pgid = child.id().and_then(|id| i32::try_from(id).ok());
        if let Some(g) = pgid {
            live().push(g);
        }
        Ok(ClientGroup { child, pgid })
    }

    /// The shell's pid (also the group's id), while it has not been reaped.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Resolves when the shell exits (the group may live on; [`ClientGroup::stop`] ends it).
    pub async fn wait(&mut self) -> io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// Kills every process of the group now; idempotent.
    pub fn kill_group(&mut self) {
        if let Some(g) = self.pgid.take() {
            kill_group(g);
            live().retain(|x| *x != g);
        }
        let _ = self.child.start_kill();
    }

    /// Kills the group and waits (bounded) for the shell to be reaped.
    pub async fn stop(mut self) {
        self.kill_group();
        if tokio::time::timeout(REAP_WAIT, self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!("the client command did not exit within {REAP_WAIT:?} after a kill");
        }
    }
}

impl Drop for ClientGroup {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// Longest stderr line of a client command shown whole; a longer one is cut there.
const MAX_STDERR_LINE: usize = 4096;

/// Copies a client command's stderr to ours, escaped and in bounded lines, until it closes.
async fn relay_stderr(err: tokio::process::ChildStderr) {
    use futures::StreamExt as _;
    let codec = crate::wire::LineCodec::new(MAX_STDERR_LINE, crate::dialect::LineEnding::Lf);
    let mut lines = tokio_util::codec::FramedRead::new(err, codec);
    while let Some(Ok(frame)) = lines.next().await {
        match frame {
            crate::wire::Frame::Line(l) => {
                eprintln!("client: {}", crate::escape::printable(&l.lossy()));
            }
            crate::wire::Frame::TooLong { limit } => {
                eprintln!("client: <a line over {limit} bytes>");
            }
        }
    }
}

fn shell(line: &str) -> Command {
    if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.arg("/C").arg(line);
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c").arg(line);
        c
    }
}

#[cfg(unix)]
fn kill_group(pgid: i32) {
    // SAFETY: killpg has no memory-safety preconditions; a group that is already gone only
    // yields ESRCH, which is what we want.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pgid: i32) {}

/// Kills every client command's group still alive (what Ctrl-C and SIGTERM do).
pub fn kill_all_groups() {
    let groups = std::mem::take(&mut *live());
    for g in groups {
        kill_group(g);
    }
}

/// Runs `work` until it ends, or until Ctrl-C / SIGTERM: then `work` is dropped (which ends
/// its client groups) and every group still alive is killed, and `None` is returned. The
/// caller exits with [`INTERRUPTED`]. A client command runs in its own process group, so the
/// terminal's Ctrl-C does not reach it: without this it would outlive notifspec.
pub async fn until_interrupted<F: Future>(work: F) -> Option<F::Output> {
    let stop = stop_signals().ok();
    let stop = async move {
        match stop {
            Some(s) => s.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        out = work => Some(out),
        () = stop => {
            kill_all_groups();
            None
        }
    }
}

/// The exit status after an interruption (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// Watches Ctrl-C and (on Unix) SIGTERM from now on; the future completes on either. Taking
/// them over replaces the default kill, so whoever calls this decides what is cleaned up
/// (the client command's group, open recordings, the server's connections).
pub fn stop_signals() -> io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// Whether process `pid` is still running (not gone, not a zombie waiting to be reaped);
/// tests use it to show that nothing was left behind.
#[cfg(target_os = "linux")]
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: `pid (comm) S ...`.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn stopping_a_group_ends_what_the_command_forked() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let line = format!(
            "sleep 1000 & echo $! > '{}'; wait",
            pidfile.to_str().unwrap()
        );
        let mut group = ClientGroup::spawn(&line, false).unwrap();
        let shell = group.id().unwrap();
        let pid = wait_for_pid(&pidfile).await;
        assert!(is_running(pid) && is_running(shell));
        assert!(live().contains(&(shell as i32)));
        group.kill_group();
        group.stop().await;
        assert!(!live().contains(&(shell as i32)));
        assert!(
            !outlives(pid).await,
            "the forked sleep {pid} outlived its group"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn dropping_a_group_ends_it_too() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let line = format!(
            "sleep 1000 & echo $! > '{}'; exec sleep 1000",
            pidfile.to_str().unwrap()
        );
        let group = ClientGroup::spawn(&line, false).unwrap();
        let pid = wait_for_pid(&pidfile).await;
        drop(group);
        assert!(
            !outlives(pid).await,
            "the forked sleep {pid} outlived its group"
        );
    }

    /// Waits (bounded) until the command wrote its child's pid.
    pub(crate) async fn wait_for_pid(pidfile: &std::path::Path) -> u32 {
        for _ in 0..500 {
            if let Ok(s) = std::fs::read_to_string(pidfile)
                && let Ok(pid) = s.trim().parse()
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the command never wrote {}", pidfile.display());
    }

    /// Whether `pid` is still running after a bounded wait for a SIGKILL to land.
    pub(crate) async fn outlives(pid: u32) -> bool {
        for _ in 0..200 {
            if !is_running(pid) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}
