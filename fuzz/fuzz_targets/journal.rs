//! Journals (`possim replay`): any bytes give a report or an error naming
//! a line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = possim::report::replay::replay(data, "fuzz.jsonl", &mut []) {
        let _ = e.to_string();
    }
});
