//! Loading a user's ISO 8583 dialect file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim::protocol::iso8583::Spec;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(spec) = Spec::from_ron(s, "fuzz.ron") {
            let _ = spec.decode(data);
        }
    }
});
