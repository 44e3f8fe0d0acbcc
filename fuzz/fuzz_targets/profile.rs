//! Shop profiles (`possim assess`): any text gives a profile or a located
//! error in either language, never a panic; a profile that reads builds a
//! scenario that validates for every attack it allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim::assess::{Lang, Profile, shop, texts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for lang in [Lang::En, Lang::ZhCn] {
        match Profile::parse(text, "fuzz.ron", lang) {
            Ok(p) => {
                for a in &texts().attacks {
                    if shop::possible(&p, a) {
                        let s = shop::scenario(&p, Some(a), 7, None, 1);
                        assert!(possim::scenario::parse(&s, "fuzz.ron").is_ok(), "{s}");
                    }
                }
            }
            Err(d) => {
                let _ = d.to_string();
            }
        }
    }
});
