//! The host on hostile frames: anything that does not decode, or carries a
//! bad MAC, never moves money; frames the fuzzer builds and MACs with the
//! right key reach every check behind the MAC without a panic.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use possim::host::{CardRecord, HostConfig, HostCore, Rules, TerminalRecord};
use possim::money::Money;
use possim::protocol::crypto::TdesKey;
use possim::protocol::iso8583::{Spec, encode_with_mac};
use possim::time::{Calendar, DateTime, SimTime};

struct Keys {
    tak: TdesKey,
    tpk: TdesKey,
    imk: TdesKey,
    cvk: TdesKey,
    pvk: TdesKey,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let k: serde_json::Value = serde_json::from_str(include_str!("../../tests/vectors/keys.json")).expect("json");
    let key = |n: &str| TdesKey::from_hex(k[n].as_str().expect("key")).expect("hex");
    Keys { tak: key("tak"), tpk: key("tpk"), imk: key("imk_ac"), cvk: key("cvk"), pvk: key("pvk") }
});

static SPEC: LazyLock<Arc<Spec>> = LazyLock::new(|| Arc::new(Spec::iso87_ascii()));

fn host(spec: Arc<Spec>) -> HostCore {
    let k = &*KEYS;
    let calendar = Calendar::new(DateTime::parse("2026-11-24T10:00:00").expect("date"));
    let mut h = HostCore::new(HostConfig {
        spec,
        imk_ac: k.imk.clone(),
        cvk: k.cvk.clone(),
        pvk: k.pvk.clone(),
        // Every defence on, the device inventory and the sale rule too.
        rules: Rules::only(&possim::host::Check::ALL),
        pin_try_limit: 3,
        calendar,
        issuer_down: vec![],
        reversal_keep: possim::time::Duration::from_secs(6 * 3600),
    });
    h.add_terminal(
        "TERM0001",
        TerminalRecord {
            tak: k.tak.clone(),
            tpk: k.tpk.clone(),
            mid: "SHOP00000000001".into(),
            serial: "1234567890".into(),
        },
    );
    let acct = h.open_account(Money(100_000));
    h.add_card("4073662585178123", CardRecord::new("00", "3306", "201", "1", "0868", acct));
    h
}

fuzz_target!(|data: &[u8]| {
    let spec = SPEC.clone();
    let mut h = host(spec.clone());
    let out = h.handle(SimTime(0), data);
    if h.ledger().postings() > 0 {
        // Money moved: the frame must decode and carry a MAC that verifies
        // independently under the terminal's TAK.
        let m = spec.decode(data).expect("money moved on a frame that does not decode");
        assert_eq!(
            possim::protocol::iso8583::verify_mac(&spec, data, &m, &KEYS.tak),
            possim::protocol::iso8583::MacCheck::Valid,
            "money moved on a frame without a valid MAC: {}",
            out.decision.reason
        );
    }
    if let Ok(mut m) = spec.decode(data) {
        m.remove(64).remove(128);
        if let Ok(wire) = encode_with_mac(&spec, &mut m, &KEYS.tak) {
            let _ = h.handle(SimTime(1), &wire);
        }
    }
});
