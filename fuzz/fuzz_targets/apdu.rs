//! Command and response APDU parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim::protocol::apdu::{Command, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Command::parse(data) {
        assert_eq!(Command::parse(&c.to_bytes()).expect("round trip"), c);
    }
    let _ = Response::parse(data);
});
