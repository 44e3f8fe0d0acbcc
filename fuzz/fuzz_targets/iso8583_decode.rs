//! ISO 8583 decoding under both built-in dialects; whatever decodes must
//! re-encode and decode to the same message, and inspecting must not panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use possim::keys::KeySet;
use possim::protocol::iso8583::Spec;

static SPECS: LazyLock<[Spec; 2]> = LazyLock::new(|| [Spec::iso87_ascii(), Spec::iso87_binary()]);
static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    KeySet::parse(include_str!("../../tests/vectors/keys.json")).expect("vector keys")
});

fuzz_target!(|data: &[u8]| {
    for spec in SPECS.iter() {
        if let Ok(m) = spec.decode(data) {
            let wire = spec.encode(&m).expect("a decoded message re-encodes");
            assert_eq!(spec.decode(&wire).expect("and decodes again"), m);
            let report = possim::inspect::inspect(spec, data, &KEYS).expect("inspect decodes what decode decodes");
            let _ = report.render();
            let _ = report.to_json(false);
            let _ = report.to_json(true);
        }
    }
});
