//! `possim cards`: the scenario's test cards, listed for a tester, or
//! presented to a real PC/SC stack through vsmartcard's vpcd.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use possim::net::cards::{CardsError, CardsOptions, serve};
use possim::sim::Plan;
use possim::time::Duration;

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Presents the scenario's chip cards to a real PC/SC stack: possim connects to vpcd
(Debian vsmartcard-vpcd, loaded by pcscd) as the card in its first reader, \"Virtual PCD 00 00\",
so opensc-tool, pcsc_scan or a payment kernel under test can power it and send it APDUs. Each
session (power on to power off) takes the next card in the scenario's order, or always the one
--card names; a card's ATC and PIN tries persist from session to session. The scenario's
shimmers and PIN-bypass wedges sit between reader and card (--no-attacks leaves them out), and
what they take is journalled.

  pcscd --foreground &                  # with vsmartcard-vpcd installed
  possim cards --scenario examples/host.ron --vpcd 127.0.0.1:35963 &
  opensc-tool -r 'Virtual PCD 00 00' -s 00A404000E315041592E5359532E444446303100

`possim cards --list` prints the cards (PAN, expiry, PIN, the keys' check values): synthetic test
cards, printed so a tester knows what to type.

Exit codes: 0 stopped (SIGINT, SIGTERM, --stop-after), 2 invalid scenario or no such card, 3 vpcd
cannot be reached or the journal cannot be written."
)]
pub(crate) struct Args {
    /// The scenario whose cards to present.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// Where vpcd listens (its first reader).
    #[arg(long, default_value = "127.0.0.1:35963", value_name = "ADDR")]
    vpcd: SocketAddr,
    /// Present only this card (its PAN).
    #[arg(long, value_name = "PAN")]
    card: Option<String>,
    /// Present the cards as contactless (PPSE; the card's cryptogram in GPO).
    #[arg(long)]
    contactless: bool,
    /// Leave the scenario's shimmers and PIN-bypass wedges out.
    #[arg(long)]
    no_attacks: bool,
    /// Override the scenario's seed (derived cards and keys follow it).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the journal: each session's APDUs (card data masked), and what
    /// any device took.
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// Stop after this much wall time (for scripts).
    #[arg(long, value_parser = Duration::parse, value_name = "DURATION")]
    stop_after: Option<Duration>,
    /// List the scenario's cards instead, and exit.
    #[arg(long)]
    list: bool,
    /// With --list: as JSON.
    #[arg(long)]
    json: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) fn run(args: Args) -> Outcome {
    super::distinct_files(&[&args.scenario], &[("--journal", args.journal.as_deref())])?;
    let scenarios = super::load_all(std::slice::from_ref(&args.scenario))?;
    let Some((file, scenario)) = scenarios.into_iter().next() else {
        return Err(Failure::Invalid("no scenario".into()));
    };
    let plan = Plan::new(&scenario, args.seed)
        .map_err(|e| Failure::Invalid(format!("{}: {e}", file.display())))?;
    if args.list {
        return list(&plan, args.json);
    }
    let opts = CardsOptions {
        vpcd: args.vpcd,
        card: args.card.clone(),
        contactless: args.contactless,
        attacks: !args.no_attacks,
    };
    let journal = super::journal_writer(args.journal.as_deref())?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    super::host::stop_on_signal(
        move || flag.store(true, Ordering::SeqCst),
        args.stop_after,
        "taking the cards out of the reader".into(),
    );
    let quiet = args.quiet;
    let addr = args.vpcd;
    let report = serve(&plan, &opts, journal, stop, |slot| {
        if !quiet {
            let devices = slot.devices();
            let fitted = if devices.is_empty() {
                String::new()
            } else {
                format!("; fitted between reader and card: {}", devices.join(", "))
            };
            eprintln!("connected to vpcd at {addr}: card {} in the slot{fitted}", slot.inserted());
        }
    })
    .map_err(|e| match e {
        CardsError::NoCard(m) => Failure::Invalid(m),
        CardsError::Io { .. } => Failure::Io(format!(
            "{e} (is pcscd running with vsmartcard-vpcd? `pcscd --foreground`)"
        )),
    })?;
    if !quiet {
        print(&format!(
            "cards: {} connection(s) to vpcd, {} sessions, {} APDUs answered, {} peers dropped\n",
            report.connections, report.sessions, report.apdus, report.dropped
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The scenario's cards, as a tester needs them.
fn list(plan: &Plan, json: bool) -> Outcome {
    let mut rows = Vec::new();
    plan.issue_cards(|c| {
        let d = &c.data;
        rows.push(serde_json::json!({
            "pan": d.pan,
            "expiry": d.expiry(),
            "psn": d.psn(),
            "pin": d.pin(),
            "chip": c.profile.chip && !c.broken,
            "contactless": c.profile.contactless,
            "cvm": format!("{:?}", c.profile.cvm),
            "pin_try_limit": c.profile.pin_try_limit,
            "atc": c.atc,
            "balance": c.balance.to_string(),
            "icc_mk_kcv": hex::encode_upper(c.mk.kcv()),
        }));
    })
    .map_err(|e| Failure::Invalid(format!("the scenario's cards cannot be issued: {e}")))?;
    let h = &plan.host;
    let keys = serde_json::json!({
        "imk_ac_kcv": hex::encode_upper(h.imk_ac.kcv()),
        "cvk_kcv": hex::encode_upper(h.cvk.kcv()),
        "pvk_kcv": hex::encode_upper(h.pvk.kcv()),
    });
    if json {
        let v = serde_json::json!({"scenario": plan.name, "seed": plan.seed, "issuer": keys, "cards": rows});
        return print(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"));
    }
    let mut t = format!(
        "{}: {} cards (seed {}); issuer keys' check values: IMK-AC {}, CVK {}, PVK {}\n",
        plan.name,
        rows.len(),
        plan.seed,
        keys["imk_ac_kcv"].as_str().unwrap_or(""),
        keys["cvk_kcv"].as_str().unwrap_or(""),
        keys["pvk_kcv"].as_str().unwrap_or("")
    );
    t.push_str(&format!(
        "{:<19}  {:<6}  {:<3}  {:<4}  {:<13}  {:<10}  {:>5}  {:>12}  {}\n",
        "PAN", "expiry", "PSN", "PIN", "interfaces", "CVM", "ATC", "balance", "ICC MK KCV"
    ));
    let shown = 50;
    for r in rows.iter().take(shown) {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let interfaces = match (r["chip"].as_bool(), r["contactless"].as_bool()) {
            (Some(false), _) => "stripe only",
            (_, Some(true)) => "chip, tap",
            _ => "chip",
        };
        t.push_str(&format!(
            "{:<19}  {:<6}  {:<3}  {:<4}  {:<13}  {:<10}  {:>5}  {:>12}  {}\n",
            s("pan"),
            s("expiry"),
            s("psn"),
            s("pin"),
            interfaces,
            s("cvm"),
            r["atc"],
            s("balance"),
            s("icc_mk_kcv")
        ));
    }
    if rows.len() > shown {
        t.push_str(&format!("... and {} more (all with --json)\n", rows.len() - shown));
    }
    print(&t)
}
