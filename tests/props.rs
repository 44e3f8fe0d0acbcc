//! Property tests: round trips for every codec, never-panic on arbitrary
//! bytes for every decoder, and the fast DES against RustCrypto's `des`.

use std::collections::BTreeMap;

use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use possim::protocol::apdu::{Command, Response};
use possim::protocol::crypto::{self, Des, Tdes, TdesKey};
use possim::protocol::iso8583::{
    BitmapEncoding, Count, Encoding, FieldKind, FieldSpec, FrameDecoder, Length, Message,
    MessageSpec, Mti, MtiEncoding, PrefixEncoding, Spec, split_frame,
};
use possim::protocol::tlv::{self, Dol, Tlv, TlvValue};
use possim::protocol::track::Track2;
use proptest::prelude::*;

use crate::util::{s, unhex, vector};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fast_des_equals_rustcrypto_des(key in any::<[u8; 8]>(), block in any::<[u8; 8]>()) {
        let reference = des::Des::new_from_slice(&key).unwrap();
        let mut b = block.into();
        reference.encrypt_block(&mut b);
        let ours = Des::new(key);
        prop_assert_eq!(ours.encrypt(block), <[u8; 8]>::from(b));
        reference.decrypt_block(&mut b);
        prop_assert_eq!(<[u8; 8]>::from(b), block);
        prop_assert_eq!(ours.decrypt(ours.encrypt(block)), block);
    }

    #[test]
    fn fast_tdes_equals_rustcrypto_tdes_ede2(key in any::<[u8; 16]>(), block in any::<[u8; 8]>()) {
        let reference = des::TdesEde2::new_from_slice(&key).unwrap();
        let mut b = block.into();
        reference.encrypt_block(&mut b);
        let ours = Tdes::new(key);
        prop_assert_eq!(ours.encrypt(block), <[u8; 8]>::from(b));
        let mut c = block.into();
        reference.decrypt_block(&mut c);
        prop_assert_eq!(ours.decrypt(block), <[u8; 8]>::from(c));
    }

    #[test]
    fn pin_blocks_round_trip(key in any::<[u8; 16]>(), pin in "[0-9]{4,12}", pan in "[0-9]{12,19}") {
        let k = TdesKey::new(key);
        let block = crypto::pin_block_iso0(&k, &pin, &pan).unwrap();
        prop_assert_eq!(crypto::decode_pin_block_iso0(&k, block, &pan).unwrap(), pin);
    }
}

/// A dialect exercising every encoding the codec supports: header, BCD MTI,
/// binary bitmaps, BCD values and prefixes, binary prefixes, wire counts.
fn exotic_spec() -> Spec {
    let f = |name: &str, kind, length, encoding, prefix, count| FieldSpec {
        name: name.into(),
        kind,
        length,
        encoding,
        prefix,
        count,
    };
    use Count::*;
    use Encoding::*;
    use FieldKind::*;
    use Length::*;
    use PrefixEncoding as P;
    let fields = BTreeMap::from([
        (2, f("PAN", N, LLVar(19), Bcd, P::Bcd, Value)),
        (3, f("Processing code", N, Fixed(6), Bcd, P::Ascii, Value)),
        (4, f("Amount", N, Fixed(12), Ascii, P::Ascii, Value)),
        (23, f("PSN", N, Fixed(3), Bcd, P::Ascii, Value)),
        (35, f("Track 2", Z, LLVar(37), Bcd, P::Bcd, Value)),
        (41, f("TID", Ans, Fixed(8), Ascii, P::Ascii, Value)),
        (43, f("Name", An, Fixed(40), Ascii, P::Ascii, Value)),
        (48, f("Private", Ans, LLLVar(999), Ascii, P::Binary, Value)),
        (55, f("ICC", B, LLLVar(255), Binary, P::Bcd, Value)),
        (62, f("Hex private", B, LLLVar(100), Hex, P::Ascii, Wire)),
        (64, f("MAC", B, Fixed(8), Binary, P::Ascii, Value)),
        (99, f("Inst", N, LLVar(10), Bcd, P::Ascii, Wire)),
        (128, f("MAC", B, Fixed(8), Hex, P::Ascii, Value)),
    ]);
    Spec::compile(MessageSpec {
        name: "exotic".into(),
        description: String::new(),
        header: 5,
        mti: MtiEncoding::Bcd,
        bitmap: BitmapEncoding::Binary,
        fields,
    })
    .unwrap()
}

/// Builds a message valid under `spec` from random bytes: each field is
/// included or not, and its value drawn from its kind and length rule.
fn random_message(spec: &Spec, mti: u16, entropy: &[u8]) -> Message {
    let mut bytes = entropy.iter().copied().cycle();
    let mut next = move || bytes.next().unwrap_or(0);
    let mut m = Message::new(Mti::parse(&format!("{mti:04}")).unwrap());
    m.set_header(&vec![0xAB; spec.doc().header]);
    for n in 2..=128u8 {
        let Some(f) = spec.field(n) else { continue };
        if next() % 4 != 0 {
            continue;
        }
        let bcd_wire = f.encoding == Encoding::Bcd && f.count == Count::Wire;
        let len = match f.length {
            Length::Fixed(l) => l,
            Length::LLVar(max) | Length::LLLVar(max) => {
                let l = usize::from(next()) % (max.min(60) + 1);
                if bcd_wire { l & !1 } else { l }
            }
        };
        let value: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                match f.kind {
                    FieldKind::N => b'0' + r % 10,
                    FieldKind::Z => b"0123456789="[usize::from(r) % 11],
                    FieldKind::An => b"ABCXYZabc0189 "[usize::from(r) % 14],
                    FieldKind::Ans => 0x20 + r % 95,
                    FieldKind::B => r,
                }
            })
            .collect();
        m.set(n, value);
    }
    m
}

fn specs() -> [Spec; 3] {
    [Spec::iso87_ascii(), Spec::iso87_binary(), exotic_spec()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn iso8583_decode_inverts_encode(mti in 0u16..10000, entropy in prop::collection::vec(any::<u8>(), 1..2048)) {
        for spec in specs() {
            let m = random_message(&spec, mti, &entropy);
            let wire = spec.encode(&m).unwrap();
            let back = spec.decode(&wire).unwrap();
            prop_assert_eq!(&back, &m, "under {}", spec.name());
            prop_assert_eq!(spec.encode(&back).unwrap(), wire);
        }
    }

    #[test]
    fn iso8583_decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        for spec in specs() {
            let _ = spec.decode(&bytes);
            let _ = spec.decode_with_layout(&bytes);
        }
    }

    #[test]
    fn iso8583_decode_never_panics_on_mutated_vectors(
        which in 0usize..10,
        edits in prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        for (file, spec) in [("iso8583_ascii.json", Spec::iso87_ascii()), ("iso8583_binary.json", Spec::iso87_binary())] {
            let mut wire = unhex(s(&vector(file)["messages"][which], "encoded"));
            for &(pos, byte, op) in &edits {
                let at = usize::from(pos) % (wire.len() + 1);
                match op {
                    0 if at < wire.len() => wire[at] = byte,
                    1 => wire.insert(at, byte),
                    _ => wire.truncate(at),
                }
            }
            if let Err(e) = spec.decode(&wire) {
                // Every error names where it happened.
                prop_assert!(e.to_string().contains(" at byte "), "{}", e);
            }
        }
    }

    #[test]
    fn framing_never_panics_and_reassembles(bytes in prop::collection::vec(any::<u8>(), 0..300), cut in 0usize..300) {
        let _ = split_frame(&bytes);
        let mut d = FrameDecoder::new();
        let cut = cut.min(bytes.len());
        d.push(&bytes[..cut]);
        let _ = d.next_frame();
        d.push(&bytes[cut..]);
        while let Ok(Some(_)) = d.next_frame() {}
    }

    #[test]
    fn tlv_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = tlv::parse(&bytes);
        let _ = tlv::iter(&bytes).count();
        let _ = Dol::parse(&bytes);
    }

    #[test]
    fn tlv_round_trips(tree in tlv_tree()) {
        let bytes = tlv::encode(&tree);
        prop_assert_eq!(tlv::parse(&bytes).unwrap(), tree);
    }

    /// One walk answers as many searches would, on trees and on damaged
    /// ones alike (a truncated or corrupted template ends where the search
    /// would have stopped).
    #[test]
    fn a_deep_index_finds_what_find_deep_finds(
        tree in tlv_tree(),
        cut in any::<prop::sample::Index>(),
        flip in any::<(prop::sample::Index, u8)>(),
        extra in any::<u32>(),
    ) {
        let whole = tlv::encode(&tree);
        let mut damaged = whole[..cut.index(whole.len() + 1)].to_vec();
        if !damaged.is_empty() {
            let at = flip.0.index(damaged.len());
            damaged[at] ^= flip.1;
        }
        for bytes in [&whole, &damaged] {
            let index = tlv::DeepIndex::new(bytes);
            let mut tags: Vec<u32> = tlv::iter(bytes).map_while(Result::ok).map(|(t, _)| t).collect();
            tags.extend(0x41..0x5F);
            tags.extend([0x6F, 0x70, 0x77, 0x9F26, 0x5F2A, 0xA5, 0xBF0C, 0xDF8101, extra]);
            for t in tags {
                prop_assert_eq!(index.get(t), tlv::find_deep(bytes, t), "tag {:X}", t);
            }
        }
    }

    #[test]
    fn track2_parsers_never_panic(text in ".{0,50}", bytes in prop::collection::vec(any::<u8>(), 0..30)) {
        let _ = Track2::parse(&text);
        let _ = Track2::parse_tag57(&bytes);
    }

    #[test]
    fn track2_round_trips(pan in "[0-9]{12,19}", exp in "[0-9]{4}", sc in "[0-9]{3}", disc in "[0-9]{0,8}") {
        let t = Track2 { pan, expiry: exp, service_code: sc, discretionary: disc };
        prop_assert_eq!(Track2::parse(&t.to_field35()).unwrap(), t.clone());
        prop_assert_eq!(Track2::parse_tag57(&t.to_tag57()).unwrap(), t);
    }

    #[test]
    fn apdu_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Command::parse(&bytes);
        let _ = Response::parse(&bytes);
    }

    #[test]
    fn apdu_commands_round_trip(
        head in any::<[u8; 4]>(),
        data in prop::collection::vec(any::<u8>(), 0..400),
        le in prop::option::of(1usize..=65536),
    ) {
        let c = Command { cla: head[0], ins: head[1], p1: head[2], p2: head[3], data, le };
        prop_assert_eq!(Command::parse(&c.to_bytes()).unwrap(), c);
    }
}

fn tlv_tree() -> impl Strategy<Value = Vec<Tlv>> {
    let primitive_tag = prop_oneof![
        (0x41u32..0x5F).prop_filter("not constructed", |t| t & 0x20 == 0),
        Just(0x9F26u32),
        Just(0x5F2Au32),
        Just(0xDF8101u32),
    ];
    let leaf = (primitive_tag, prop::collection::vec(any::<u8>(), 0..300))
        .prop_map(|(tag, v)| Tlv { tag, value: TlvValue::Primitive(v) });
    let tree = leaf.prop_recursive(4, 32, 6, |inner| {
        (
            prop_oneof![Just(0x6Fu32), Just(0x70), Just(0x77), Just(0xA5), Just(0xBF0C)],
            prop::collection::vec(inner, 0..6),
        )
            .prop_map(|(tag, c)| Tlv::constructed(tag, c))
    });
    prop::collection::vec(tree, 0..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Scenario files are user input: any edit of a valid one parses or
    /// fails with a located error, never a panic.
    #[test]
    fn scenario_parsing_never_panics_on_edited_files(
        edits in prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let text = edited("scenarios/baseline.ron", &edits);
        if let Err(d) = possim::scenario::parse(&text, "edited.ron") {
            prop_assert!(d.line >= 1 && d.column >= 1);
            let _ = d.to_string();
        }
    }

    /// Framing detection takes anything a capture may hold.
    #[test]
    fn framing_detection_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dialects = [possim::protocol::iso8583::Spec::iso87_ascii(), possim::protocol::iso8583::Spec::iso87_binary()];
        let attempts = possim::detect::detect(&bytes, &dialects);
        prop_assert_eq!(attempts.len(), 16);
        for a in &attempts {
            prop_assert!(a.failure.is_some() != a.decoded.is_some());
        }
    }

    /// Script files too: any edit of the example parses or fails with a
    /// located error, never a panic.
    #[test]
    fn script_parsing_never_panics_on_edited_files(
        edits in prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let text = edited("examples/purchase-and-reversal.ron", &edits);
        if let Err(d) = possim::net::script::parse(&text, "edited.ron") {
            prop_assert!(d.line >= 1 && d.column >= 1);
            let _ = d.to_string();
        }
    }

    /// `possim replay` on a journal with any edits: a report or an error
    /// naming a line, never a panic. (Positions fall in the first 64 KiB:
    /// the scenario's text and the first purchases.)
    #[test]
    fn replay_never_panics_on_edited_journals(
        edits in prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let text = edit_bytes(small_journal().as_bytes().to_vec(), &edits);
        if let Err(e) = possim::report::replay::replay(text.as_bytes(), "edited.jsonl", &mut []) {
            let possim::report::replay::ReplayError::BadLine { line, .. } = e else {
                panic!("{e}");
            };
            prop_assert!(line >= 1);
        }
    }

    /// A scenario written back out as RON reads back the same.
    #[test]
    fn scenarios_round_trip_through_ron(seed in any::<u64>(), per_hour in 1u32..500, count in 1u32..2000) {
        let base = std::fs::read_to_string(crate::util::root().join("scenarios/baseline.ron")).unwrap();
        let mut s = possim::scenario::parse(&base, "baseline.ron").unwrap();
        s.seed = seed;
        s.traffic.per_hour = f64::from(per_hour);
        s.cardholders.count = count;
        let text = ron::ser::to_string_pretty(&s, ron::ser::PrettyConfig::default()).unwrap();
        let mut back = possim::scenario::parse(&text, "again.ron").unwrap_or_else(|d| panic!("{d}\n{text}"));
        // Where it was read from is not part of what it says.
        back.file = s.file.clone();
        prop_assert_eq!(back, s);
    }
}

/// The journal of a short run, made once.
fn small_journal() -> &'static str {
    static JOURNAL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JOURNAL.get_or_init(|| {
        let text = "Scenario(name: \"short\", seed: 3, duration: \"30m\", traffic: (per_hour: 40),
            links: [(id: \"uplink\", faults: [Loss(p: 0.1), Duplicate(p: 0.1)])])";
        crate::util::run_text(text, None, possim::time::Duration::from_secs(60)).1
    })
}

/// A repository file with byte edits applied: (position, byte, 0 replace /
/// 1 insert / 2 truncate), as a user's editor might leave it.
fn edited(path: &str, edits: &[(u16, u8, u8)]) -> String {
    edit_bytes(std::fs::read(crate::util::root().join(path)).unwrap(), edits)
}

/// `text` with byte edits applied (see [`edited`]).
fn edit_bytes(mut text: Vec<u8>, edits: &[(u16, u8, u8)]) -> String {
    for &(pos, byte, op) in edits {
        let at = usize::from(pos) % (text.len() + 1);
        match op {
            0 if at < text.len() => text[at] = byte,
            1 => text.insert(at, byte),
            _ => text.truncate(at),
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A shop profile with any byte changed gives a profile or a located
    /// error, in either language, never a panic; and a profile that reads
    /// builds a scenario `possim check` accepts for every attack it allows.
    #[test]
    fn edited_profiles_never_panic_and_build_valid_scenarios(
        at in 0usize..1200,
        with in any::<char>(),
        lang in prop::bool::ANY,
    ) {
        use possim::assess::{Lang, Profile, shop, texts};
        let base = std::fs::read_to_string(crate::util::root().join("examples/shop-weak.ron")).unwrap();
        let mut chars: Vec<char> = base.chars().collect();
        let i = at % chars.len();
        chars[i] = with;
        let text: String = chars.into_iter().collect();
        let lang = if lang { Lang::ZhCn } else { Lang::En };
        match Profile::parse(&text, "p.ron", lang) {
            Ok(p) => {
                for a in &texts().attacks {
                    if shop::possible(&p, a) {
                        let s = shop::scenario(&p, Some(a), 7, None, 1);
                        prop_assert!(possim::scenario::parse(&s, "p.ron").is_ok(), "{}", s);
                    }
                }
            }
            Err(d) => prop_assert!(d.to_string().starts_with("p.ron:")),
        }
    }

    /// Any name the profile accepts reaches the scenario intact.
    #[test]
    fn any_accepted_shop_name_builds_a_valid_scenario(name in "\\PC{0,60}") {
        use possim::assess::{Lang, Profile, shop, texts};
        let text = format!("Shop(name: {name:?})");
        if let Ok(p) = Profile::parse(&text, "p.ron", Lang::En) {
            let a = &texts().attacks[0];
            let s = shop::scenario(&p, Some(a), 7, None, 1);
            prop_assert!(possim::scenario::parse(&s, "p.ron").is_ok(), "{}", s);
        }
    }
}
