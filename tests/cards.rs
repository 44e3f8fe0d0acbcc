//! possim's cards in a real PC/SC stack: `possim cards` connects to
//! vsmartcard's vpcd inside pcscd, and opensc-tool talks to the card as any
//! PC/SC software would. Skipped, with a message, where pcscd, the vpcd
//! driver or opensc-tool is not installed or pcscd cannot run.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use possim::card::vpcd::{Decoder, Message, frame};
use possim::net::cards::{CardsOptions, Slot};
use possim::sim::{Plan, Record};

const READER: &str = "Virtual PCD 00 00";
const PAN: &str = "4073662585178123";

fn plan() -> Plan {
    let p = crate::util::root().join("examples/host.ron");
    let s = possim::scenario::load(&p).unwrap();
    Plan::new(&s, None).unwrap()
}

fn opts(card: Option<&str>) -> CardsOptions {
    CardsOptions {
        vpcd: "127.0.0.1:35963".parse().unwrap(),
        card: card.map(String::from),
        contactless: false,
        attacks: true,
    }
}

fn apdu(slot: &mut Slot, hex: &str) -> Vec<u8> {
    slot.handle(Message::Apdu(hex::decode(hex).unwrap())).0.unwrap()
}

fn sw(r: &[u8]) -> String {
    hex::encode_upper(&r[r.len() - 2..])
}

/// The CDOL1 data of a purchase of 10.00 (CNY, China, 2026-11-30, UN
/// 11223344), and Le.
const CDOL1: &str = "000000001000000000000000015600000000000156261130001122334400";

#[test]
fn a_vpcd_slot_answers_as_a_contact_emv_card_and_its_state_persists() {
    let mut slot = Slot::new(&plan(), &opts(Some(PAN))).unwrap();
    // vpcd powers the card and asks for its ATR.
    assert_eq!(slot.handle(Message::PowerOn).0, None);
    let atr = slot.handle(Message::GetAtr).0.unwrap();
    assert_eq!(atr[0], 0x3B, "an ATR");
    let pse = apdu(&mut slot, "00A404000E315041592E5359532E444446303100");
    assert_eq!(sw(&pse), "9000");
    assert_eq!(
        sw(&apdu(&mut slot, "00B2010C00")),
        "9000",
        "the PSE's record names the application"
    );
    assert_eq!(sw(&apdu(&mut slot, "00A4040007A000000003101000")), "9000");
    let gpo = apdu(&mut slot, "80A8000002830000");
    assert_eq!(&gpo[..2], &[0x77, 0x0A], "format 2: AIP and AFL");
    assert_eq!(sw(&apdu(&mut slot, "00B2010C00")), "9000", "the AFL's first record");
    // A wrong plaintext PIN: 63C2, tries left 2; GET DATA says so.
    assert_eq!(sw(&apdu(&mut slot, "0020008008241234FFFFFFFFFF")), "63C2");
    assert_eq!(apdu(&mut slot, "80CA9F1700"), hex::decode("9F170102".to_owned() + "9000").unwrap());
    // Malformed commands get status words, never a panic.
    assert_eq!(sw(&apdu(&mut slot, "00FF0000")), "6D00");
    assert_eq!(sw(&apdu(&mut slot, "FFA40400")), "6E00");
    assert_eq!(sw(&apdu(&mut slot, "00A4FF0000")), "6A86");
    assert_eq!(sw(&apdu(&mut slot, "00A40400FF01")), "6700");
    // Power off ends the session; its APDUs are recorded, the PIN starred, the PAN masked.
    let (_, records) = slot.handle(Message::PowerOff);
    let text = format!("{records:?}");
    assert!(matches!(records.as_slice(), [Record::CardSession { .. }]), "{text}");
    assert!(!text.contains(PAN) && text.contains("407366******8123"), "{text}");
    assert!(text.contains("0020008008****"), "the VERIFY's PIN block is starred: {text}");
    // The same card in the next session: the tries left persist.
    slot.handle(Message::PowerOn);
    apdu(&mut slot, "00A4040007A000000003101000");
    assert_eq!(apdu(&mut slot, "80CA9F1700"), hex::decode("9F1701029000").unwrap());
    slot.handle(Message::PowerOff);
    assert_eq!(slot.sessions, 2);
}

#[test]
fn a_vpcd_slot_takes_the_next_card_after_a_session_that_used_one() {
    let mut slot = Slot::new(&plan(), &opts(None)).unwrap();
    let first = slot.inserted().to_string();
    // pcscd powers a card on and off by itself: no APDU, no next card.
    slot.handle(Message::PowerOn);
    slot.handle(Message::PowerOff);
    assert_eq!(slot.inserted(), first);
    assert_eq!(slot.sessions, 0);
    slot.handle(Message::PowerOn);
    apdu(&mut slot, "00A4040007A000000003101000");
    let (_, records) = slot.handle(Message::PowerOff);
    assert!(format!("{records:?}").contains(&format!("card: Some(\"{first}\")")), "{records:?}");
    assert_ne!(slot.inserted(), first, "the next card");
    // A contactless slot holds only cards with an antenna; none answers with nothing.
    let mut o = opts(Some(PAN));
    o.contactless = true;
    let mut tap = Slot::new(&plan(), &o).unwrap();
    tap.handle(Message::PowerOn);
    let r = apdu(&mut tap, "00A404000E325041592E5359532E444446303100");
    assert_eq!(sw(&r), "9000", "PPSE");
}

#[test]
fn a_pin_wedge_in_the_slot_answers_verify_and_the_record_says_so() {
    let text = std::fs::read_to_string(crate::util::root().join("scenarios/pin-bypass-wedge.ron"))
        .unwrap();
    let s = possim::scenario::parse(&text, "wedge.ron").unwrap_or_else(|d| panic!("{d}"));
    let plan = Plan::new(&s, None).unwrap();
    let mut slot = Slot::new(&plan, &opts(None)).unwrap();
    assert!(slot.devices().contains(&"pin_wedge"), "{:?}", slot.devices());
    slot.handle(Message::PowerOn);
    apdu(&mut slot, "00A4040007A000000003101000");
    let (r, records) =
        slot.handle(Message::Apdu(hex::decode("0020008008240000FFFFFFFFFF").unwrap()));
    assert_eq!(sw(&r.unwrap()), "9000", "the wedge says yes to any PIN");
    let t = format!("{records:?}");
    assert!(
        t.contains("DeviceAnswered") && t.contains("pin_wedge") && t.contains("00200080"),
        "{t}"
    );
}

#[test]
fn a_vpcd_slot_with_a_shimmer_journals_what_it_takes() {
    let text = std::fs::read_to_string(crate::util::root().join("examples/host.ron")).unwrap();
    let shimmed =
        text.replacen("expect:", "attacks: [Shimmer(terminal: \"TERM0001\")],\n    expect:", 1);
    assert_ne!(shimmed, text);
    let s = possim::scenario::parse(&shimmed, "shim.ron").unwrap_or_else(|d| panic!("{d}"));
    let plan = Plan::new(&s, None).unwrap();
    let mut slot = Slot::new(&plan, &opts(Some(PAN))).unwrap();
    assert_eq!(slot.devices(), ["shimmer"]);
    slot.handle(Message::PowerOn);
    apdu(&mut slot, "00A4040007A000000003101000");
    apdu(&mut slot, "80A8000002830000");
    let (r, records) = slot.handle(Message::Apdu(hex::decode("00B2010C00").unwrap()));
    assert_eq!(sw(&r.unwrap()), "9000");
    let stolen: Vec<&Record> =
        records.iter().filter(|r| matches!(r, Record::Stolen { .. })).collect();
    assert_eq!(stolen.len(), 1, "{records:?}");
    let t = format!("{stolen:?}");
    assert!(t.contains("tag57") && t.contains("407366******8123") && !t.contains(PAN), "{t}");
}

#[test]
fn the_vpcd_codec_frames_messages_and_never_panics_on_garbage() {
    let mut d = Decoder::default();
    // Controls, an APDU, and half a message.
    let mut bytes = [
        frame(&[1]),
        frame(&[4]),
        frame(&[0x00, 0xA4, 0x04, 0x00]),
        frame(&[2]),
        frame(&[]),
        frame(&[3]),
        frame(&[0]),
    ]
    .concat();
    bytes.extend_from_slice(&[0x00, 0x05, 0x01]);
    d.push(&bytes);
    let got: Vec<Message> = std::iter::from_fn(|| d.next_message()).collect();
    assert_eq!(
        got,
        [
            Message::PowerOn,
            Message::GetAtr,
            Message::Apdu(vec![0x00, 0xA4, 0x04, 0x00]),
            Message::Reset,
            Message::Empty,
            Message::Unknown(3),
            Message::PowerOff
        ]
    );
    assert_eq!(d.pending(), 3, "the cut message waits");
    // Garbage from a peer: only messages or nothing.
    let mut slot = Slot::new(&plan(), &opts(None)).unwrap();
    let mut d = Decoder::default();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        d.push(&x.to_le_bytes()[..(x % 4) as usize + 1]);
        while let Some(m) = d.next_message() {
            let _ = slot.handle(m);
        }
    }
}

/// The tests that use vpcd's first reader take turns (one card at a time).
static VPCD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn installed(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn vpcd_listening() -> bool {
    let addr: SocketAddr = "127.0.0.1:35963".parse().unwrap();
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// pcscd with vpcd, already running or started here; None (skip) if it cannot run.
fn pcscd() -> Option<Option<Killed>> {
    let driver = std::path::Path::new("/usr/lib/pcsc/drivers/serial/libifdvpcd.so");
    if !installed("pcscd") || !installed("opensc-tool") || !driver.exists() {
        eprintln!(
            "skipped: pcscd, vsmartcard-vpcd or opensc is not installed (apt-get install pcscd vsmartcard-vpcd opensc)"
        );
        return None;
    }
    if vpcd_listening() {
        return Some(None);
    }
    let child = Command::new("pcscd")
        .args(["--foreground"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let child = Killed(child);
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if vpcd_listening() {
            return Some(Some(child));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("skipped: pcscd did not start (vpcd not listening on 127.0.0.1:35963)");
    None
}

/// Waits until pcscd sees a card in the reader.
fn wait_for_card() {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let atr = Command::new("opensc-tool").args(["-r", READER, "-a"]).output().unwrap();
        if atr.status.success() {
            return;
        }
        assert!(Instant::now() < until, "pcscd never saw the card");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The response APDUs opensc-tool printed, in order.
fn responses(out: &str) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    for line in out.lines() {
        if line.starts_with("Received (") {
            if let Some(c) = cur.take() {
                all.push(c);
            }
            let byte = |key: &str| {
                let at = line.find(key).unwrap_or_else(|| panic!("{line}")) + key.len();
                u8::from_str_radix(&line[at..at + 2], 16).unwrap()
            };
            cur = Some(vec![byte("SW1=0x"), byte("SW2=0x")]);
        } else if line.starts_with("Sending") {
            if let Some(c) = cur.take() {
                all.push(c);
            }
        } else if let Some(c) = cur.as_mut() {
            // Data lines: up to 16 hex bytes, then as many characters of ASCII.
            let data = hex_line(line).unwrap_or_else(|| panic!("not a dump line: {line:?}"));
            let sw = c.split_off(c.len() - 2);
            c.extend(data);
            c.extend(sw);
        }
    }
    all.extend(cur);
    all
}

/// The bytes of one opensc-tool dump line: the k leading hex pairs whose
/// ASCII rendering (k characters) is the rest of the line.
fn hex_line(line: &str) -> Option<Vec<u8>> {
    let pairs: Vec<&str> = line.split(' ').take(16).collect();
    (1..=pairs.len()).rev().find_map(|k| {
        let bytes: Option<Vec<u8>> = pairs[..k]
            .iter()
            .map(|h| u8::from_str_radix(h, 16).ok().filter(|_| h.len() == 2))
            .collect();
        let rest = line.get(k * 3..).unwrap_or("").trim_start();
        bytes.filter(|_| rest.chars().count() == k)
    })
}

fn tag(data: &[u8], t: u32) -> Vec<u8> {
    let mut found = None;
    fn walk(data: &[u8], t: u32, found: &mut Option<Vec<u8>>) {
        for item in possim::protocol::tlv::iter(data) {
            let Ok((tag, v)) = item else { return };
            if tag == t {
                *found = Some(v.to_vec());
            } else if possim::protocol::tlv::is_constructed(tag) {
                walk(v, t, found);
            }
        }
    }
    walk(data, t, &mut found);
    found.unwrap_or_else(|| panic!("no tag {t:X} in {}", hex::encode_upper(data)))
}

#[test]
fn opensc_tool_reads_a_possim_card_through_pcscd_and_the_host_verifies_its_cryptogram() {
    let _turn = VPCD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(_pcscd) = pcscd() else { return };
    let journal = crate::util::root().join("target/cards-test.jsonl");
    let mut cards = Killed(
        Command::new(env!("CARGO_BIN_EXE_possim"))
            .args([
                "cards",
                "--scenario",
                "examples/host.ron",
                "--card",
                PAN,
                "--stop-after",
                "60s",
            ])
            .args(["--journal", journal.to_str().unwrap()])
            .current_dir(crate::util::root())
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Wait until it has connected, and pcscd sees the card.
    let mut err = BufReader::new(cards.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("connected to vpcd") && line.contains("407366******8123"), "{line}");
    wait_for_card();
    let script = [
        "00A404000E315041592E5359532E444446303100", // SELECT PSE
        "00B2010C00",                               // its record: the application
        "00A4040007A000000003101000",               // SELECT the Visa AID
        "80A8000002830000",                         // GET PROCESSING OPTIONS
        "00B2010C00",                               // READ RECORD SFI 1 (track 2 equivalent)
        "00B2020C00",                               // READ RECORD SFI 1 record 2 (CDOL1)
        "0020008008241234FFFFFFFFFF",               // VERIFY, wrong PIN
        "0020008008247070FFFFFFFFFF",               // VERIFY, the right one
        "80CA9F3600",                               // GET DATA ATC
    ];
    let gen_ac = format!("80AE80001D{CDOL1}");
    let mut args = vec!["-r".to_string(), READER.to_string()];
    for s in script.iter().map(|s| s.to_string()).chain([gen_ac]) {
        args.push("-s".into());
        args.push(s);
    }
    let out = Command::new("opensc-tool").args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let r = responses(&text);
    assert_eq!(r.len(), 10, "{text}");
    let sws: Vec<String> = r.iter().map(|x| sw(x)).collect();
    assert_eq!(
        sws,
        ["9000", "9000", "9000", "9000", "9000", "9000", "63C2", "9000", "9000", "9000"],
        "{text}"
    );
    // The host's own functions: the card's key from the IMK-AC, the ARQC over CDOL1.
    let plan = plan();
    let gpo = &r[3];
    let ac = &r[9];
    let cdol1 = hex::decode(CDOL1).unwrap();
    let mut tags: Vec<(u32, Vec<u8>)> = vec![
        (0x9F02, cdol1[0..6].to_vec()),
        (0x9F03, cdol1[6..12].to_vec()),
        (0x9F1A, cdol1[12..14].to_vec()),
        (0x95, cdol1[14..19].to_vec()),
        (0x5F2A, cdol1[19..21].to_vec()),
        (0x9A, cdol1[21..24].to_vec()),
        (0x9C, cdol1[24..25].to_vec()),
        (0x9F37, cdol1[25..29].to_vec()),
        (0x82, tag(gpo, 0x82)),
    ];
    for t in [0x9F36, 0x9F10] {
        tags.push((t, tag(ac, t)));
    }
    let input = possim::protocol::crypto::ArqcInput::from_tags(|t| {
        tags.iter().find(|x| x.0 == t).map(|x| x.1.as_slice())
    })
    .unwrap();
    let mk = possim::protocol::crypto::derive_icc_master_key(&plan.host.imk_ac, PAN, "00").unwrap();
    let expected = possim::protocol::crypto::arqc_cvn10(&mk, &input);
    assert_eq!(tag(ac, 0x9F26), expected.to_vec(), "the issuer's key verifies the card's ARQC");
    assert_eq!(tag(ac, 0x9F27), [0x80], "an ARQC");
    // Stopped: the journal holds the session, masked, and replays.
    let _ = Command::new("kill").args(["-TERM", &cards.0.id().to_string()]).status();
    let status = cards.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(j.contains("\"kind\":\"card_session\"") && j.contains("407366******8123"), "{j}");
    assert!(!j.contains("4073662585178123"), "no full PAN in the journal");
    assert!(!j.contains("247070"), "no clear PIN in the journal");
    let replay = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["replay", journal.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(
        matches!(replay.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
}

/// With the `pcsc` feature: possim's terminal reads possim's own card
/// through pcscd and vpcd, buys, and three wrong offline PINs block it.
#[cfg(feature = "pcsc")]
#[test]
fn possims_terminal_buys_with_a_possim_card_through_pcscd_and_wrong_pins_block_it() {
    let _turn = VPCD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(_pcscd) = pcscd() else { return };
    let dir = crate::util::root().join("target/pcsc-test");
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("offline-pin.ron");
    std::fs::write(
        &scenario,
        format!(
            "Scenario(name: \"offline PIN at a real reader\", seed: 5,
              cardholders: (count: 0, cards: [(pan: \"{PAN}\", pin: \"7070\", expiry: \"3306\", balance: \"1000.00\", offline_pin: true)]))"
        ),
    )
    .unwrap();
    let journal = dir.join("cards.jsonl");
    let mut cards = Killed(
        Command::new(env!("CARGO_BIN_EXE_possim"))
            .args(["cards", "--scenario", scenario.to_str().unwrap(), "--stop-after", "60s"])
            .args(["--journal", journal.to_str().unwrap()])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(cards.0.stderr.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("connected to vpcd"), "{line}");
    wait_for_card();
    let buy = |pin: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_possim"))
            .args(["terminal", "--pcsc", READER, "--scenario", scenario.to_str().unwrap()])
            .args(["--pin", pin, "--amount", "12.34", "-q"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), text, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, text, err) = buy("7070");
    assert_eq!(code, Some(0), "{text}{err}");
    assert!(text.starts_with("12.34: Approved 00") && text.contains("CVM OfflinePin"), "{text}");
    // A PIN from --pin is typed once: each wrong one costs one try, and
    // the third blocks the card.
    for left in [2, 1] {
        let (code, text, err) = buy("0000");
        assert_eq!(code, Some(1), "{text}");
        assert!(text.contains("DeclinedOffline"), "{text}");
        assert!(text.contains(&format!("OfflinePinWrong {{ tries_left: {left} }}")), "{text}");
        assert!(err.contains("cancelled rather than typed again"), "{err}");
    }
    let (code, text, _) = buy("0000");
    assert_eq!(code, Some(1), "{text}");
    // Blocked: the right PIN no longer opens it.
    let (code, text, _) = buy("7070");
    assert_eq!(code, Some(1), "{text}");
    let _ = Command::new("kill").args(["-TERM", &cards.0.id().to_string()]).status();
    assert!(cards.0.wait().unwrap().success());
    let j = std::fs::read_to_string(&journal).unwrap();
    let verifies: Vec<&str> = j
        .split("\"c\":\"0020008008")
        .skip(1)
        .map(|s| s.split("\"r\":\"").nth(1).unwrap().split('"').next().unwrap())
        .collect();
    assert_eq!(verifies, ["9000", "63C2", "63C1", "63C0", "6983"], "{j}");
}

/// A counter's uplink that loses the answer to one call (the host saw the
/// request, the terminal never hears back).
struct LosesAnswer {
    host: possim::net::counter::LocalHost,
    calls: usize,
    lose: usize,
}

impl possim::net::counter::Uplink for LosesAnswer {
    fn call(&mut self, frame: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.calls += 1;
        let answer = self.host.call(frame)?;
        if self.calls == self.lose {
            return Err("the connection broke".into());
        }
        Ok(answer)
    }
}

/// A card in a reader, straight.
struct InReader(possim::card::Card);

impl possim::terminal::CardChannel for InReader {
    fn power_on(&mut self, i: possim::card::Interface) -> Vec<u8> {
        self.0.power_on(i)
    }
    fn transmit(&mut self, c: &[u8]) -> Vec<u8> {
        self.0.transmit(c)
    }
    fn swipe(&mut self) -> Option<String> {
        Some(self.0.magstripe())
    }
}

#[test]
fn a_counter_whose_host_goes_silent_after_the_request_times_out_and_reverses() {
    use possim::net::counter::{Counter, LocalHost};
    use possim::terminal::{Note, Outcome};
    let plan = plan();
    let mut card = None;
    plan.issue_cards(|c| {
        if card.is_none() && c.data.pan == PAN {
            card = Some(possim::card::Card::new(c.profile, c.data, Some(c.mk), c.atc));
        }
    })
    .unwrap();
    let mut reader = InReader(card.unwrap());
    // Call 1 is the sign-on; the purchase's answer (call 2) is lost.
    let mut uplink = LosesAnswer { host: LocalHost::new(&plan).unwrap(), calls: 0, lose: 2 };
    let mut counter = Counter::new(&plan, false, 0, &mut uplink).unwrap();
    let amount = possim::money::Money::parse("12.34").unwrap();
    let sale =
        counter.purchase(&mut reader, amount, &mut uplink, &mut |_| Some("7070".into())).unwrap();
    assert_eq!(sale.completion.outcome, Outcome::Timeout, "{sale:?}");
    assert_eq!(sale.transport, ["the connection broke"]);
    assert!(
        sale.notes.iter().any(|n| matches!(n, Note::ReversalAcknowledged { .. })),
        "the approved request is reversed: {sale:?}"
    );
    assert_eq!(sale.pending_reversals, 0);
    // A second run continues the STANs where it is told to.
    let mut uplink = LosesAnswer { host: LocalHost::new(&plan).unwrap(), calls: 0, lose: 0 };
    let mut again = Counter::new(&plan, false, 500, &mut uplink).unwrap();
    let sale =
        again.purchase(&mut reader, amount, &mut uplink, &mut |_| Some("7070".into())).unwrap();
    assert_eq!(sale.completion.outcome, Outcome::Approved, "{sale:?}");
    assert!(sale.completion.stan.is_some_and(|s| s > 500), "{:?}", sale.completion.stan);
}

#[test]
fn a_card_can_answer_gpo_in_format_1_and_the_terminal_still_reads_it() {
    let text = format!(
        "Scenario(name: \"format 1\", seed: 5,
          cardholders: (count: 0, cards: [(pan: \"{PAN}\", pin: \"7070\", expiry: \"3306\", gpo_format1: true)]))"
    );
    let s = possim::scenario::parse(&text, "f1.ron").unwrap_or_else(|d| panic!("{d}"));
    let plan = Plan::new(&s, None).unwrap();
    let mut slot = Slot::new(&plan, &opts(Some(PAN))).unwrap();
    slot.handle(Message::PowerOn);
    apdu(&mut slot, "00A4040007A000000003101000");
    let gpo = apdu(&mut slot, "80A8000002830000");
    assert_eq!(gpo[0], 0x80, "format 1: {}", hex::encode_upper(&gpo));
    assert_eq!(sw(&gpo), "9000");
    // possim's terminal reads it and buys (its AFL and CDOLs are the card's own).
    let mut card = None;
    plan.issue_cards(|c| {
        card = Some(possim::card::Card::new(c.profile, c.data, Some(c.mk), c.atc))
    })
    .unwrap();
    let mut reader = InReader(card.unwrap());
    let mut uplink = LosesAnswer {
        host: possim::net::counter::LocalHost::new(&plan).unwrap(),
        calls: 0,
        lose: 0,
    };
    let mut counter = possim::net::counter::Counter::new(&plan, false, 0, &mut uplink).unwrap();
    let amount = possim::money::Money::parse("60.00").unwrap();
    let sale =
        counter.purchase(&mut reader, amount, &mut uplink, &mut |_| Some("7070".into())).unwrap();
    assert_eq!(sale.completion.outcome, possim::terminal::Outcome::Approved, "{sale:?}");
}

#[test]
fn a_plan_issues_as_many_cards_as_it_says_up_front_and_in_the_same_order_both_ways() {
    // The world reserves room for the whole population from the iterator's
    // size hint; a hint that were short would grow the tables after all.
    let text = format!(
        "Scenario(name: \"mixed\", seed: 9,
          cardholders: (count: 5, cards: [(pan: \"{PAN}\", pin: \"7070\", expiry: \"3306\")]))"
    );
    let s = possim::scenario::parse(&text, "mixed.ron").unwrap_or_else(|d| panic!("{d}"));
    let plan = Plan::new(&s, None).unwrap();
    assert_eq!(plan.card_count(), 6);
    let cards = plan.cards();
    assert_eq!(cards.size_hint(), (6, Some(6)));
    let by_iterator: Vec<String> = cards.map(|c| c.unwrap().data.pan).collect();
    let mut by_callback = Vec::new();
    plan.issue_cards(|c| by_callback.push(c.data.pan)).unwrap();
    assert_eq!(by_iterator, by_callback);
    assert_eq!(by_iterator[0], PAN, "explicit cards come first");
}
