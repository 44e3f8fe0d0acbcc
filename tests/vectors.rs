//! Known-answer tests: every vector in tests/vectors (produced by pyiso8583
//! 4.0.1, pyemv 1.5.0 and psec 1.3.0) must match byte for byte.

use possim::protocol::crypto::{
    self, ArqcInput, MacPadding, TdesKey, arpc_method1, arqc_cvn10, derive_icc_master_key,
};
use possim::protocol::iso8583::{MacCheck, Message, Mti, Spec, encode_with_mac, verify_mac};
use possim::protocol::tlv;
use possim::protocol::track::{Track2, luhn_valid};

use crate::util::{s, unhex, vector};

fn key(hex: &str) -> TdesKey {
    TdesKey::from_hex(hex).expect("vector keys are 32 hex digits")
}

#[test]
fn key_check_values_match() {
    let keys = vector("keys.json");
    for name in ["cvk", "imk_ac", "imk_smc", "imk_smi", "pvk", "tak", "tpk"] {
        let k = key(s(&keys, name));
        let kcv = hex::encode_upper(k.kcv());
        assert!(kcv.starts_with(s(&keys["kcv"], name)), "{name}: {kcv}");
        assert!(k.has_odd_parity(), "{name} has DES parity");
    }
}

#[test]
fn retail_mac_matches_psec() {
    for v in vector("retail_mac.json").as_array().unwrap() {
        let mac = crypto::retail_mac(&key(s(v, "tak")), &unhex(s(v, "data")), MacPadding::Method1);
        assert_eq!(hex::encode_upper(mac), s(v, "mac"), "data {}", s(v, "data"));
    }
}

#[test]
fn retail_mac_with_padding_method_2_matches_psec() {
    for v in vector("retail_mac_method2.json").as_array().unwrap() {
        let mac = crypto::retail_mac(&key(s(v, "tak")), &unhex(s(v, "data")), MacPadding::Method2);
        assert_eq!(hex::encode_upper(mac), s(v, "mac"), "data {}", s(v, "data"));
    }
}

#[test]
fn pin_blocks_and_pvv_match_psec() {
    for v in vector("pin.json").as_array().unwrap() {
        let (pin, pan) = (s(v, "pin"), s(v, "pan"));
        let tpk = key(s(v, "tpk"));
        let clear = crypto::pin_block_iso0(&TdesKey::new([0; 16]), pin, pan).unwrap();
        // Decrypting under the same key gives the clear block back.
        let clear = TdesKey::new([0; 16]).decrypt(clear);
        assert_eq!(hex::encode_upper(clear), s(v, "clear_block_iso0"));
        let block = crypto::pin_block_iso0(&tpk, pin, pan).unwrap();
        assert_eq!(hex::encode_upper(block), s(v, "encrypted_block"));
        assert_eq!(crypto::decode_pin_block_iso0(&tpk, block, pan).unwrap(), pin);
        let pvv = crypto::pvv(&key(s(v, "pvk")), pan, s(v, "pvki"), pin).unwrap();
        assert_eq!(pvv, s(v, "pvv"));
    }
}

#[test]
fn a_pin_block_under_the_wrong_key_does_not_decode() {
    let v = &vector("pin.json")[0];
    let block = crypto::pin_block_iso0(&key(s(v, "tpk")), s(v, "pin"), s(v, "pan")).unwrap();
    let wrong = key(s(&vector("keys.json"), "tak"));
    assert!(crypto::decode_pin_block_iso0(&wrong, block, s(v, "pan")).is_err());
}

#[test]
fn cvv_and_icvv_match_psec() {
    for v in vector("cvv.json").as_array().unwrap() {
        let got = crypto::cvv(&key(s(v, "cvk")), s(v, "pan"), s(v, "expiry"), s(v, "service_code"))
            .unwrap();
        assert_eq!(got, s(v, "cvv"), "{v}");
    }
}

#[test]
fn cards_track2_tag57_and_their_check_values() {
    let keys = vector("keys.json");
    let (cvk, pvk) = (key(s(&keys, "cvk")), key(s(&keys, "pvk")));
    for c in vector("cards.json").as_array().unwrap() {
        let pan = s(c, "pan");
        assert!(luhn_valid(pan));
        let (exp, sc) = (s(c, "expiry"), s(c, "service_code"));
        let cvv = crypto::cvv(&cvk, pan, exp, sc).unwrap();
        let icvv = crypto::icvv(&cvk, pan, exp).unwrap();
        let pvv = crypto::pvv(&pvk, pan, s(c, "pvki"), s(c, "pin")).unwrap();
        assert_eq!(
            (cvv.as_str(), icvv.as_str(), pvv.as_str()),
            (s(c, "cvv"), s(c, "icvv"), s(c, "pvv"))
        );

        let t2 = Track2::new(pan, exp, sc, s(c, "pvki"), &pvv, &cvv);
        assert_eq!(t2.to_field35(), s(c, "track2"));
        assert_eq!(Track2::parse(s(c, "track2")).unwrap(), t2);
        assert_eq!(t2.cvv(), Some(cvv.as_str()));
        assert_eq!(t2.pvv(), Some(pvv.as_str()));

        let t57 = Track2::new(pan, exp, sc, s(c, "pvki"), &pvv, &icvv);
        assert_eq!(hex::encode_upper(t57.to_tag57()), s(c, "tag57"));
        assert_eq!(Track2::parse_tag57(&unhex(s(c, "tag57"))).unwrap(), t57);
    }
}

#[test]
fn emv_cvn10_master_key_arqc_and_arpc_match_pyemv() {
    for v in vector("emv_visa_cvn10.json").as_array().unwrap() {
        let imk = key(s(v, "imk_ac"));
        let mk = derive_icc_master_key(&imk, s(v, "pan"), s(v, "psn")).unwrap();
        assert_eq!(mk.to_hex(), s(v, "icc_mk_ac"));

        let f55 = unhex(s(v, "field55_hex"));
        let input = ArqcInput::from_tags(|t| tlv::find(&f55, t)).unwrap();
        assert_eq!(hex::encode_upper(input.cvr), s(v, "cvr"));
        for (tag, hexval) in v["tags"].as_object().unwrap() {
            let t = u32::from_str_radix(tag, 16).unwrap();
            assert_eq!(
                tlv::find(&f55, t).map(hex::encode_upper).as_deref(),
                hexval.as_str(),
                "tag {tag}"
            );
        }
        let arqc = arqc_cvn10(&mk, &input);
        assert_eq!(hex::encode_upper(arqc), s(v, "arqc_9f26"));
        assert_eq!(tlv::find(&f55, 0x9F26), Some(&arqc[..]));
        assert!(crypto::verify_arqc_cvn10(&mk, &input, &arqc));

        for which in ["arpc_approved", "arpc_declined"] {
            let arc: [u8; 2] = unhex(s(&v[which], "arc")).try_into().unwrap();
            assert_eq!(hex::encode_upper(arpc_method1(&mk, arqc, arc)), s(&v[which], "arpc"));
        }
    }
}

/// A vector's `fields` as a message: "t" is the MTI; binary fields are hex.
fn message_from_vector(fields: &serde_json::Value) -> Message {
    let mut m = Message::new(Mti::parse(s(fields, "t")).unwrap());
    for (k, v) in fields.as_object().unwrap() {
        let Ok(n) = k.parse::<u8>() else { continue };
        let v = v.as_str().unwrap();
        if matches!(n, 52 | 55 | 64 | 128) {
            m.set(n, unhex(v));
        } else {
            m.set(n, v);
        }
    }
    m
}

fn check_iso_vectors(file: &str, spec: &Spec) {
    let tak = key(s(&vector("keys.json"), "tak"));
    for v in vector(file)["messages"].as_array().unwrap() {
        let name = s(v, "name");
        let wire = unhex(s(v, "encoded"));
        let expected = message_from_vector(&v["fields"]);
        let decoded = spec.decode(&wire).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, expected, "{name}: decode");
        assert_eq!(spec.encode(&decoded).unwrap(), wire, "{name}: encode(decode(x)) == x");
        assert_eq!(spec.encode(&expected).unwrap(), wire, "{name}: encode from the fields");
        if decoded.mac().is_some() {
            assert_eq!(verify_mac(spec, &wire, &decoded, &tak), MacCheck::Valid, "{name}: MAC");
            let mut fresh = expected.clone();
            fresh.remove(64).remove(128);
            assert_eq!(
                encode_with_mac(spec, &mut fresh, &tak).unwrap(),
                wire,
                "{name}: MAC generation"
            );
            // One changed amount digit must break it.
            let mut tampered = wire.clone();
            let at = tampered.iter().position(|&b| b == b'4').unwrap();
            tampered[at] = b'5';
            if let Ok(m) = spec.decode(&tampered) {
                assert_eq!(
                    verify_mac(spec, &tampered, &m, &tak),
                    MacCheck::Invalid,
                    "{name}: tampered"
                );
            }
        } else {
            assert_eq!(verify_mac(spec, &wire, &decoded, &tak), MacCheck::Absent);
        }
    }
}

#[test]
fn iso8583_ascii_vectors_match_pyiso8583() {
    check_iso_vectors("iso8583_ascii.json", &Spec::iso87_ascii());
}

#[test]
fn iso8583_binary_vectors_match_pyiso8583() {
    check_iso_vectors("iso8583_binary.json", &Spec::iso87_binary());
}

#[test]
fn the_same_message_decodes_equal_under_both_dialects() {
    let a = vector("iso8583_ascii.json");
    let b = vector("iso8583_binary.json");
    for (x, y) in a["messages"].as_array().unwrap().iter().zip(b["messages"].as_array().unwrap()) {
        let mut ma = Spec::iso87_ascii().decode(&unhex(s(x, "encoded"))).unwrap();
        let mut mb = Spec::iso87_binary().decode(&unhex(s(y, "encoded"))).unwrap();
        // The MAC covers the wire bytes, which differ; every other value is equal.
        assert_eq!(ma.mac().is_some(), mb.mac().is_some());
        ma.remove(64).remove(128);
        mb.remove(64).remove(128);
        assert_eq!(ma, mb, "{}", s(x, "name"));
    }
}

#[test]
fn field_90_of_the_reversal_vector_parses() {
    let v = &vector("iso8583_ascii.json")["messages"][8];
    let m = Spec::iso87_ascii().decode(&unhex(s(v, "encoded"))).unwrap();
    let od = m.original_data().unwrap();
    assert_eq!((od.mti, od.stan, od.transmission_time.as_str()), (Mti::REQUEST, 1, "1124101530"));
    assert_eq!(od.to_field(), m.get_str(90).unwrap());
    assert_eq!(m.mac_field(), 128);
}
