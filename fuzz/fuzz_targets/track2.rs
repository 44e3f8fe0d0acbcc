//! Track 2 (field 35 text) and tag 57 (packed) parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim::protocol::track::Track2;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = Track2::parse_tag57(data) {
        assert_eq!(Track2::parse_tag57(&t.to_tag57()).expect("round trip"), t);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = Track2::parse(s) {
            assert_eq!(Track2::parse(&t.to_field35()).expect("round trip"), t);
        }
    }
});
