//! `notifspec conform`: the CI gate. Runs the embedded suite against the references, a
//! server (`--server`), or a client (`--client-cmd`), prints the per-rule report and exits 0
//! (every scenario that ran passed), 1 (a rule was broken) or 2 (bad arguments, or the
//! target could not be reached).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cmd::{OutputFormat, Status, parse_duration};
use crate::conform::items::{ItemSource, PublishCmd, Spontaneous};
use crate::conform::{self, ConformTarget, ExpectFail, Options, Suite, junit, render};
use crate::dialect::{DEFAULT_DIALECT, Dialect};
use crate::html;

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
    /// Publish items with this shell command instead of a control port: `{kind}` (random or
    /// classified) and `{text}` (the ad, a chosen number, or empty) are replaced by quoted
    /// shell words; exit status 0 means published. E.g.
    /// `curl -fsS -d kind={kind} --data-urlencode text={text} http://127.0.0.1:8080/publish`.
    #[arg(
        long,
        value_name = "CMD",
        requires = "server",
        conflicts_with = "control"
    )]
    pub publish_cmd: Option<String>,
    /// With neither --control nor --publish-cmd, the server is assumed to publish on its own
    /// (spontaneous mode): the longest a scenario waits for one of its items.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        value_parser = parse_duration,
        conflicts_with_all = ["control", "publish_cmd", "client_cmd"]
    )]
    pub spontaneous_wait: Duration,
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
    /// Add your own `.feature` files from this folder (searched recursively): same step
    /// sentences (`notifspec steps`), tags and rule accounting as the embedded ones.
    #[arg(long, value_name = "DIR")]
    pub features: Option<PathBuf>,
    /// Add your own transcripts from this folder (e.g. `proxy --record` recordings) as
    /// regression cases: conforming ones are replayed, negative ones must be flagged.
    #[arg(long, value_name = "DIR")]
    pub transcripts: Option<PathBuf>,
    /// Run only your own cases (--features, --transcripts), not the embedded features.
    #[arg(long)]
    pub only_own: bool,
    /// The HTML report (`--html FILE`).
    #[command(flatten)]
    pub html: crate::html::HtmlArgs,
    /// With no --server or --client-cmd: the legal alternatives the embedded reference server
    /// takes where the seed leaves the behaviour open (as `serve --choice`).
    #[arg(long, value_name = "SPEC", default_value = "", conflicts_with_all = ["server", "client_cmd"])]
    pub choice: crate::choices::Choices,
}

impl Args {
    /// The run's options, or a message for a bad argument.
    pub fn options(&self) -> Result<Options, String> {
        let target = match (&self.server, &self.client_cmd) {
            (Some(addr), _) => ConformTarget::Server {
                addr: addr.clone(),
                control: self.control.clone(),
            },
            (None, Some(cmd)) => {
                if !cmd.contains("{addr}") {
                    return Err(format!(
                        "--client-cmd `{cmd}` has no `{{addr}}`: the client must be told where to connect"
                    ));
                }
                ConformTarget::ClientCmd(cmd.clone())
            }
            (None, None) => ConformTarget::Reference,
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
        o.items = if let Some(cmd) = &self.publish_cmd {
            ItemSource::Command(PublishCmd::new(cmd)?)
        } else if self.server.is_some() && self.control.is_none() {
            if self.spontaneous_wait.is_zero() {
                return Err("--spontaneous-wait must be more than 0".into());
            }
            ItemSource::Spontaneous(Spontaneous::new(self.spontaneous_wait))
        } else {
            ItemSource::ControlPort
        };
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
    if let Err(e) = args.html.precheck() {
        eprintln!("notifspec conform: {e}");
        return Status::Error;
    }
    let own = conform::own::OwnCases {
        features: args.features.clone(),
        transcripts: args.transcripts.clone(),
        only_own: args.only_own,
    };
    let suite = if own.is_empty() && !own.only_own {
        Suite::embedded().map_err(|e| format!("the embedded suite is broken: {e}"))
    } else {
        own.suite()
    };
    let suite = match suite {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("notifspec conform: {e}");
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
    // Ctrl-C and SIGTERM end the client command's process group too (it does not get the
    // terminal's signal: it runs in a group of its own).
    let Some(result) = rt.block_on(crate::process::until_interrupted(conform::run(
        suite, &options,
    ))) else {
        eprintln!("notifspec conform: interrupted");
        std::process::exit(crate::process::INTERRUPTED.into());
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            // The reason may quote what the target sent.
            eprintln!(
                "notifspec conform: {}",
                crate::escape::printable(&e.to_string())
            );
            if let Some(path) = &args.junit {
                let target = conform::runner::describe_target(&options.target);
                let xml = junit::unreachable(&target, &e.to_string());
                if let Err(e) = std::fs::write(path, xml) {
                    eprintln!("notifspec conform: cannot write {}: {e}", path.display());
                }
            }
            let target = conform::runner::describe_target(&options.target);
            if let Err(e) = args
                .html
                .write(|| html::build::unreachable("conform", &target, &e.to_string()))
            {
                eprintln!("notifspec conform: {e}");
            }
            return Status::Error;
        }
    };
    match args.format {
        // Peer bytes quoted in findings reach the terminal escaped.
        OutputFormat::Text => print!("{}", crate::escape::terminal(&render::text(&report))),
        OutputFormat::Json => print!("{}", render::json(&report)),
    }
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, junit::junit(&report))
    {
        eprintln!("notifspec conform: cannot write {}: {e}", path.display());
        return Status::Error;
    }
    if let Err(e) = args
        .html
        .write(|| html::build::conform(&report, &options.dialect))
    {
        eprintln!("notifspec conform: {e}");
        return Status::Error;
    }
    report.status()
}
