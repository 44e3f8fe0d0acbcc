//! BER-TLV and DOL parsing; a parsed tree re-encodes to something that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim::protocol::tlv;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = tlv::parse(data) {
        let again = tlv::encode(&t);
        assert_eq!(tlv::parse(&again).expect("re-encoded TLV parses"), t);
    }
    let _ = tlv::iter(data).count();
    if let Ok(d) = tlv::Dol::parse(data) {
        let _ = d.fill(|_| Some(data));
    }
});
