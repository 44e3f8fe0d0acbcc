//! `possim script`: scripted cases against a host under test.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use possim::net::client::Client;
use possim::net::script::{StepResult, parse, run as run_script};
use possim::net::{pki, tls};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "A script is a RON file: Script(name, dialect, keys: (tak), steps: [(name, send,
mac, expect, capture, timeout)]). `send` maps \"t\" (the MTI) and field numbers to values, binary
fields in hex; `expect` maps fields to Equals(\"00\"), OneOf([...]), Echo, Present, Absent or
MacValid; `capture` keeps an answer's field under a name for later steps as ${name}.
See docs/SCENARIOS.md, \"Scripted cases\".

Exit codes: 0 every step held, 1 a step failed, 2 invalid script or command line, 3 the host
could not be reached or a connection broke."
)]
pub(crate) struct Args {
    /// The script (RON).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The host under test: ADDR:PORT or NAME:PORT.
    #[arg(long, value_name = "ADDR")]
    connect: String,
    /// TLS, trusting only DIR/ca.pem.
    #[arg(long, value_name = "DIR")]
    tls: Option<PathBuf>,
    /// The name the host's certificate must carry (default: the host part of --connect).
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// Write JUnit XML, one test case per step.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write the results as JSON.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Print only failures.
    #[arg(long, short)]
    quiet: bool,
}

fn junit(name: &str, file: &str, results: &[StepResult]) -> String {
    let mut report = Report::new("possim");
    let mut suite = TestSuite::new(format!("{name} ({file})"));
    for r in results {
        let status = if r.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(r.failures.join("; "));
            s
        };
        let mut case = TestCase::new(r.name.clone(), status);
        case.set_classname(file.to_string());
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}

pub(crate) fn run(args: Args) -> Outcome {
    let file = args.file.display().to_string();
    let text = possim::file::read_text(&args.file, possim::file::MAX_SCENARIO)
        .map_err(|e| Failure::Io(format!("cannot read {file}: {e}")))?;
    let script = parse(&text, &file).map_err(|d| Failure::Invalid(d.to_string()))?;
    let addr: SocketAddr =
        args.connect.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| {
            Failure::Invalid(format!("--connect {}: expected HOST:PORT", args.connect))
        })?;
    let tls = match &args.tls {
        Some(dir) => {
            let host = args.server_name.clone().unwrap_or_else(|| {
                args.connect.rsplit_once(':').map_or(args.connect.clone(), |(h, _)| {
                    h.trim_start_matches('[').trim_end_matches(']').to_string()
                })
            });
            Some((
                tls::client_config(&dir.join(pki::files::CA), None)
                    .map_err(|e| Failure::Invalid(e.to_string()))?,
                tls::server_name(&host).map_err(|e| Failure::Invalid(e.to_string()))?,
            ))
        }
        None => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Io(e.to_string()))?;
    let tls = Arc::new(tls);
    let results = rt.block_on(run_script(&script, move || {
        let tls = tls.clone();
        Box::pin(async move {
            match tls.as_ref() {
                None => Client::tcp(addr).await,
                Some((cfg, name)) => Client::tls(addr, cfg.clone(), name.clone()).await,
            }
        })
    }));
    let mut text = String::new();
    for r in &results {
        if r.passed && args.quiet {
            continue;
        }
        let answer =
            r.answer.as_deref().map(|a| format!(" ({a}, {:.1} ms)", r.ms)).unwrap_or_default();
        text.push_str(&format!("{} {}{answer}\n", if r.passed { "PASS" } else { "FAIL" }, r.name));
        for f in &r.failures {
            text.push_str(&format!("     {f}\n"));
        }
    }
    let passed = results.iter().filter(|r| r.passed).count();
    let ok = passed == results.len();
    if !args.quiet || !ok {
        text.push_str(&format!(
            "{}: {} ({passed}/{} steps)\n",
            script.name,
            if ok { "PASS" } else { "FAIL" },
            results.len()
        ));
    }
    print(&text)?;
    if let Some(p) = &args.junit {
        std::fs::write(p, junit(&script.name, &file, &results))
            .map_err(|e| Failure::Io(format!("cannot write {}: {e}", p.display())))?;
    }
    if let Some(p) = &args.json {
        let v = serde_json::json!({ "script": script.name, "file": file, "passed": ok, "steps": results });
        std::fs::write(p, serde_json::to_string_pretty(&v).unwrap_or_default() + "\n")
            .map_err(|e| Failure::Io(format!("cannot write {}: {e}", p.display())))?;
    }
    if results.iter().any(|r| r.io) {
        // The host could not be reached (or the connection broke): not a verdict.
        return Err(Failure::Io(String::new()));
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
