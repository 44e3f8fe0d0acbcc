//! The 2-byte length framing, fed in two pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim::protocol::iso8583::{FrameDecoder, split_frame};

fuzz_target!(|data: &[u8]| {
    let _ = split_frame(data);
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut d = FrameDecoder::new();
    d.push(&data[..cut]);
    let _ = d.next_frame();
    d.push(&data[cut..]);
    while let Ok(Some(_)) = d.next_frame() {}
});
