//! The host on real sockets (loopback): TCP and TLS, pinning, mutual TLS,
//! hostile peers, a graceful stop, and the binary as a user runs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use possim::net::client::{Client, ClientError};
use possim::net::{HostServer, ServeOptions, pki, tls};
use possim::protocol::crypto::TdesKey;
use possim::protocol::iso8583::{MacCheck, Spec, verify_mac};
use possim::report::RunReport;
use possim::sim::Plan;

use crate::util::{Scratch, root, s, unhex, vector};

/// The pyiso8583/pyemv/psec purchase vector, as a real terminal sends it.
fn purchase() -> Vec<u8> {
    unhex(s(&vector("iso8583_ascii.json")["messages"][0], "encoded"))
}

fn plan() -> Plan {
    let sc = possim::scenario::load(&root().join("examples/host.ron")).unwrap();
    Plan::new(&sc, None).unwrap()
}

fn start(opts: ServeOptions) -> HostServer {
    HostServer::start(plan(), opts, None, "examples/host.ron").unwrap()
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// The answer is an approval MACed under the terminal's key.
fn assert_approved(answer: &[u8]) {
    let spec = Spec::iso87_ascii();
    let resp = spec.decode(answer).unwrap();
    assert_eq!(resp.mti().to_string(), "0210");
    assert_eq!(resp.get_str(39), Some("00"));
    let tak = TdesKey::from_hex(s(&vector("keys.json"), "tak")).unwrap();
    assert_eq!(verify_mac(&spec, answer, &resp, &tak), MacCheck::Valid);
    assert_eq!(resp.icc_data().map(|d| d.len()), Some(12), "tag 91 with the ARPC");
}

fn stop(server: HostServer) -> RunReport {
    server.stopper().stop();
    server.wait().unwrap().0
}

fn pki_dir(scratch: &Scratch, name: &str) -> PathBuf {
    let dir = scratch.path(name);
    pki::generate(&dir, &["TERM0001".to_string()], true).unwrap();
    dir
}

#[test]
fn a_terminal_over_tcp_gets_an_approval_with_a_valid_mac_and_arpc() {
    let server = start(ServeOptions::tcp(loopback()));
    let addr = server.addr();
    let answer = rt().block_on(async {
        let mut c = Client::tcp(addr).await.unwrap();
        c.call(&purchase()).await.unwrap()
    });
    assert_approved(&answer);
    let r = stop(server);
    assert_eq!(r.responses.get("00"), Some(&1), "{}", possim::report::summary(&r));
    assert!(r.passed, "{}", possim::report::summary(&r));
}

#[test]
fn a_terminal_pinned_to_possims_ca_is_served_over_tls_and_refuses_the_rogue_certificate() {
    let scratch = Scratch::new();
    let dir = pki_dir(&scratch, "pki-pinned");
    let cfg = tls::server_config(&dir, false).unwrap();
    let server = start(ServeOptions { tls: Some(cfg), ..ServeOptions::tcp(loopback()) });
    let rogue_cfg = tls::server_config_with(
        &dir.join("rogue-host.pem"),
        &dir.join("rogue-host-key.pem"),
        &dir,
        false,
    )
    .unwrap();
    let rogue = start(ServeOptions { tls: Some(rogue_cfg), ..ServeOptions::tcp(loopback()) });
    let client = tls::client_config(&dir.join(pki::files::CA), None).unwrap();
    let name = tls::server_name("localhost").unwrap();
    rt().block_on(async {
        let mut c = Client::tls(server.addr(), client.clone(), name.clone()).await.unwrap();
        assert_approved(&c.call(&purchase()).await.unwrap());
        let err =
            Client::tls(rogue.addr(), client, name).await.err().expect("the rogue is refused");
        assert!(matches!(err, ClientError::Tls { .. }), "{err}");
        assert!(err.to_string().contains("invalid peer certificate"), "{err}");
    });
    let r = stop(server);
    assert_eq!(r.responses.get("00"), Some(&1));
    let r = stop(rogue);
    assert_eq!(r.counts.frames_sent, 0, "nothing reached the rogue host");
}

#[test]
fn with_mutual_tls_a_terminal_without_a_certificate_is_refused() {
    let scratch = Scratch::new();
    let dir = pki_dir(&scratch, "pki-mtls");
    let cfg = tls::server_config(&dir, true).unwrap();
    let server = start(ServeOptions { tls: Some(cfg), ..ServeOptions::tcp(loopback()) });
    let name = tls::server_name("127.0.0.1").unwrap();
    let bare = tls::client_config(&dir.join(pki::files::CA), None).unwrap();
    let with_cert = tls::client_config(
        &dir.join(pki::files::CA),
        Some((
            &dir.join(pki::files::terminal("TERM0001")),
            &dir.join(pki::files::terminal_key("TERM0001")),
        )),
    )
    .unwrap();
    rt().block_on(async {
        // TLS 1.3 reports a refused client certificate on the first read.
        let refused = match Client::tls(server.addr(), bare, name.clone()).await {
            Err(_) => true,
            Ok(mut c) => c.call(&purchase()).await.is_err(),
        };
        assert!(refused, "a terminal without a certificate gets nothing");
        let mut c = Client::tls(server.addr(), with_cert, name).await.unwrap();
        assert_approved(&c.call(&purchase()).await.unwrap());
    });
    let stats = server.stats();
    assert_eq!(stats.tls_failed, 1, "{stats:?}");
    let r = stop(server);
    assert_eq!(r.responses.get("00"), Some(&1));
}

#[test]
fn hostile_peers_close_only_their_own_connection_and_never_move_money() {
    let server = start(ServeOptions {
        idle: std::time::Duration::from_millis(300),
        ..ServeOptions::tcp(loopback())
    });
    let addr = server.addr();
    let mut held = Vec::new();
    for i in 0..200u32 {
        let mut s = TcpStream::connect(addr).unwrap();
        let junk: Vec<u8> = (0..(i % 50 + 3)).map(|k| (k * 37 + i) as u8).collect();
        match i % 5 {
            // Too long: closed without an answer.
            0 => s.write_all(&[0xff, 0xff, 1, 2, 3]).unwrap(),
            // Garbage in a well-formed frame: the host answers it or not, never posts it.
            1 => {
                s.write_all(&(junk.len() as u16).to_be_bytes()).unwrap();
                s.write_all(&junk).unwrap();
            }
            // Truncated: a header promising more than comes.
            2 => s.write_all(&[0x01, 0x00, b'0', b'2']).unwrap(),
            // A real purchase with one flipped bit: 30 or 63, never a posting.
            3 => {
                let mut p = purchase();
                let k = (i as usize * 7) % p.len();
                p[k] ^= 1 << (i % 8);
                s.write_all(&(p.len() as u16).to_be_bytes()).unwrap();
                s.write_all(&p).unwrap();
            }
            // Half-open: says nothing, is closed after the idle timeout.
            _ => {}
        }
        held.push(s);
    }
    // And 10,000 malformed messages in well-formed frames on one connection:
    // damaged copies of a real purchase and plain garbage.
    let flood = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut reader = s.try_clone().unwrap();
        let drain = std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        let base = purchase();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::new();
        for i in 0..10_000u32 {
            let msg: Vec<u8> = if i % 2 == 0 {
                let mut m = base.clone();
                let k = next() as usize % m.len();
                m[k] ^= 1 << (next() % 8);
                m
            } else {
                (0..next() % 300).map(|_| next() as u8).collect()
            };
            out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
            out.extend_from_slice(&msg);
        }
        s.write_all(&out).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        drain.join().unwrap();
    });
    // Meanwhile a well-formed purchase on its own connection is answered.
    let answer = rt().block_on(async {
        let mut c = Client::tcp(addr).await.unwrap();
        c.call(&purchase()).await.unwrap()
    });
    assert_approved(&answer);
    // Every hostile connection is closed by the host (idle ones after 300 ms).
    for mut s in held {
        s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    flood.join().unwrap();
    let stats = server.stats();
    assert!(stats.frames_in >= 10_000, "{stats:?}");
    assert!(stats.framing_errors >= 40, "{stats:?}");
    assert!(stats.idle_closed >= 40, "{stats:?}");
    let r = stop(server);
    assert_eq!(r.responses.get("00"), Some(&1), "only the real purchase is approved");
    assert_eq!(r.ledger.0, possim::money::Money(41915), "{}", possim::report::summary(&r));
    assert!(r.passed, "{}", possim::report::summary(&r));
}

#[test]
fn a_stop_answers_what_was_already_received() {
    let server = start(ServeOptions::tcp(loopback()));
    let addr = server.addr();
    let stopper = server.stopper();
    let answer = rt().block_on(async {
        let mut c = Client::tcp(addr).await.unwrap();
        c.send(&purchase()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        stopper.stop();
        c.recv().await.unwrap()
    });
    assert_approved(&answer);
    let (r, stats) = server.wait().unwrap();
    assert_eq!((stats.frames_in, stats.frames_out), (1, 1));
    assert!(r.passed);
    // Once stopped, nobody is listening.
    assert!(TcpStream::connect(addr).is_err());
}

fn wait_for_listening(child: &mut std::process::Child) -> SocketAddr {
    let out = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("first line: {line:?}"));
    addr.parse().unwrap()
}

/// Kills a child process left running by a failing test.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-9", &self.0.to_string()]).output();
    }
}

fn host_binary(extra: &[&str], dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["host", "--scenario", "examples/host.ron", "--listen", "127.0.0.1:0", "--quiet"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends SIGTERM to a `possim host`, checks it ends with exit 0, and reads
/// the JSON report it wrote to `json`.
fn stop_with_sigterm(child: std::process::Child, json: &Path) -> serde_json::Value {
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[test]
fn possim_host_prints_its_address_serves_and_reports_after_sigterm() {
    let scratch = Scratch::new();
    let json = scratch.path("host.json");
    let journal = scratch.path("host.jsonl");
    let pcap = scratch.path("host.pcap");
    let mut child = host_binary(
        &[
            "--json",
            json.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--pcap",
            pcap.to_str().unwrap(),
        ],
        &root(),
    );
    let _guard = KillOnDrop(child.id());
    let addr = wait_for_listening(&mut child);
    let answer = rt().block_on(async {
        let mut c = Client::tcp(addr).await.unwrap();
        c.call(&purchase()).await.unwrap()
    });
    assert_approved(&answer);
    let report = stop_with_sigterm(child, &json);
    assert_eq!(report["passed"], true);
    assert_eq!(report["connections"]["frames_in"], 1);
    assert_eq!(report["settlement"][0]["only"], "host");
    // The request and its answer, as they crossed the socket.
    let (payloads, _) = crate::cli::pcap_payloads(&std::fs::read(&pcap).unwrap());
    assert_eq!(payloads.len(), 2);
    assert_eq!(&payloads[0][2..], &purchase()[..]);
    assert_eq!(&payloads[1][2..6], b"0210");
    let journal = std::fs::read_to_string(&journal).unwrap();
    assert!(journal.contains("\"host_decision\""), "{journal}");
    // Decisions name the card masked (frame bytes are kept, in hex, as evidence).
    let decision = journal.lines().find(|l| l.contains("\"host_decision\"")).unwrap();
    assert!(decision.contains("407366******8123"), "{decision}");
    assert!(!decision.contains("4073662585178123"), "{decision}");
}

#[test]
fn possim_host_stopped_the_moment_it_is_ready_still_reports() {
    let scratch = Scratch::new();
    // A script that stops the host as soon as it prints its address: the
    // signal handlers must be in place by then (a CI run once killed the
    // host outright, exit by signal, no report, when SIGTERM came first).
    for round in 0..5 {
        let json = scratch.path(&format!("host-early-stop-{round}.json"));
        let _ = std::fs::remove_file(&json);
        let mut child = host_binary(&["--json", json.to_str().unwrap()], &root());
        let _guard = KillOnDrop(child.id());
        wait_for_listening(&mut child);
        let report = stop_with_sigterm(child, &json);
        assert_eq!(report["connections"]["frames_in"], 0);
    }
}

#[test]
fn possim_pki_writes_keys_mode_0600_and_refuses_to_overwrite() {
    let scratch = Scratch::new();
    let dir = scratch.path("pki-cli");
    let _ = std::fs::remove_dir_all(&dir);
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_possim"))
            .args(["pki", "--out", dir.to_str().unwrap(), "--terminal", "T1", "--terminal", "T2"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for f in [
        "ca.pem",
        "host.pem",
        "terminal-T1.pem",
        "terminal-T2.pem",
        "rogue-ca.pem",
        "rogue-host.pem",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    #[cfg(unix)]
    for f in [
        "ca-key.pem",
        "host-key.pem",
        "terminal-T1-key.pem",
        "rogue-ca-key.pem",
        "rogue-host-key.pem",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let again = run(&[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(run(&["--force"]).status.code(), Some(0));
    let bad = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["pki", "--out", dir.to_str().unwrap(), "--terminal", "../x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_client_offering_only_tls_1_1_is_refused() {
    // An independent client (Python's ssl module) capped at TLS 1.1.
    let probe = Command::new("python3").args(["-c", "import ssl"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: python3 with ssl is not available");
        return;
    }
    let scratch = Scratch::new();
    let dir = pki_dir(&scratch, "pki-old");
    let cfg = tls::server_config(&dir, false).unwrap();
    let server = start(ServeOptions { tls: Some(cfg), ..ServeOptions::tcp(loopback()) });
    let script = format!(
        r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations("{ca}")
try:
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this OpenSSL offer TLS 1.1 at all
except (ValueError, AttributeError, ssl.SSLError):
    print("cannot offer"); sys.exit(0)
s = socket.create_connection(("127.0.0.1", {port}))
try:
    ctx.wrap_socket(s, server_hostname="localhost")
    print("accepted")
except (ssl.SSLError, OSError) as e:
    # Refused by this client before anything was sent: not a verdict.
    print("cannot offer" if "NO_PROTOCOLS_AVAILABLE" in str(e) else "refused", e)
"#,
        ca = dir.join("ca.pem").display(),
        port = server.addr().port()
    );
    let out = Command::new("python3").args(["-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stats = server.stats();
    stop(server);
    if text.starts_with("cannot offer") {
        eprintln!("skipped: this Python's OpenSSL cannot offer TLS 1.1");
        return;
    }
    assert!(text.starts_with("refused"), "{text}{}", String::from_utf8_lossy(&out.stderr));
    // The server saw the handshake and refused it (an alert about the version).
    assert_eq!(stats.tls_failed, 1, "{stats:?}");
    assert!(text.to_lowercase().contains("alert"), "the server refused it: {text}");
}

#[test]
fn emulated_terminals_drive_a_real_host_and_both_sides_agree() {
    use possim::net::{ConnectOptions, RemoteRun};
    let text = r#"Scenario(
    name: "terminals against a real host",
    seed: 7,
    duration: "20m",
    shop: (terminals: [(id: "TERM0001"), (id: "TERM0002")]),
    cardholders: (count: 50),
    traffic: (per_hour: 90),
    expect: [NoDoubleCharge, ApprovalRateAtLeast(0.8), Never(Timeout), AtLeast(1, Response("00"))],
)"#;
    let sc = possim::scenario::parse(text, "remote.ron").unwrap();
    let (collector, seen) = possim::report::html::Collector::new();
    let host = HostServer::start_with(
        Plan::new(&sc, None).unwrap(),
        ServeOptions::tcp(loopback()),
        None,
        vec![Box::new(collector)],
        "remote.ron",
    )
    .unwrap();
    let opts =
        ConnectOptions { addr: host.addr(), tls: None, speed: 300.0, frames_in_journal: false };
    let run = RemoteRun::start(Plan::new(&sc, None).unwrap(), opts, None, "remote.ron").unwrap();
    let (terminals, stats) = run.wait().unwrap();
    let host_report = stop(host);
    assert_eq!(stats.connected, 2, "one connection per terminal: {stats:?}");
    assert!(terminals.counts.approved >= 20, "{}", possim::report::summary(&terminals));
    // Each terminal's own totals equal what the real host settles for it.
    for t in &terminals.settlement {
        let h = host_report.settlement.iter().find(|h| h.terminal == t.terminal).unwrap();
        assert_eq!(t.terminal_totals, h.host_totals, "{}", t.terminal);
        assert_eq!(t.only, Some(possim::report::Side::Terminal));
    }
    // What needs the host's books is not evaluated on the terminals' side, never passed.
    let nd = terminals.expectations.iter().find(|e| e.expectation == "NoDoubleCharge").unwrap();
    assert!(!nd.passed && nd.evidence.starts_with("not evaluated"), "{}", nd.evidence);
    // Nor on the host's side, where the purchases are the real terminals' own:
    // never a pass over none of them.
    let hd = host_report.invariants.iter().find(|i| i.invariant == "NoDoubleCharge").unwrap();
    assert!(!hd.held && !hd.evaluated, "{}", hd.evidence);
    // Each side judges what it sees, and only that: the host sees its own
    // answers, the terminals their receipts and timeouts.
    let verdict = |r: &possim::report::RunReport, name: &str| {
        let e = r.expectations.iter().find(|e| e.expectation == name).unwrap();
        (e.passed, e.evidence.clone())
    };
    let (passed, why) = verdict(&host_report, "AtLeast(1, Response(\"00\"))");
    assert!(passed, "{why}");
    for name in ["Never(Timeout)", "ApprovalRateAtLeast(0.8)"] {
        let (passed, why) = verdict(&host_report, name);
        assert!(!passed && why.starts_with("not evaluated: the terminals"), "{name}: {why}");
    }
    assert!(verdict(&host_report, "ApprovalRateAtLeast(0.8)").1.contains("the host approved"));
    // Such a run does not come back from its seed: the summary says how it does.
    let text = possim::report::summary(&host_report);
    assert!(text.contains("replay with: possim replay of the run's journal"), "{text}");
    assert!(!text.contains("possim run remote.ron"), "{text}");
    let (passed, why) = verdict(&terminals, "ApprovalRateAtLeast(0.8)");
    assert!(passed, "{why}");
    let (passed, why) = verdict(&terminals, "AtLeast(1, Response(\"00\"))");
    assert!(!passed && why.starts_with("not evaluated: the host"), "{why}");
    let ld = host_report.invariants.iter().find(|i| i.invariant == "LedgerBalanced").unwrap();
    assert!(ld.held, "the host's own double entry is judged: {}", ld.evidence);
    // The host's page draws the real terminals' ordinary approvals as
    // traffic, not as money lost.
    let page = possim::report::html::render(&host_report, &seen.lock().unwrap());
    assert!(page.contains("<svg id=timeline"));
    assert!(!page.contains("money out"), "a real terminal's purchase is not a loss");
    assert!(page.contains("(the real terminal's own)"), "the side possim cannot see");
    let rate =
        terminals.expectations.iter().find(|e| e.expectation.starts_with("Approval")).unwrap();
    assert!(rate.passed, "{}", rate.evidence);
}

#[test]
fn terminals_facing_a_dead_host_decline_and_the_run_says_so() {
    use possim::net::{ConnectOptions, RemoteRun};
    // A port nobody listens on.
    let addr = std::net::TcpListener::bind(loopback()).unwrap().local_addr().unwrap();
    let text = r#"Scenario(name: "dead host", duration: "5m", traffic: (per_hour: 30), expect: [ApprovalRateAtLeast(0.5)])"#;
    let sc = possim::scenario::parse(text, "dead.ron").unwrap();
    let opts = ConnectOptions { addr, tls: None, speed: 5000.0, frames_in_journal: false };
    let run = RemoteRun::start(Plan::new(&sc, None).unwrap(), opts, None, "dead.ron").unwrap();
    let (r, stats) = run.wait().unwrap();
    assert!(stats.connect_failed > 0 && stats.connected == 0, "{stats:?}");
    // Every frame the link handed over was lost there, and is counted so.
    assert_eq!(stats.frames_out, 0, "{stats:?}");
    assert!(stats.frames_lost >= stats.connect_failed, "{stats:?}");
    // (At most every one the link delivered: a connection still being
    // refused when the day ends is not waited for.)
    assert!(stats.frames_lost <= r.counts.frames_delivered, "{stats:?}");
    assert_eq!(r.counts.approved, 0);
    // Never signed on, the terminals cannot go online: every customer is
    // declined (or times out), and the run says so.
    let c = &r.counts;
    assert!(
        c.purchases > 0 && c.declined_offline + c.timeouts == c.purchases,
        "{}",
        possim::report::summary(&r)
    );
    assert!(!r.passed);
}

#[test]
fn a_load_run_replays_real_signed_purchases_and_every_one_is_answered() {
    use possim::net::load::{LoadOptions, drive, record_requests};
    let text = r#"Scenario(name: "load", seed: 5, shop: (terminals: [(id: "L", count: 4, sign_on: false)]), cardholders: (count: 400))"#;
    let sc = possim::scenario::parse(text, "load.ron").unwrap();
    let plan = Plan::new(&sc, None).unwrap();
    let streams: Vec<Vec<Vec<u8>>> = record_requests(plan.clone(), 120).into_values().collect();
    assert_eq!(streams.len(), 4, "one stream per terminal");
    let recorded: usize = streams.iter().map(Vec::len).sum();
    assert!(recorded >= 120, "{recorded}");
    let spec = std::sync::Arc::new((*plan.spec).clone());
    let server = HostServer::start(plan, ServeOptions::tcp(loopback()), None, "load.ron").unwrap();
    let opts = LoadOptions { addr: server.addr(), tls: None, rate: None, spec };
    let r = rt().block_on(drive(streams, opts));
    let host = stop(server);
    assert_eq!((r.sent, r.answered, r.failed_connections), (recorded as u64, recorded as u64, 0));
    assert_eq!(r.approved, host.responses.get("00").copied().unwrap_or(0));
    assert!(r.approved as f64 >= 0.9 * recorded as f64, "{r:?}");
    assert!(r.latency_ms[0] > 0.0 && r.latency_ms[0] <= r.latency_ms[3]);
}

/// `examples/host.ron` with one link and these faults on it.
fn faulty_plan(faults: &str) -> Plan {
    let text = std::fs::read_to_string(root().join("examples/host.ron")).unwrap().replace(
        "    expect:",
        &format!(
            "    links: [(id: \"uplink\", latency: \"1ms\", faults: [{faults}])],\n    expect:"
        ),
    );
    let sc = possim::scenario::parse(&text, "faulty.ron").unwrap();
    Plan::new(&sc, None).unwrap()
}

fn proxy_to(
    plan: &Plan,
    upstream: SocketAddr,
    tls_in: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> possim::net::proxy::FaultProxy {
    let opts = possim::net::proxy::ProxyOptions {
        listen: loopback(),
        upstream,
        tls_in,
        tls_up: None,
        idle: std::time::Duration::from_secs(5),
        max_connections: 64,
    };
    possim::net::proxy::FaultProxy::start(plan, None, opts, None).unwrap()
}

#[test]
fn the_proxy_duplicates_a_request_and_the_host_posts_it_once() {
    let scratch = Scratch::new();
    let server = start(ServeOptions::tcp(loopback()));
    let plan = faulty_plan("Duplicate(p: 1.0, direction: Up)");
    let pcap = scratch.path("proxy.pcap");
    let (writer, _) = possim::report::pcap::PcapWriter::new(
        Box::new(std::fs::File::create(&pcap).unwrap()),
        1_800_000_000,
    );
    let opts = possim::net::proxy::ProxyOptions {
        listen: loopback(),
        upstream: server.addr(),
        tls_in: None,
        tls_up: None,
        idle: std::time::Duration::from_secs(5),
        max_connections: 64,
    };
    let proxy =
        possim::net::proxy::FaultProxy::start_with(&plan, None, opts, None, Some(writer)).unwrap();
    let (first, second) = rt().block_on(async {
        let mut c = Client::tcp(proxy.addr()).await.unwrap();
        let first = c.call(&purchase()).await.unwrap();
        let second = tokio::time::timeout(std::time::Duration::from_secs(3), c.recv()).await;
        (first, second.expect("the copy's answer arrives").unwrap())
    });
    assert_approved(&first);
    // The host saw two copies and answered both; the terminal saw two answers.
    let spec = Spec::iso87_ascii();
    assert_eq!(spec.decode(&second).unwrap().get_str(11), spec.decode(&first).unwrap().get_str(11));
    proxy.stopper().stop();
    let stats = proxy.wait();
    assert_eq!(stats.fired.get("duplicate"), Some(&1), "{stats:?}");
    assert_eq!((stats.frames_up, stats.frames_down), (1, 2));
    // The pcap holds what the proxy delivered: two copies up, two answers down.
    let (payloads, _) = crate::cli::pcap_payloads(&std::fs::read(&pcap).unwrap());
    let mtis: Vec<&[u8]> = payloads.iter().map(|p| &p[2..6]).collect();
    assert_eq!(mtis.iter().filter(|m| **m == b"0200").count(), 2);
    assert_eq!(mtis.iter().filter(|m| **m == b"0210").count(), 2);
    let r = stop(server);
    assert_eq!(r.counts.frames_delivered, 4, "two requests in, two answers out");
    assert_eq!(
        r.ledger.0,
        possim::money::Money(41915),
        "posted once: {}",
        possim::report::summary(&r)
    );
}

#[test]
fn a_request_corrupted_by_the_proxy_never_moves_money() {
    let server = start(ServeOptions::tcp(loopback()));
    let plan = faulty_plan("Corrupt(p: 1.0, direction: Up)");
    let proxy = proxy_to(&plan, server.addr(), None);
    let answer = rt().block_on(async {
        let mut c = Client::tcp(proxy.addr()).await.unwrap();
        c.send(&purchase()).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(2), c.recv()).await
    });
    // An answer, if any (an unreadable MTI gets none), refuses the frame.
    if let Ok(Ok(a)) = answer {
        let rc =
            Spec::iso87_ascii().decode_partial(&a).0.and_then(|m| m.get_str(39).map(String::from));
        assert!(matches!(rc.as_deref(), Some("30" | "63")), "{rc:?}");
    }
    proxy.stopper().stop();
    assert_eq!(proxy.wait().fired.get("corrupt"), Some(&1));
    let r = stop(server);
    assert_eq!(r.ledger.0, possim::money::Money(0), "{}", possim::report::summary(&r));
    assert_eq!(r.responses.get("00"), None);
}

#[test]
fn the_proxy_delays_answers_on_wall_time() {
    let server = start(ServeOptions::tcp(loopback()));
    let plan = faulty_plan("Delay(extra: \"300ms\", direction: Down)");
    let proxy = proxy_to(&plan, server.addr(), None);
    let (answer, took) = rt().block_on(async {
        let mut c = Client::tcp(proxy.addr()).await.unwrap();
        let t = std::time::Instant::now();
        (c.call(&purchase()).await.unwrap(), t.elapsed())
    });
    assert_approved(&answer);
    assert!(took >= std::time::Duration::from_millis(300), "{took:?}");
    proxy.stopper().stop();
    assert_eq!(proxy.wait().fired.get("delay"), Some(&1));
    stop(server);
}

#[test]
fn a_proxy_showing_the_rogue_certificate_is_refused_by_a_pinned_terminal() {
    let scratch = Scratch::new();
    let dir = pki_dir(&scratch, "pki-proxy");
    let server = start(ServeOptions::tcp(loopback()));
    let rogue = tls::server_config_with(
        &dir.join("rogue-host.pem"),
        &dir.join("rogue-host-key.pem"),
        &dir,
        false,
    )
    .unwrap();
    let honest = tls::server_config(&dir, false).unwrap();
    let plan = faulty_plan("");
    let mitm = proxy_to(&plan, server.addr(), Some(rogue));
    let relay = proxy_to(&plan, server.addr(), Some(honest));
    let client = tls::client_config(&dir.join(pki::files::CA), None).unwrap();
    let name = tls::server_name("localhost").unwrap();
    rt().block_on(async {
        let err = Client::tls(mitm.addr(), client.clone(), name.clone()).await.err();
        assert!(err.is_some_and(|e| e.to_string().contains("invalid peer certificate")));
        let mut c = Client::tls(relay.addr(), client, name).await.unwrap();
        assert_approved(&c.call(&purchase()).await.unwrap());
    });
    for p in [mitm, relay] {
        p.stopper().stop();
        p.wait();
    }
    let r = stop(server);
    assert_eq!(r.responses.get("00"), Some(&1));
}

/// A Python with pyiso8583, pyemv and psec: the system's, or one with them
/// installed under target/pylib (pip, once). None where pip cannot reach them.
fn python_with_oracles() -> Option<Vec<(String, String)>> {
    let lib = root().join("target/pylib");
    let env = vec![
        ("PYTHONPATH".to_string(), lib.display().to_string()),
        ("PYTHONWARNINGS".to_string(), "ignore".to_string()),
    ];
    let works = |env: &[(String, String)]| {
        Command::new("python3")
            .args(["-c", "import iso8583, pyemv, psec"])
            .envs(env.iter().cloned())
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(&env) {
        return Some(env);
    }
    let _ = Command::new("python3")
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--target"])
        .arg(&lib)
        .args(["pyiso8583==4.0.1", "pyemv==1.5.0", "psec==1.3.0"])
        .output();
    works(&env).then_some(env)
}

#[test]
fn an_independent_python_terminal_gets_a_verifiable_approval_and_its_reversal_is_honoured() {
    let Some(env) = python_with_oracles() else {
        eprintln!(
            "skipped: python3 with pyiso8583, pyemv and psec is not available (pip could not install them)"
        );
        return;
    };
    let server = start(ServeOptions::tcp(loopback()));
    let out = Command::new("python3")
        .arg(root().join("tests/interop/pyclient.py"))
        .args(["127.0.0.1", &server.addr().port().to_string()])
        .arg(root().join("tests/vectors"))
        .envs(env)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let r = stop(server);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for check in [
        "response code 00",
        "response MAC verifies",
        "ARPC verifies",
        "reversal honoured",
        "0410 MAC verifies",
    ] {
        assert!(text.lines().any(|l| l.starts_with("ok") && l.contains(check)), "{check}: {text}");
    }
    // The host approved the purchase, then took it back.
    assert_eq!(r.responses.get("00"), Some(&2), "{}", possim::report::summary(&r));
    assert_eq!(r.ledger, (possim::money::Money(0), possim::money::Money(0)));
}

/// One HTTP/1.1 request to the control API; (status, JSON body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let json = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(json).unwrap_or(serde_json::Value::Null))
}

/// Purchase vector `n` with one bit of its MAC flipped.
fn bad_mac_purchase(n: usize) -> Vec<u8> {
    let mut p = unhex(s(&vector("iso8583_ascii.json")["messages"][2 * n], "encoded"));
    let last = p.len() - 1;
    p[last] = if p[last] == b'0' { b'1' } else { b'0' };
    p
}

#[test]
fn the_control_api_switches_a_host_defence_mid_run() {
    use possim::net::control::ControlServer;
    let server = start(ServeOptions::tcp(loopback()));
    let control = ControlServer::start(loopback(), server.control()).unwrap();
    let (code, status) = http(control.addr(), "GET", "/status", "");
    assert_eq!(code, 200);
    assert_eq!(status["defences"]["mac"], true, "{status}");
    let rc = |n: usize| {
        let answer = rt().block_on(async {
            let mut c = Client::tcp(server.addr()).await.unwrap();
            c.call(&bad_mac_purchase(n)).await.unwrap()
        });
        Spec::iso87_ascii().decode(&answer).unwrap().get_str(39).map(String::from)
    };
    assert_eq!(rc(0).as_deref(), Some("63"), "a bad MAC is refused");
    let (code, _) = http(control.addr(), "PUT", "/defences/mac", r#"{"on": false}"#);
    assert_eq!(code, 200);
    assert_eq!(
        rc(1).as_deref(),
        Some("00"),
        "with the MAC check off, the same damage goes through"
    );
    assert_eq!(http(control.addr(), "GET", "/status", "").1["defences"]["mac"], false);
    let (code, body) = http(control.addr(), "PUT", "/defences/no_such", r#"{"on": false}"#);
    assert_eq!(code, 404);
    assert!(body["error"].as_str().unwrap().contains("mac"), "{body}");
    assert_eq!(http(control.addr(), "PUT", "/defences/mac", r#"{"on": "maybe"}"#).0, 422);
    // A web page's request: no JSON body, or a Host that is not loopback.
    assert_eq!(http(control.addr(), "POST", "/reset", "").0, 400);
    let mut s = TcpStream::connect(control.addr()).unwrap();
    write!(s, "GET /status HTTP/1.1\r\nHost: evil.example:9100\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert_eq!(http(control.addr(), "POST", "/reset", "{}").0, 200);
    assert_eq!(http(control.addr(), "GET", "/status", "").1["defences"]["mac"], true);
    assert_eq!(rc(2).as_deref(), Some("63"), "after the reset the MAC check is back");
    drop(control);
    stop(server);
}

/// Keeps when each command was applied, by the world's clock.
struct CommandTimes(std::sync::Arc<std::sync::Mutex<Vec<u64>>>);

impl possim::sim::Subscriber for CommandTimes {
    fn on_record(&mut self, _: u64, at: possim::time::SimTime, r: &possim::sim::Record) {
        if matches!(r, possim::sim::Record::CommandApplied { .. }) {
            self.0.lock().unwrap().push(at.0);
        }
    }
}

#[test]
fn a_command_to_an_idle_host_is_journalled_when_it_was_applied() {
    use possim::net::control::ControlServer;
    let times = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = HostServer::start_with(
        plan(),
        ServeOptions::tcp(loopback()),
        None,
        vec![Box::new(CommandTimes(times.clone()))],
        "examples/host.ron",
    )
    .unwrap();
    let control = ControlServer::start(loopback(), server.control()).unwrap();
    assert_eq!(http(control.addr(), "PUT", "/defences/mac", r#"{"on": false}"#).0, 200);
    // No frame arrives meanwhile: the host's clock moves with wall time only.
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(http(control.addr(), "PUT", "/defences/mac", r#"{"on": true}"#).0, 200);
    drop(control);
    stop(server);
    let t = times.lock().unwrap().clone();
    assert_eq!(t.len(), 2, "{t:?}");
    // At least the wait apart (less a slice for when each was picked up),
    // not both at the time of the last event.
    assert!(t[1] >= t[0] + 300_000, "{t:?}");
}

#[test]
fn the_control_api_disarms_and_rearms_a_proxy_fault() {
    use possim::net::control::ControlServer;
    let server = start(ServeOptions::tcp(loopback()));
    let plan = faulty_plan("Loss(p: 1.0, direction: Up)");
    let proxy = proxy_to(&plan, server.addr(), None);
    let control = ControlServer::start(loopback(), proxy.control()).unwrap();
    let attempt = |n: usize| {
        rt().block_on(async {
            let mut c = Client::tcp(proxy.addr()).await.unwrap();
            let msg = unhex(s(&vector("iso8583_ascii.json")["messages"][2 * n], "encoded"));
            c.send(&msg).await.unwrap();
            tokio::time::timeout(std::time::Duration::from_millis(700), c.recv())
                .await
                .ok()
                .and_then(Result::ok)
        })
    };
    assert!(attempt(0).is_none(), "lost on the way");
    let (code, body) = http(control.addr(), "PUT", "/faults/loss", r#"{"armed": false}"#);
    assert_eq!(code, 200, "{body}");
    assert_approved(&attempt(1).expect("delivered with the loss disarmed"));
    let status = http(control.addr(), "GET", "/status", "").1;
    assert_eq!(status["faults"]["loss"], false, "{status}");
    assert_eq!(status["proxy"]["lost"], 1);
    assert_eq!(http(control.addr(), "PUT", "/faults/jitter", r#"{"armed": true}"#).0, 404);
    assert_eq!(http(control.addr(), "POST", "/reset", "{}").0, 200);
    assert!(attempt(2).is_none(), "re-armed by the reset");
    drop(control);
    proxy.stopper().stop();
    proxy.wait();
    stop(server);
}

#[test]
fn the_control_api_listens_on_loopback_only() {
    use possim::net::control::ControlServer;
    let server = start(ServeOptions::tcp(loopback()));
    let err = ControlServer::start("0.0.0.0:0".parse().unwrap(), server.control()).err().unwrap();
    assert!(err.to_string().contains("loopback only"), "{err}");
    stop(server);
}

fn possim_cmd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_possim")).args(args).current_dir(root()).output().unwrap()
}

#[test]
fn a_scripted_case_file_runs_against_a_host_and_reports_each_step() {
    let scratch = Scratch::new();
    let server = start(ServeOptions::tcp(loopback()));
    let addr = server.addr().to_string();
    let junit = scratch.path("script.xml");
    let out = possim_cmd(&[
        "script",
        "examples/purchase-and-reversal.ron",
        "--connect",
        &addr,
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().filter(|l| l.starts_with("PASS ")).count(), 5, "{text}");
    assert!(text.contains("(5/5 steps)"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"5\"") && xml.contains("failures=\"0\""), "{xml}");
    // What the host saw: approved once, the copy and the second reversal
    // changed nothing, the bad MAC refused.
    let r = stop(server);
    assert_eq!(r.ledger.0, possim::money::Money(0), "{}", possim::report::summary(&r));
    assert_eq!(r.responses.get("63"), Some(&1));
}

#[test]
fn a_failing_step_fails_the_script_with_what_differed() {
    let scratch = Scratch::new();
    let server = start(ServeOptions::tcp(loopback()));
    let text = std::fs::read_to_string(root().join("examples/purchase-and-reversal.ron"))
        .unwrap()
        .replacen(r#""39": Equals("00"), "4": Echo"#, r#""39": Equals("05"), "4": Echo"#, 1);
    let file = scratch.path("failing.ron");
    std::fs::write(&file, text).unwrap();
    let out =
        possim_cmd(&["script", file.to_str().unwrap(), "--connect", &server.addr().to_string()]);
    stop(server);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL a chip and PIN purchase is approved"), "{text}");
    assert!(text.contains("field 39: expected 05, got 00"), "{text}");
    assert!(text.contains("(4/5 steps)"), "{text}");
}

#[test]
fn a_bad_script_is_refused_with_its_position() {
    let scratch = Scratch::new();
    let cases = [
        (
            "Script(name: \"x\", steps: [(name: \"a\", send: {\"t\": \"0800\"}, expect: {\"39\": Equal(\"00\")})])",
            "Equals",
        ),
        (
            "Script(name: \"x\", steps: [(name: \"a\", send: {\"t\": \"0800\", \"200\": \"1\"})])",
            "not a field",
        ),
        ("Script(name: \"x\", steps: [(name: \"a\", send: {\"3\": \"000000\"})])", "sends no MTI"),
        (
            "Script(name: \"x\", steps: [(name: \"a\", send: {\"t\": \"0200\"}, mac: true)])",
            "needs the TAK",
        ),
        (
            "Script(name: \"x\", steps: [(name: \"a\", send: {\"t\": \"0400\", \"37\": \"${rrn}\"})])",
            "not captured",
        ),
        ("Script(name: \"x\", dialect: \"nope\", steps: [])", "nope"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let file = scratch.path(&format!("bad-script-{i}.ron"));
        std::fs::write(&file, text).unwrap();
        let out = possim_cmd(&["script", file.to_str().unwrap(), "--connect", "127.0.0.1:9"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(want), "{text}: {err}");
        assert!(err.contains(&format!("bad-script-{i}.ron:1:")), "{err}");
    }
}

#[test]
fn a_value_never_captured_is_named_not_sent() {
    // Nothing listens on port 1: the purchase gets no answer, so its RRN is
    // never captured, and the reversal that uses it says so.
    let out =
        possim_cmd(&["script", "examples/purchase-and-reversal.ron", "--connect", "127.0.0.1:1"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("`${rrn}` was never captured"), "{text}");
    assert!(!text.contains("value is 6 long"), "{text}");
}

#[test]
fn a_real_terminal_declared_in_a_scenario_crosses_its_link_and_is_reported() {
    use possim::net::external::ExternalRun;
    let text = std::fs::read_to_string(root().join("examples/host.ron"))
        .unwrap()
        .replace("(id: \"TERM0001\", keys:", "(id: \"TERM0001\", stack: External(listen: \"127.0.0.1:0\"), keys:")
        .replace("    expect:", "    duration: \"2s\",\n    links: [(id: \"uplink\", latency: \"5ms\", faults: [Duplicate(p: 1.0, direction: Up)])],\n    expect:");
    let sc = possim::scenario::parse(&text, "external.ron").unwrap();
    let plan = Plan::new(&sc, None).unwrap();
    assert!(plan.has_external_terminals());
    let run = ExternalRun::start(plan, None, true, "external.ron").unwrap();
    let (tid, addr) = run.addrs()[0].clone();
    assert_eq!(tid, "TERM0001");
    let (first, second) = rt().block_on(async {
        let mut c = Client::tcp(addr).await.unwrap();
        let first = c.call(&purchase()).await.unwrap();
        let second = tokio::time::timeout(std::time::Duration::from_secs(1), c.recv()).await;
        (first, second.ok().and_then(Result::ok))
    });
    assert_approved(&first);
    assert!(second.is_some(), "the duplicated request's answer comes back too");
    let (r, stats) = run.wait().unwrap();
    assert_eq!(stats.frames_in, 1);
    // The link's fault acted on the real terminal's frame, and the report
    // covers its purchase: posted once, the host's side of settlement.
    assert_eq!(r.faults.get("duplicate"), Some(&1), "{}", possim::report::summary(&r));
    assert_eq!(r.ledger.0, possim::money::Money(41915));
    let row = r.settlement.iter().find(|s| s.terminal == "TERM0001").unwrap();
    assert_eq!(row.only, Some(possim::report::Side::Host));
    assert_eq!(row.host_totals.purchases, 1);
    assert!(r.passed, "{}", possim::report::summary(&r));
}

#[test]
fn an_external_terminal_must_be_one_with_a_valid_address() {
    for (stack, count, want) in [
        ("External(listen: \"localhost\")", 1, "not an address"),
        ("External(listen: \"127.0.0.1:8600\")", 2, "`count` must be 1"),
    ] {
        let text = format!(
            "Scenario(name: \"x\", shop: (terminals: [(id: \"T\", count: {count}, stack: {stack})]))"
        );
        let err = possim::scenario::parse(&text, "ext.ron").unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
        assert_eq!(err.line, 1);
    }
}

/// A scenario with TERM0001 as a real terminal behind a link with these faults.
fn external_plan(faults: &str, duration: &str) -> Plan {
    let text = std::fs::read_to_string(root().join("examples/host.ron"))
        .unwrap()
        .replace("(id: \"TERM0001\", keys:", "(id: \"TERM0001\", stack: External(listen: \"127.0.0.1:0\"), keys:")
        .replace(
            "    expect:",
            &format!("    duration: \"{duration}\",\n    links: [(id: \"uplink\", latency: \"5ms\", faults: [{faults}])],\n    expect:"),
        );
    Plan::new(&possim::scenario::parse(&text, "external.ron").unwrap(), None).unwrap()
}

#[test]
fn a_real_terminal_that_half_closes_still_gets_every_answer_over_a_duplicating_link() {
    use possim::net::external::ExternalRun;
    let run = ExternalRun::start(
        external_plan("Duplicate(p: 1.0, direction: Up)", "2s"),
        None,
        false,
        "x",
    )
    .unwrap();
    let addr = run.addrs()[0].1;
    let answers = std::thread::spawn(move || {
        let mut sock = TcpStream::connect(addr).unwrap();
        for n in [0usize, 1] {
            let msg = unhex(s(&vector("iso8583_ascii.json")["messages"][2 * n], "encoded"));
            sock.write_all(&(msg.len() as u16).to_be_bytes()).unwrap();
            sock.write_all(&msg).unwrap();
        }
        sock.shutdown(std::net::Shutdown::Write).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut all = Vec::new();
        let _ = sock.read_to_end(&mut all);
        all
    });
    let bytes = answers.join().unwrap();
    // Four answers: each purchase approved once, each copy answered 94.
    let mut dec = possim::protocol::iso8583::FrameDecoder::new();
    dec.push(&bytes);
    let mut codes = Vec::new();
    while let Ok(Some(m)) = dec.next_frame() {
        codes.push(Spec::iso87_ascii().decode(&m).unwrap().get_str(39).unwrap().to_string());
    }
    codes.sort();
    assert_eq!(codes, ["00", "00", "94", "94"]);
    let (r, _) = run.wait().unwrap();
    assert_eq!(r.responses.get("00"), Some(&2));
}

#[test]
fn a_real_terminals_address_takes_one_connection_at_a_time() {
    use possim::net::external::ExternalRun;
    let run = ExternalRun::start(external_plan("", "2s"), None, false, "x").unwrap();
    let addr = run.addrs()[0].1;
    let first = TcpStream::connect(addr).unwrap();
    let mut second = TcpStream::connect(addr).unwrap();
    second.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut sink = [0u8; 1];
    assert_eq!(second.read(&mut sink).unwrap_or(0), 0, "the second is closed at once");
    // The first still works.
    // Once the first has gone, the next is served.
    drop(first);
    let answer = rt().block_on(async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let mut c = Client::tcp(addr).await.unwrap();
        c.call(&purchase()).await.unwrap()
    });
    assert_approved(&answer);
    let (_, stats) = run.wait().unwrap();
    assert!(stats.refused_busy >= 1, "{stats:?}");
}

#[test]
fn a_pipelining_client_that_reads_late_gets_every_answer() {
    // 3,000 requests written before a single answer is read: the host slows
    // the writer down instead of dropping answers.
    let server = start(ServeOptions::tcp(loopback()));
    let addr = server.addr();
    let mut s = TcpStream::connect(addr).unwrap();
    let reader = s.try_clone().unwrap();
    let count = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let mut r = reader;
        r.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        let mut dec = possim::protocol::iso8583::FrameDecoder::new();
        let (mut n, mut buf) = (0, vec![0u8; 65536]);
        while n < 3000 {
            let Ok(k) = r.read(&mut buf) else { break };
            if k == 0 {
                break;
            }
            dec.push(&buf[..k]);
            while let Ok(Some(_)) = dec.next_frame() {
                n += 1;
            }
        }
        n
    });
    let msg = purchase();
    for _ in 0..3000 {
        s.write_all(&(msg.len() as u16).to_be_bytes()).unwrap();
        s.write_all(&msg).unwrap();
    }
    assert_eq!(count.join().unwrap(), 3000);
    let stats = server.stats();
    assert_eq!(stats.not_reading, 0, "{stats:?}");
    stop(server);
}
