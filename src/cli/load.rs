//! `possim load`: load-test a host with real, fully signed purchases.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use possim::net::load::{LoadOptions, LoadResult, drive, record_requests};
use possim::net::{HostServer, ServeOptions, pki, tls};
use possim::sim::Plan;

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The requests are recorded from a headless run of the scenario (so every one
carries a real PIN block, ARQC and MAC), then each terminal's requests are replayed in order on
its own connection, one outstanding at a time. Without --connect, possim's own host serves the
same scenario in this process (TLS with --tls). --rate paces requests open-loop and measures
latency from when each was due.

Exit codes: 0 measured (every request answered), 2 bad command line or scenario, 3 a
connection failed or an answer never came (10 s)."
)]
pub(crate) struct Args {
    /// The scenario: its terminals become connections, its keys and cards sign the requests.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// Purchases to record and replay.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    purchases: u64,
    /// A host to load (default: possim's own, started here on loopback).
    #[arg(long, value_name = "ADDR")]
    connect: Option<String>,
    /// TLS with DIR/ca.pem as the only root (and DIR/host.pem for the host started here).
    #[arg(long, value_name = "DIR")]
    tls: Option<PathBuf>,
    /// Requests per second in all (open loop); default as fast as answered.
    #[arg(long, value_name = "R")]
    rate: Option<f64>,
    /// Write the measurements as JSON.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Outcome {
    if let Some(r) = args.rate
        && !(r.is_finite() && r > 0.0)
    {
        return Err(Failure::Invalid("--rate: a number above 0".into()));
    }
    let scenarios = super::load_all(std::slice::from_ref(&args.scenario))?;
    let Some((file, scenario)) = scenarios.into_iter().next() else {
        return Err(Failure::Invalid(String::new()));
    };
    super::no_real_terminals(&file, &scenario, "`possim load`")?;
    let plan = Plan::new(&scenario, None)
        .map_err(|e| Failure::Invalid(format!("{}: {e}", file.display())))?;
    let spec = plan.spec.clone();
    let t0 = std::time::Instant::now();
    let streams: Vec<Vec<Vec<u8>>> =
        record_requests(plan.clone(), args.purchases).into_values().collect();
    let recorded: usize = streams.iter().map(Vec::len).sum();
    eprintln!(
        "recorded {recorded} requests from {} terminals in {:.1} s",
        streams.len(),
        t0.elapsed().as_secs_f64()
    );
    let mut server = None;
    let addr: SocketAddr = match &args.connect {
        Some(a) => a
            .to_socket_addrs()
            .ok()
            .and_then(|mut x| x.next())
            .ok_or_else(|| Failure::Invalid(format!("--connect {a}: expected HOST:PORT")))?,
        None => {
            let tls = match &args.tls {
                Some(d) => Some(
                    tls::server_config(d, false).map_err(|e| Failure::Invalid(e.to_string()))?,
                ),
                None => None,
            };
            let opts = ServeOptions {
                tls,
                frames_in_journal: false,
                ..ServeOptions::tcp(SocketAddr::from(([127, 0, 0, 1], 0)))
            };
            let s = HostServer::start(plan, opts, None, &file.display().to_string())
                .map_err(|e| Failure::Io(e.to_string()))?;
            let a = s.addr();
            server = Some(s);
            a
        }
    };
    let tls = match &args.tls {
        Some(d) => Some((
            tls::client_config(&d.join(pki::files::CA), None)
                .map_err(|e| Failure::Invalid(e.to_string()))?,
            tls::server_name("localhost").map_err(|e| Failure::Invalid(e.to_string()))?,
        )),
        None => None,
    };
    let opts = LoadOptions { addr, tls, rate: args.rate, spec: Arc::new((*spec).clone()) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Io(e.to_string()))?;
    let r: LoadResult = rt.block_on(drive(streams, opts));
    if let Some(s) = server {
        s.stopper().stop();
        let _ = s.wait();
    }
    let text = format!(
        "{} connections{}: {} requests, {} answered ({} approved) in {:.2} s: {:.0} per second\nlatency ms: p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.2}{}\n",
        r.connections,
        if args.tls.is_some() { " (TLS)" } else { "" },
        r.sent,
        r.answered,
        r.approved,
        r.seconds,
        r.per_second,
        r.latency_ms[0],
        r.latency_ms[1],
        r.latency_ms[2],
        r.latency_ms[3],
        if r.failed_connections > 0 {
            format!("\n{} connections failed", r.failed_connections)
        } else {
            String::new()
        }
    );
    print(&text)?;
    if let Some(p) = &args.json {
        let body = serde_json::to_string_pretty(&r).unwrap_or_default();
        std::fs::write(p, body + "\n")
            .map_err(|e| Failure::Io(format!("cannot write {}: {e}", p.display())))?;
    }
    if r.failed_connections > 0 || r.answered < r.sent {
        // A measurement with lost answers or connections is not a result.
        return Err(Failure::Io(String::new()));
    }
    Ok(ExitCode::SUCCESS)
}
