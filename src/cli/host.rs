//! `possim host`: the scenario's acquirer/issuer as an ISO 8583 server.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use possim::net::{HostServer, ServeOptions};
use possim::report::summary;
use possim::sim::Plan;
use possim::time::Duration;

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(after_help = "Frames: a 2-byte big-endian length, then the message (at most 8192 bytes).
The host answers with the scenario's dialect, keys, cards, accounts and defences; the
scenario's own customers, attacks and link faults do not run (use `possim proxy` for faults).

It prints `listening on ADDR` once ready (so --listen 127.0.0.1:0 works in scripts). On
SIGINT or SIGTERM (or after --stop-after) it stops accepting, answers what it has received,
closes the day and reports as `possim run` does.

Exit codes: 0 every expectation held, 1 an expectation failed, 2 invalid scenario or command
line, 3 I/O failure (cannot listen, cannot write).")]
pub(crate) struct Args {
    /// The scenario whose host to serve.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// Where to listen. Only loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:8583", value_name = "ADDR")]
    listen: SocketAddr,
    /// Serve TLS 1.2/1.3 with host.pem and host-key.pem from this directory
    /// (`possim pki --out DIR` makes them).
    #[arg(long, value_name = "DIR")]
    tls: Option<PathBuf>,
    /// With --tls: every terminal must show a certificate signed by the
    /// directory's ca.pem.
    #[arg(long, requires = "tls")]
    mtls: bool,
    /// Override the scenario's seed (its keys and cards may derive from it).
    #[arg(long)]
    seed: Option<u64>,
    /// Close a connection that sends no complete frame for this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    idle: Duration,
    /// Connections beyond this many are closed at once.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_connections: usize,
    /// Serve the control API (HTTP/JSON) here: loopback only, e.g. 127.0.0.1:0.
    #[arg(long, value_name = "ADDR")]
    control: Option<SocketAddr>,
    /// Stop by itself after this much wall time (scripts, demos).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    stop_after: Option<Duration>,
    /// Write the journal (JSON lines; frames in full, PANs masked in fields).
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// Write a self-contained HTML report when it stops.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Write the traffic as a pcap (Wireshark decodes port 8583 as iso8583).
    #[arg(long, value_name = "PATH")]
    pcap: Option<PathBuf>,
    /// Write the machine-readable report.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write JUnit XML, one test case per expectation.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Print only the address and failures.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    Duration::parse(s)
}

/// SIGINT and SIGTERM, listened for from the moment this is made: a signal
/// that comes before anyone waits for it is kept, not fatal (a script that
/// stops a server as soon as it prints its address gets its report).
/// Ctrl-C alone where there are no Unix signals.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers now; call inside the runtime that will wait.
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next SIGINT or SIGTERM (or one that came before).
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = one(&mut self.interrupt) => {}
                _ = one(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Calls `stop` on SIGINT or SIGTERM, or after `after`, and prints
/// `notice` (what the orderly stop waits for) so a stop that takes a while
/// does not look like a hang; a second signal ends the process at once
/// (exit 130) for whoever cannot wait for the orderly stop (answers in
/// flight, a day settling in real time). The handlers are in place when
/// this returns: call it before saying the server is ready.
pub(crate) fn stop_on_signal(
    stop: impl FnOnce() + Send + 'static,
    after: Option<Duration>,
    notice: String,
) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return;
    };
    let mut signals = {
        let _inside = rt.enter();
        Signals::listen()
    };
    let _ = std::thread::Builder::new().name("possim-signals".into()).spawn(move || {
        let by_signal = rt.block_on(async {
            let after = async {
                match after {
                    Some(d) => {
                        tokio::time::sleep(std::time::Duration::from_micros(d.micros())).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = signals.next() => true,
                _ = after => false,
            }
        });
        stop();
        if by_signal {
            eprintln!(
                "possim: stopping: {notice}; a second Ctrl-C stops at once, without a report"
            );
        }
        rt.block_on(signals.next());
        eprintln!("possim: stopped at once (second signal)");
        std::process::exit(130);
    });
}

pub(crate) fn run(args: Args) -> Outcome {
    super::distinct_files(
        &[&args.scenario],
        &[
            ("--journal", args.journal.as_deref()),
            ("--html", args.html.as_deref()),
            ("--pcap", args.pcap.as_deref()),
            ("--json", args.json.as_deref()),
            ("--junit", args.junit.as_deref()),
        ],
    )?;
    let scenarios = super::load_all(std::slice::from_ref(&args.scenario))?;
    let Some((file, scenario)) = scenarios.into_iter().next() else {
        return Err(Failure::Invalid(String::new()));
    };
    let plan = Plan::new(&scenario, args.seed)
        .map_err(|e| Failure::Invalid(format!("{}: {e}", file.display())))?;
    let tls = match &args.tls {
        Some(dir) => Some(
            possim::net::tls::server_config(dir, args.mtls)
                .map_err(|e| Failure::Invalid(e.to_string()))?,
        ),
        None => None,
    };
    let journal = super::journal_writer(args.journal.as_deref())?;
    let terminals: Vec<String> = plan.terminals.iter().map(|t| t.config.tid.clone()).collect();
    let opts = ServeOptions {
        tls,
        idle: std::time::Duration::from_micros(args.idle.micros().max(1000)),
        max_connections: args.max_connections,
        ..ServeOptions::tcp(args.listen)
    };
    let pcap = match &args.pcap {
        Some(p) => Some(super::pcap_writer(p, &plan)?),
        None => None,
    };
    let (mut subscribers, pcap_slot) = match pcap {
        Some((w, slot)) => (vec![w], Some(slot)),
        None => (Vec::new(), None),
    };
    let html = super::html_page(args.html.as_deref())?.map(|(f, collector, seen)| {
        subscribers.push(Box::new(collector));
        (f, seen)
    });
    let server =
        HostServer::start_with(plan, opts, journal, subscribers, &file.display().to_string())
            .map_err(|e| {
                // Nothing was served: leave no empty report behind.
                if let Some(p) = &args.html
                    && std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file() && m.len() == 0)
                {
                    let _ = std::fs::remove_file(p);
                }
                Failure::Io(e.to_string())
            })?;
    let control = match args.control {
        Some(a) => {
            Some(possim::net::control::ControlServer::start(a, server.control()).map_err(|e| {
                match e {
                    possim::net::control::ControlError::NotLoopback(_) => {
                        Failure::Invalid(e.to_string())
                    }
                    _ => Failure::Io(e.to_string()),
                }
            })?)
        }
        None => None,
    };
    let stopper = server.stopper();
    stop_on_signal(
        move || stopper.stop(),
        args.stop_after,
        "no new connections; answering what has arrived".into(),
    );
    {
        let mut out = std::io::stdout().lock();
        let mode = match (&args.tls, args.mtls) {
            (None, _) => "TCP",
            (Some(_), false) => "TLS 1.2/1.3",
            (Some(_), true) => "TLS 1.2/1.3, client certificates required",
        };
        let _ = writeln!(out, "listening on {} ({mode})", server.addr());
        if let Some(c) = &control {
            let _ = writeln!(out, "control API on http://{}", c.addr());
        }
        if !args.quiet {
            let _ = writeln!(
                out,
                "serving {} for terminals {}; stop with Ctrl-C or SIGTERM",
                file.display(),
                terminals.join(" ")
            );
        }
        let _ = out.flush();
    }
    let (report, stats) = server.wait().map_err(|e| Failure::Io(e.to_string()))?;
    drop(control);
    super::pcap_check(args.pcap.as_deref(), pcap_slot.as_ref())?;
    super::write_html(html, args.html.as_deref(), &report)?;
    let mut text = String::new();
    if !args.quiet || !report.passed {
        text.push_str(&summary(&report));
        text.push_str(&format!(
            "  connections: {} accepted, {} refused (too many), {} TLS handshakes failed, {} framing errors, {} closed idle; {} frames in, {} answered\n",
            stats.accepted,
            stats.refused_busy,
            stats.tls_failed,
            stats.framing_errors,
            stats.idle_closed,
            stats.frames_in,
            stats.frames_out
        ));
    }
    print(&text)?;
    let connections = serde_json::to_value(&stats).unwrap_or_default();
    super::write_report(&report, Some(connections), args.json.as_deref(), args.junit.as_deref())
}
