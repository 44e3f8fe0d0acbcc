//! `possim terminal --connect`: the scenario's emulated terminals against a
//! real host.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use possim::net::{ConnectOptions, RemoteRun, pki, tls};
use possim::report::summary;
use possim::sim::Plan;

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(after_help = "Each of the scenario's terminals opens its own connection to the host on
its first frame (sign-on or purchase) and sends with the framing of PROTOCOL.md §1. The
scenario's customers, cards, link faults and attacks run on possim's side; the host's books
are its own, so LedgerBalanced is reported as not evaluated.

Time runs at --speed virtual seconds per wall second: an 8-hour scenario at --speed 60 takes
8 minutes. Timeouts are virtual time too, and the host's real round trip counts speed times
over: keep round trip x speed well below the terminal's timeout (5 ms x 600 = 3 s of 30 s).

Exit codes: 0 every expectation held, 1 an expectation failed, 2 invalid scenario or command
line, 3 I/O failure.")]
pub(crate) struct Args {
    /// The host: ADDR:PORT or NAME:PORT.
    #[arg(long, value_name = "ADDR", required_unless_present = "pcsc")]
    connect: Option<String>,
    /// The scenario whose terminals and customers to run.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// TLS, trusting only DIR/ca.pem (pinning possim's CA; `possim pki`).
    #[arg(long, value_name = "DIR")]
    tls: Option<PathBuf>,
    /// With --tls: show DIR/terminal-terminal.pem as the client certificate.
    #[arg(long, requires = "tls")]
    mtls: bool,
    /// The name the host's certificate must carry (default: the host part of --connect).
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// Virtual seconds per wall second.
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    speed: f64,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Write the journal (JSON lines).
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
    /// Print only failures.
    #[arg(long, short)]
    quiet: bool,
    /// Read a real card in a real reader over PC/SC instead (the reader
    /// named, or the first with a card), and make one purchase with it
    /// against the scenario's host (in-process, or --connect). Needs the
    /// `pcsc` feature (it links libpcsclite).
    #[arg(
        long,
        num_args = 0..=1,
        default_missing_value = "",
        value_name = "READER",
        conflicts_with_all = ["journal", "json", "junit", "pcap", "html", "tls", "speed"]
    )]
    pcsc: Option<String>,
    /// With --pcsc: the amount.
    #[arg(long, default_value = "10.00", value_name = "AMOUNT", requires = "pcsc")]
    amount: String,
    /// With --pcsc: the PIN to type, once (a second request after a wrong
    /// PIN cancels: a real card blocks after its try limit); asked on the
    /// terminal each time if not given.
    #[arg(long, value_name = "PIN", requires = "pcsc")]
    pin: Option<String>,
    /// With --pcsc: leave the scenario's PIN wedge and shimmer out.
    #[arg(long, requires = "pcsc")]
    no_attacks: bool,
}

fn resolve(s: &str) -> Result<SocketAddr, Failure> {
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Failure::Invalid(format!("--connect {s}: expected HOST:PORT")))
}

pub(crate) fn run(args: Args) -> Outcome {
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= 1e6) {
        return Err(Failure::Invalid("--speed: a number above 0 and at most 1000000".into()));
    }
    if args.pcsc.is_some() {
        return pcsc(&args);
    }
    let addr = resolve(args.connect.as_deref().unwrap_or_default())?;
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
    super::no_real_terminals(&file, &scenario, "`possim terminal`")?;
    let plan = Plan::new(&scenario, args.seed)
        .map_err(|e| Failure::Invalid(format!("{}: {e}", file.display())))?;
    let tls = match &args.tls {
        Some(dir) => {
            let client = args.mtls.then(|| {
                (
                    dir.join(pki::files::terminal("terminal")),
                    dir.join(pki::files::terminal_key("terminal")),
                )
            });
            let cfg = tls::client_config(
                &dir.join(pki::files::CA),
                client.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
            )
            .map_err(|e| Failure::Invalid(e.to_string()))?;
            let connect = args.connect.clone().unwrap_or_default();
            let host = args.server_name.clone().unwrap_or_else(|| {
                connect.rsplit_once(':').map_or(connect.clone(), |(h, _)| {
                    h.trim_start_matches('[').trim_end_matches(']').to_string()
                })
            });
            let name = tls::server_name(&host).map_err(|e| Failure::Invalid(e.to_string()))?;
            Some((cfg, name))
        }
        None => None,
    };
    let journal = super::journal_writer(args.journal.as_deref())?;
    let opts = ConnectOptions { addr, tls, speed: args.speed, frames_in_journal: true };
    let notice = format!(
        "no new customers; what is in flight settles for up to {} of virtual time ({:.0} s at --speed {})",
        plan.settle_after,
        plan.settle_after.micros() as f64 / 1e6 / args.speed,
        args.speed
    );
    let started = std::time::Instant::now();
    let (mut subscribers, pcap_slot) = match &args.pcap {
        Some(p) => {
            let (w, slot) = super::pcap_writer(p, &plan)?;
            (vec![w], Some(slot))
        }
        None => (Vec::new(), None),
    };
    let html = super::html_page(args.html.as_deref())?.map(|(f, collector, seen)| {
        subscribers.push(Box::new(collector) as Box<dyn possim::sim::Subscriber>);
        (f, seen)
    });
    let run = RemoteRun::start_with(plan, opts, journal, subscribers, &file.display().to_string())
        .map_err(|e| Failure::Io(format!("starting: {e}")))?;
    let stopper = run.stopper();
    super::host::stop_on_signal(move || stopper.stop(), None, notice);
    let (report, stats) = run.wait().map_err(Failure::Io)?;
    super::pcap_check(args.pcap.as_deref(), pcap_slot.as_ref())?;
    super::write_html(html, args.html.as_deref(), &report)?;
    let mut text = String::new();
    if !args.quiet || !report.passed {
        text.push_str(&summary(&report));
        text.push_str(&format!(
            "  host {addr}: {} connections, {} failed to connect; {} frames sent, {} received, {} lost without a connection; {:.2} s wall time\n",
            stats.connected,
            stats.connect_failed,
            stats.frames_out,
            stats.frames_in,
            stats.frames_lost,
            started.elapsed().as_secs_f64()
        ));
    }
    print(&text)?;
    let connections = serde_json::to_value(&stats).unwrap_or_default();
    super::write_report(&report, Some(connections), args.json.as_deref(), args.junit.as_deref())
}

/// `--pcsc`: one purchase with a real card.
#[cfg(not(feature = "pcsc"))]
fn pcsc(_: &Args) -> Outcome {
    Err(Failure::Invalid(
        "--pcsc: this possim was built without the `pcsc` feature (cargo build --release --features pcsc; it links libpcsclite)".into(),
    ))
}

/// `--pcsc`: one purchase with a real card.
#[cfg(feature = "pcsc")]
fn pcsc(args: &Args) -> Outcome {
    use possim::money::Money;
    use possim::net::counter::{Counter, LocalHost, Uplink};
    use possim::net::pcsc::PcscChannel;
    let amount = Money::parse(&args.amount)
        .map_err(|e| Failure::Invalid(format!("--amount {}: {e}", args.amount)))?;
    if amount.0 <= 0 || amount.0 > 9_999_999_999 {
        return Err(Failure::Invalid(format!(
            "--amount {}: more than 0 and at most 99999999.99",
            args.amount
        )));
    }
    let scenarios = super::load_all(std::slice::from_ref(&args.scenario))?;
    let Some((file, scenario)) = scenarios.into_iter().next() else {
        return Err(Failure::Invalid("no scenario".into()));
    };
    let plan = Plan::new(&scenario, args.seed)
        .map_err(|e| Failure::Invalid(format!("{}: {e}", file.display())))?;
    let mut uplink: Box<dyn Uplink> = match &args.connect {
        None => Box::new(LocalHost::new(&plan).map_err(Failure::Invalid)?),
        Some(a) => Box::new(RemoteHost::connect(resolve(a)?)?),
    };
    // A real host remembers the last run's STANs: start where no recent
    // run can have been (16 a tenth of a second, round every 1.7 hours;
    // the RRN carries the hour).
    let last_stan = match &args.connect {
        None => 0,
        Some(_) => {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            u32::try_from(ms / 100 * 16 % 999_000).unwrap_or(0)
        }
    };
    let mut counter =
        Counter::new(&plan, !args.no_attacks, last_stan, uplink.as_mut()).map_err(Failure::Io)?;
    let reader = args.pcsc.as_deref();
    let mut card = PcscChannel::open(reader).map_err(|e| Failure::Io(e.to_string()))?;
    if !args.quiet {
        let devices = counter.devices();
        let fitted = if devices.is_empty() {
            String::new()
        } else {
            format!("; between reader and card: {}", devices.join(", "))
        };
        eprintln!("reader {:?}: purchase of {amount}{fitted}", card.name);
    }
    let given = args.pin.clone();
    let mut ask = |tries: u32| -> Option<String> {
        if let Some(p) = &given {
            // Typed once: the card counts every wrong try, and blocks.
            if tries > 0 {
                eprintln!("the PIN from --pin was wrong: cancelled rather than typed again");
                return None;
            }
            return Some(p.clone());
        }
        eprint!("PIN{}: ", if tries > 0 { " (again)" } else { "" });
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).ok()?;
        let pin = line.trim().to_string();
        (!pin.is_empty()).then_some(pin)
    };
    let sale =
        counter.purchase(&mut card, amount, uplink.as_mut(), &mut ask).map_err(Failure::Io)?;
    let c = &sale.completion;
    let mut text = format!(
        "{}: {:?}{} ({}); entry {}, CVM {}, STAN {}; {} frame(s) sent, {} answered, {} PIN tr{}\n",
        c.amount,
        c.outcome,
        c.response.map(|r| format!(" {}", r.code())).unwrap_or_default(),
        c.reason,
        c.entry.map_or("-".into(), |e| format!("{e:?}")),
        c.cvm.map_or("-".into(), |e| format!("{e:?}")),
        c.stan.map_or("-".into(), |s| s.to_string()),
        sale.frames.0,
        sale.frames.1,
        sale.pin_tries,
        if sale.pin_tries == 1 { "y" } else { "ies" }
    );
    for n in &sale.notes {
        text.push_str(&format!("  {n:?}\n"));
    }
    if let Some(lost) = &card.lost {
        text.push_str(&format!("  the card stopped answering: {lost}\n"));
    }
    for e in &sale.transport {
        text.push_str(&format!("  host: {e}\n"));
    }
    if sale.pending_reversals > 0 {
        text.push_str(&format!(
            "  {} reversal(s) could not be delivered: the host may keep the money until it hears of them\n",
            sale.pending_reversals
        ));
    }
    print(&text)?;
    if !sale.transport.is_empty() {
        return Err(Failure::Io(String::new()));
    }
    Ok(if c.outcome == possim::terminal::Outcome::Approved {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    })
}

/// A real host on a socket, for `--pcsc --connect`: one frame, one answer;
/// a broken connection is made again for the next frame (a reversal).
#[cfg(feature = "pcsc")]
struct RemoteHost {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    client: Option<possim::net::client::Client>,
}

#[cfg(feature = "pcsc")]
impl RemoteHost {
    fn connect(addr: SocketAddr) -> Result<Self, Failure> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Io(e.to_string()))?;
        let client = rt
            .block_on(possim::net::client::Client::tcp(addr))
            .map_err(|e| Failure::Io(format!("host {addr}: {e}")))?;
        Ok(Self { rt, addr, client: Some(client) })
    }
}

#[cfg(feature = "pcsc")]
impl possim::net::counter::Uplink for RemoteHost {
    fn call(&mut self, frame: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let addr = self.addr;
        let client = match self.client.take() {
            Some(c) => c,
            None => self
                .rt
                .block_on(possim::net::client::Client::tcp(addr))
                .map_err(|e| format!("{addr}: {e}"))?,
        };
        let mut client = client;
        let wait = std::time::Duration::from_secs(15);
        let answer =
            self.rt.block_on(async { tokio::time::timeout(wait, client.call(frame)).await });
        match answer {
            Ok(Ok(a)) => {
                self.client = Some(client);
                Ok(Some(a))
            }
            Ok(Err(e)) => Err(format!("{addr}: {e}")),
            // No answer in time: the terminal's timer decides.
            Err(_) => Ok(None),
        }
    }
}
