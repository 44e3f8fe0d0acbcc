//! Script files (`possim script`): any text parses or fails with a located
//! diagnostic, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(d) = possim::net::script::parse(text, "fuzz.ron") {
            assert!(d.line >= 1 && d.column >= 1);
            let _ = d.to_string();
        }
    }
});
