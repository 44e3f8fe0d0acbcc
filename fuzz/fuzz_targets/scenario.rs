//! Scenario files: any text parses or fails with a located diagnostic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match possim::scenario::parse(text, "fuzz.ron") {
            Ok(s) => {
                let _ = possim::sim::Plan::new(&s, None);
            }
            Err(d) => {
                assert!(d.line >= 1 && d.column >= 1);
                let _ = d.to_string();
            }
        }
    }
});
