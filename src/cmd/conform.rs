//! `notifspec conform`: the CI gate. Runs the embedded suite against the references, a
//! server (`--server`), or a client (`--client-cmd`), prints the per-rule report and exits 0
//! (every scenario that ran passed), 1 (a rule was broken) or 2 (bad arguments, or the
//! target could not be reached).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cmd::{OutputFormat, Status, parse_duration};
use crate::conform::{self, ExpectFail, Options, Suite, Target, junit, render};
use crate::dialect::{DEFAULT_DIALECT, Dialect};

/// Arguments of `notifspec conform`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Test the server at this address (host:port). Without --server or --client-cmd, the
    /// embedded reference server and client are tested.
    #[arg(long, value_name = "ADDR", conflicts_with = "client_cmd")]
    pub server: Option<String>,
    /// The server's control port (host:port), needed by scenarios that publish items.
    #[arg(long, value_name = "ADDR", requires = "server")]
    pub control: Option<String>,
    /// Test a client: a shell command in which `{addr}` is replaced by the address
    /// notifspec listens on, e.g. `./my-client --connect {addr}`.
    #[arg(long, value_name = "CMD")]
    pub client_cmd: Option<String>,
    /// Dialect name or YAML file.
    #[arg(long, default_value = DEFAULT_DIALECT)]
    pub dialect: String,
    /// Only scenarios matching this tag expression, e.g. `@S-NOTIF-WINDOW and not @control`.
    #[arg(long, value_name = "EXPR")]
    pub tags: Option<String>,
    /// Also write a JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Report format on stdout: `text` (the per-rule table, failures, coverage and a
    /// summary line) or `json` (the same, for machines).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// The bound of every wait for the implementation.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Rules known to fail: `RULE-ID,...` or a YAML file (`RULE-ID: reason` lines).
    #[arg(long, value_name = "RULES|FILE.yaml")]
    pub expect_fail: Option<String>,
    /// With no --server or --client-cmd: the legal alternatives the embedded reference server
    /// takes where the seed leaves the behaviour open (as `serve --choice`).
    #[arg(long, value_name = "SPEC", default_value = "", conflicts_with_all = ["server", "client_cmd"])]
    pub choice: crate::choices::Choices,
}

impl Args {
    /// The run's options, or a message for a bad argument.
    pub fn options(&self) -> Result<Options, String> {
        let target = match (&self.server, &self.client_cmd) {
            (Some(addr), _) => Target::Server {
                addr: addr.clone(),
                control: self.control.clone(),
            },
            (None, Some(cmd)) => {
                if !cmd.contains("{addr}") {
                    return Err(format!(
                        "--client-cmd `{cmd}` has no `{{addr}}`: the client must be told where to connect"
                    ));
                }
                Target::ClientCmd(cmd.clone())
            }
            (None, None) => Target::Reference,
        };
        let mut o = Options::new(target);
        o.choices = self.choice;
        o.dialect = Dialect::load(&self.dialect, None).map_err(|e| e.to_string())?;
        o.tags = match &self.tags {
            None => None,
            Some(t) => Some(
                t.parse()
                    .map_err(|e| format!("--tags `{t}` is not a tag expression: {e}"))?,
            ),
        };
        if self.timeout.is_zero() {
            return Err("--timeout must be more than 0".into());
        }
        o.timeout = self.timeout;
        if let Some(e) = &self.expect_fail {
            o.expect_fail = ExpectFail::parse(e).map_err(|e| e.to_string())?;
        }
        o.progress = true;
        Ok(o)
    }
}

/// Runs the command.
pub fn run(args: Args) -> Status {
    let options = match args.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("notifspec conform: {e}");
            return Status::Error;
        }
    };
    let suite = match Suite::embedded() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("notifspec conform: the embedded suite is broken: {e}");
            return Status::Error;
        }
    };
    let rt = match crate::cmd::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("notifspec conform: cannot start the runtime: {e}");
            return Status::Error;
        }
    };
    let report = match rt.block_on(conform::run(suite, &options)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("notifspec conform: {e}");
            if let Some(path) = &args.junit {
                let target = conform::runner::describe_target(&options.target);
                let xml = junit::unreachable(&target, &e.to_string());
                if let Err(e) = std::fs::write(path, xml) {
                    eprintln!("notifspec conform: cannot write {}: {e}", path.display());
                }
            }
            return Status::Error;
        }
    };
    match args.format {
        OutputFormat::Text => print!("{}", render::text(&report)),
        OutputFormat::Json => print!("{}", render::json(&report)),
    }
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, junit::junit(&report))
    {
        eprintln!("notifspec conform: cannot write {}: {e}", path.display());
        return Status::Error;
    }
    report.status()
}
