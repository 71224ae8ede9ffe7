//! The floor: the least a tokio line server can do, answering every line with a constant.
//!
//! The reference server's round-trip figures mean little alone on a shared 2-core machine;
//! next to this server, run the same way in the same run, they say how much the protocol
//! logic costs on top of the transport. It runs as a child process (`notifspec bench
//! --serve-floor ADDR`, hidden), like the server it is compared with.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the floor answers to every line: a decimal number, as a `random?` reply would be.
pub const REPLY: &[u8] = b"1234567890\r\n";

/// Serves the floor on `addr` until this process's stdin closes (the parent died or
/// stopped it).
pub async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tokio::spawn(async {
        let mut stdin = tokio::io::stdin();
        let mut sink = [0u8; 64];
        while let Ok(n) = stdin.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
        std::process::exit(0);
    });
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(answer(stream));
    }
}

/// Answers each `\n`-terminated line read with [`REPLY`], one write per read.
async fn answer(mut stream: TcpStream) {
    if stream.set_nodelay(true).is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    let mut out = Vec::with_capacity(REPLY.len() * 8);
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        out.clear();
        for _ in buf[..n].iter().filter(|&&b| b == b'\n') {
            out.extend_from_slice(REPLY);
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
    }
}
