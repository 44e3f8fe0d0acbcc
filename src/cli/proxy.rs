//! `possim proxy`: an ISO 8583-aware fault proxy between a real terminal
//! and a real host.

use std::io::{BufWriter, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use possim::net::proxy::{FaultProxy, ProxyOptions};
use possim::net::{pki, tls};
use possim::sim::Plan;
use possim::time::Duration;

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Frames whole messages (PROTOCOL.md §1) and decides each one's fate with the
rules of the scenario's link (its faults and man-in-the-middle attacks), on the scenario's
timeline in wall time since the proxy started. Each terminal connection gets its own upstream
connection and its own copy of the link, named <link>#<n>, so decisions are keyed by (seed,
connection, direction, message index). --journal writes one JSON line per decision.

Exit codes: 0 stopped cleanly, 2 bad scenario or command line, 3 I/O failure."
)]
pub(crate) struct Args {
    /// Where terminals connect. Only loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:8584", value_name = "ADDR")]
    listen: SocketAddr,
    /// The real host: ADDR:PORT or NAME:PORT.
    #[arg(long, value_name = "ADDR")]
    upstream: String,
    /// The scenario whose link rules to apply.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// Which of its links (default: the first).
    #[arg(long, value_name = "ID")]
    link: Option<String>,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Serve TLS to terminals with DIR/host.pem (`possim pki`).
    #[arg(long, value_name = "DIR")]
    tls: Option<PathBuf>,
    /// With --tls: present the forged DIR/rogue-host.pem instead (a man in
    /// the middle; a terminal pinned to possim's CA must refuse it).
    #[arg(long, requires = "tls")]
    rogue: bool,
    /// Connect to the host with TLS, trusting only DIR/ca.pem.
    #[arg(long, value_name = "DIR")]
    upstream_tls: Option<PathBuf>,
    /// The name the host's certificate must carry (default: the host part of --upstream).
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// Close a connection that sends no complete frame for this long.
    #[arg(long, default_value = "30s", value_parser = Duration::parse, value_name = "DURATION")]
    idle: Duration,
    /// Connections beyond this many are closed at once.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_connections: usize,
    /// Serve the control API (HTTP/JSON) here: loopback only, e.g. 127.0.0.1:0.
    #[arg(long, value_name = "ADDR")]
    control: Option<SocketAddr>,
    /// Stop by itself after this much wall time.
    #[arg(long, value_parser = Duration::parse, value_name = "DURATION")]
    stop_after: Option<Duration>,
    /// Write every decision as a JSON line.
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// Write every copy the proxy delivers, as delivered, to a pcap (wall-clock
    /// timestamps; one TCP stream per connection).
    #[arg(long, value_name = "PATH")]
    pcap: Option<PathBuf>,
    /// Write the counters as JSON.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Print only the address.
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) fn run(args: Args) -> Outcome {
    let upstream =
        args.upstream.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| {
            Failure::Invalid(format!("--upstream {}: expected HOST:PORT", args.upstream))
        })?;
    super::distinct_files(
        &[&args.scenario],
        &[
            ("--journal", args.journal.as_deref()),
            ("--pcap", args.pcap.as_deref()),
            ("--json", args.json.as_deref()),
        ],
    )?;
    let scenarios = super::load_all(std::slice::from_ref(&args.scenario))?;
    let Some((file, scenario)) = scenarios.into_iter().next() else {
        return Err(Failure::Invalid(String::new()));
    };
    let plan = Plan::new(&scenario, args.seed)
        .map_err(|e| Failure::Invalid(format!("{}: {e}", file.display())))?;
    let bad = |e: possim::net::tls::TlsError| Failure::Invalid(e.to_string());
    let tls_in = match &args.tls {
        Some(dir) if args.rogue => Some(
            tls::server_config_with(
                &dir.join(pki::files::ROGUE_HOST),
                &dir.join(pki::files::ROGUE_HOST_KEY),
                dir,
                false,
            )
            .map_err(bad)?,
        ),
        Some(dir) => Some(tls::server_config(dir, false).map_err(bad)?),
        None => None,
    };
    let tls_up = match &args.upstream_tls {
        Some(dir) => {
            let host = args.server_name.clone().unwrap_or_else(|| {
                args.upstream.rsplit_once(':').map_or(args.upstream.clone(), |(h, _)| {
                    h.trim_start_matches('[').trim_end_matches(']').to_string()
                })
            });
            Some((
                tls::client_config(&dir.join(pki::files::CA), None).map_err(bad)?,
                tls::server_name(&host).map_err(bad)?,
            ))
        }
        None => None,
    };
    let journal: Option<Box<dyn Write + Send>> = match &args.journal {
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| Failure::Io(format!("cannot write journal {}: {e}", p.display())))?;
            Some(Box::new(BufWriter::new(f)))
        }
        None => None,
    };
    let opts = ProxyOptions {
        listen: args.listen,
        upstream,
        tls_in,
        tls_up,
        idle: std::time::Duration::from_micros(args.idle.micros().max(1000)),
        max_connections: args.max_connections,
    };
    let (pcap, pcap_slot) = match &args.pcap {
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| Failure::Io(format!("cannot write pcap {}: {e}", p.display())))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let (w, slot) =
                possim::report::pcap::PcapWriter::new(Box::new(std::io::BufWriter::new(f)), now);
            (Some(w), Some(slot))
        }
        None => (None, None),
    };
    let proxy =
        FaultProxy::start_with(&plan, args.link.as_deref(), opts, journal, pcap).map_err(|e| {
            match e {
                possim::net::proxy::ProxyError::NoLink(..) => Failure::Invalid(e.to_string()),
                _ => Failure::Io(e.to_string()),
            }
        })?;
    let control = match args.control {
        Some(a) => Some(possim::net::control::ControlServer::start(a, proxy.control()).map_err(
            |e| match e {
                possim::net::control::ControlError::NotLoopback(_) => {
                    Failure::Invalid(e.to_string())
                }
                _ => Failure::Io(e.to_string()),
            },
        )?),
        None => None,
    };
    let stopper = proxy.stopper();
    super::host::stop_on_signal(
        move || stopper.stop(),
        args.stop_after,
        "closing every connection".into(),
    );
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "listening on {} ({}) -> {upstream} ({})",
            proxy.addr(),
            match (&args.tls, args.rogue) {
                (None, _) => "TCP",
                (Some(_), false) => "TLS",
                (Some(_), true) => "TLS with the rogue certificate",
            },
            if args.upstream_tls.is_some() { "TLS" } else { "TCP" }
        );
        if let Some(c) = &control {
            let _ = writeln!(out, "control API on http://{}", c.addr());
        }
        let _ = out.flush();
    }
    let stats = proxy.wait();
    drop(control);
    super::pcap_check(args.pcap.as_deref(), pcap_slot.as_ref())?;
    if !args.quiet {
        let fired: Vec<String> = stats.fired.iter().map(|(k, v)| format!("{k} {v}")).collect();
        print(&format!(
            "proxy: {} connections ({} upstream failed, {} TLS failed); frames {} up, {} down; {} copies delivered, {} lost; fired: {}\n",
            stats.connections,
            stats.upstream_failed,
            stats.tls_failed,
            stats.frames_up,
            stats.frames_down,
            stats.delivered,
            stats.lost,
            if fired.is_empty() { "none".into() } else { fired.join(", ") }
        ))?;
    }
    if let Some(p) = &args.json {
        let body = serde_json::to_string_pretty(&stats).unwrap_or_default();
        std::fs::write(p, body + "\n")
            .map_err(|e| Failure::Io(format!("cannot write {}: {e}", p.display())))?;
    }
    Ok(ExitCode::SUCCESS)
}
