//! possim's chip card on its own, answering each command as a terminal (or
//! a reader stack under test) would see it: the order it insists on, which
//! directory each interface offers, what GENERATE AC gives and when, what
//! the CVR says after PIN tries, and what GET DATA reports.

use possim::card::{
    Card, CardData, CardProfile, Cvm, Interface, PPSE, PSE, VISA_AID, cdol1, cdol2,
};
use possim::protocol::apdu::{Command, cryptogram};
use possim::protocol::crypto::CvrBits;
use possim::protocol::tlv;

use crate::cores::{chip, shop, shop_with_atc};

fn card(profile: CardProfile) -> Card {
    shop(profile, "7070").card
}

/// Card data issued under the shop's keys (PIN 7070).
fn issue(pan: &str, psn: &str, yymm: &str, service_code: &str) -> CardData {
    let (pvk, cvk) = (crate::cores::key("pvk"), crate::cores::key("cvk"));
    CardData::issue(&pvk, &cvk, pan, psn, yymm, service_code, "7070").unwrap()
}

/// Sends `c`; returns the answer's data and its status word.
fn send(card: &mut Card, c: &Command) -> (Vec<u8>, u16) {
    let r = card.transmit(&c.to_bytes());
    assert!(r.len() >= 2, "a status word: {r:02X?}");
    let (data, sw) = r.split_at(r.len() - 2);
    (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
}

/// Powered on the contact interface with its application selected.
fn selected(card: &mut Card) {
    assert!(!card.power_on(Interface::Contact).is_empty(), "an ATR");
    assert_eq!(send(card, &Command::select(&VISA_AID)).1, 0x9000);
}

/// Selected, and processing options given.
fn ready(card: &mut Card) {
    selected(card);
    assert_eq!(send(card, &Command::get_processing_options(&[])).1, 0x9000);
}

/// The first GENERATE AC asking for `kind`: the CID and the CVR.
fn generate(card: &mut Card, kind: u8) -> (u8, [u8; 4]) {
    let (r, sw) = send(card, &Command::generate_ac(kind, &cdol1().fill(|_| None)));
    assert_eq!(sw, 0x9000);
    let body = tlv::find(&r, 0x77).expect("format 2");
    let cid = tlv::find(body, 0x9F27).unwrap()[0];
    let iad = tlv::find(body, 0x9F10).unwrap();
    (cid, iad[3..7].try_into().unwrap())
}

fn get_data(card: &mut Card, tag: u16) -> (Vec<u8>, u16) {
    send(card, &Command::get_data(tag))
}

#[test]
fn a_card_makes_no_cryptogram_before_selection_and_processing_options_and_gives_them_once() {
    let mut c = card(chip(Cvm::OnlinePin));
    assert!(!c.power_on(Interface::Contact).is_empty());
    let ac = Command::generate_ac(cryptogram::ARQC, &cdol1().fill(|_| None));
    assert_eq!(send(&mut c, &ac).1, 0x6985, "nothing selected");
    assert_eq!(send(&mut c, &Command::select(&VISA_AID)).1, 0x9000);
    assert_eq!(send(&mut c, &ac).1, 0x6985, "selected, no GPO yet");
    assert_eq!(send(&mut c, &Command::get_processing_options(&[])).1, 0x9000);
    assert_eq!(send(&mut c, &Command::get_processing_options(&[])).1, 0x6985, "GPO twice");
    assert_eq!(send(&mut c, &ac).1, 0x9000);
}

#[test]
fn a_card_declines_with_an_aac_when_asked_to_and_when_its_offline_pin_is_blocked() {
    let mut c = card(chip(Cvm::OnlinePin));
    ready(&mut c);
    assert_eq!(generate(&mut c, cryptogram::AAC).0, cryptogram::AAC);
    ready(&mut c);
    assert_eq!(generate(&mut c, cryptogram::ARQC).0, cryptogram::ARQC);
    // An offline-PIN card whose tries are spent declines whatever is asked.
    let mut c = card(chip(Cvm::OfflinePin));
    ready(&mut c);
    for left in [2u16, 1, 0] {
        let (_, sw) = send(&mut c, &Command::verify_plaintext_pin("0000"));
        assert_eq!(sw, 0x63C0 | left);
    }
    assert_eq!(send(&mut c, &Command::verify_plaintext_pin("7070")).1, 0x6983, "blocked");
    assert_eq!(generate(&mut c, cryptogram::ARQC).0, cryptogram::AAC);
}

#[test]
fn the_cvr_says_whether_the_offline_pin_was_tried_failed_or_spent() {
    let mut c = card(chip(Cvm::OfflinePin));
    ready(&mut c);
    assert_eq!(send(&mut c, &Command::verify_plaintext_pin("0000")).1, 0x63C2);
    let (_, cvr) = generate(&mut c, cryptogram::ARQC);
    let pin = CvrBits::OFFLINE_PIN_PERFORMED | CvrBits::OFFLINE_PIN_FAILED;
    assert_eq!(cvr[1] & pin, pin, "tried and failed: {cvr:02X?}");
    assert_eq!(cvr[2] & CvrBits::PIN_TRY_LIMIT_EXCEEDED, 0, "two tries left: {cvr:02X?}");
    // A wrong try (the count is the card's, kept between sessions), then
    // the right PIN: performed, not failed, and the tries are back to three.
    ready(&mut c);
    assert_eq!(send(&mut c, &Command::verify_plaintext_pin("0000")).1, 0x63C1);
    assert_eq!(send(&mut c, &Command::verify_plaintext_pin("7070")).1, 0x9000);
    let (_, cvr) = generate(&mut c, cryptogram::ARQC);
    assert_eq!(cvr[1] & pin, CvrBits::OFFLINE_PIN_PERFORMED, "{cvr:02X?}");
    assert_eq!(c.pin_tries_left(), 3);
    // Three wrong: the try limit is exceeded.
    ready(&mut c);
    for _ in 0..3 {
        send(&mut c, &Command::verify_plaintext_pin("0000"));
    }
    let (_, cvr) = generate(&mut c, cryptogram::ARQC);
    assert_ne!(cvr[2] & CvrBits::PIN_TRY_LIMIT_EXCEEDED, 0, "{cvr:02X?}");
}

#[test]
fn get_data_reports_the_atc_the_pin_tries_left_and_the_last_online_atc() {
    let mut c = shop_with_atc(chip(Cvm::OfflinePin), "7070", 0x1234).card;
    selected(&mut c);
    assert_eq!(get_data(&mut c, 0x9F36), (vec![0x9F, 0x36, 0x02, 0x12, 0x34], 0x9000));
    assert_eq!(get_data(&mut c, 0x9F17), (vec![0x9F, 0x17, 0x01, 0x03], 0x9000));
    assert_eq!(get_data(&mut c, 0x9F13).1, 0x9000);
    assert_eq!(get_data(&mut c, 0x9F13).0[..3], [0x9F, 0x13, 0x02]);
    assert_eq!(get_data(&mut c, 0x9F4F), (vec![], 0x6A88), "no such data object");
    send(&mut c, &Command::get_processing_options(&[]));
    send(&mut c, &Command::verify_plaintext_pin("0000"));
    generate(&mut c, cryptogram::ARQC);
    assert_eq!(get_data(&mut c, 0x9F36).0, [0x9F, 0x36, 0x02, 0x12, 0x35]);
    assert_eq!(get_data(&mut c, 0x9F17).0, [0x9F, 0x17, 0x01, 0x02]);
}

#[test]
fn the_contact_interface_offers_the_pse_and_contactless_the_ppse() {
    let mut c = card(chip(Cvm::OnlinePin));
    c.power_on(Interface::Contact);
    assert_eq!(send(&mut c, &Command::select(PPSE)).1, 0x6A82);
    assert_eq!(send(&mut c, &Command::select(PSE)).1, 0x9000);
    // The PSE's one record names the application, its label and priority.
    let (r, sw) = send(&mut c, &Command::read_record(1, 1));
    assert_eq!(sw, 0x9000);
    let entry = tlv::find(tlv::find(&r, 0x70).unwrap(), 0x61).unwrap();
    assert_eq!(tlv::find(entry, 0x4F), Some(&VISA_AID[..]));
    assert_eq!(tlv::find(entry, 0x50), Some(&b"VISA CREDIT"[..]));
    assert_eq!(tlv::find(entry, 0x87), Some(&[0x01][..]));
    c.power_on(Interface::Contactless);
    assert_eq!(send(&mut c, &Command::select(PSE)).1, 0x6A82);
    let (r, sw) = send(&mut c, &Command::select(PPSE));
    assert_eq!(sw, 0x9000);
    let entry = tlv::find_deep(&r, 0x61).expect("the PPSE's directory entry");
    assert_eq!(tlv::find(entry, 0x4F), Some(&VISA_AID[..]));
    // The PPSE has no records to read: its answer was the directory.
    assert_eq!(send(&mut c, &Command::read_record(1, 1)).1, 0x6A83);
}

#[test]
fn a_card_without_a_working_chip_on_an_interface_says_nothing_there() {
    let contact_only = CardProfile { contactless: false, ..chip(Cvm::OnlinePin) };
    let select = Command::select(&VISA_AID).to_bytes();
    let mut c = card(contact_only);
    assert!(!c.power_on(Interface::Contact).is_empty());
    assert!(c.transmit(&select).ends_with(&[0x90, 0x00]));
    c.power_on(Interface::Contactless);
    assert_eq!(c.transmit(&select), Vec::<u8>::new(), "no antenna");
    let mut c = card(CardProfile { chip: false, contactless: false, ..chip(Cvm::OnlinePin) });
    assert!(c.power_on(Interface::Contact).is_empty(), "stripe only: no ATR");
    assert_eq!(c.transmit(&select), Vec::<u8>::new());
    let mut c = card(chip(Cvm::OnlinePin));
    c.chip_broken = true;
    assert!(c.power_on(Interface::Contact).is_empty(), "broken: no ATR");
    assert_eq!(c.transmit(&select), Vec::<u8>::new());
}

/// The first GENERATE AC's cryptogram, and the card's master key.
fn first_ac(card: &mut Card) -> ([u8; 8], possim::protocol::crypto::TdesKey) {
    let (r, sw) = send(card, &Command::generate_ac(cryptogram::ARQC, &cdol1().fill(|_| None)));
    assert_eq!(sw, 0x9000);
    let ac = tlv::find(tlv::find(&r, 0x77).unwrap(), 0x9F26).unwrap().try_into().unwrap();
    let imk = crate::cores::key("imk_ac");
    let mk =
        possim::protocol::crypto::derive_icc_master_key(&imk, "4073662585178123", "00").unwrap();
    (ac, mk)
}

/// The second GENERATE AC asking for `kind`, with response code `arc` in
/// 8A and `issuer` in 91: the CID and the CVR.
fn second(card: &mut Card, kind: u8, arc: &[u8; 2], issuer: &[u8]) -> (u8, [u8; 4]) {
    let data = cdol2().fill(|t| match t {
        0x8A => Some(&arc[..]),
        0x91 => Some(issuer),
        _ => None,
    });
    generate_with(card, kind, &data)
}

fn generate_with(card: &mut Card, kind: u8, data: &[u8]) -> (u8, [u8; 4]) {
    let (r, sw) = send(card, &Command::generate_ac(kind, data));
    assert_eq!(sw, 0x9000);
    let body = tlv::find(&r, 0x77).expect("format 2");
    let iad = tlv::find(body, 0x9F10).unwrap();
    (tlv::find(body, 0x9F27).unwrap()[0], iad[3..7].try_into().unwrap())
}

/// The ARPC for `arc` over `ac`, and `arc`: tag 91 as the issuer sends it.
fn issuer_data(mk: &possim::protocol::crypto::TdesKey, ac: [u8; 8], arc: &[u8; 2]) -> Vec<u8> {
    let mut d = possim::protocol::crypto::arpc_method1(mk, ac, *arc).to_vec();
    d.extend_from_slice(arc);
    d
}

const AUTH_FAILED: u8 = 0x08;
const SECOND_AC_TC: u8 = CvrBits::FIRST_AC_TC << 2;

#[test]
fn the_second_generate_ac_approves_only_on_the_issuers_own_approval() {
    let online_atc = |c: &mut Card| get_data(c, 0x9F13).0[3..5].to_vec();
    // The issuer's ARPC over "00", a TC asked for: approved, and the card
    // notes that this transaction went online.
    let mut c = card(chip(Cvm::OnlinePin));
    ready(&mut c);
    let (ac, mk) = first_ac(&mut c);
    let (cid, cvr) = second(&mut c, cryptogram::TC, b"00", &issuer_data(&mk, ac, b"00"));
    assert_eq!((cid, cvr[1] & (0xC0 | AUTH_FAILED)), (cryptogram::TC, SECOND_AC_TC), "{cvr:02X?}");
    assert_eq!(online_atc(&mut c), [0x00, 0x11]);
    // The same, but the terminal asks for an AAC: declined.
    ready(&mut c);
    let (ac, mk) = first_ac(&mut c);
    let (cid, cvr) = second(&mut c, cryptogram::AAC, b"00", &issuer_data(&mk, ac, b"00"));
    assert_eq!((cid, cvr[1] & 0xC0), (cryptogram::AAC, 0));
    // The issuer declined (05, its ARPC over 05): declined, authenticated.
    ready(&mut c);
    let (ac, mk) = first_ac(&mut c);
    let (cid, cvr) = second(&mut c, cryptogram::TC, b"05", &issuer_data(&mk, ac, b"05"));
    assert_eq!((cid, cvr[1] & AUTH_FAILED), (cryptogram::AAC, 0));
    assert_eq!(online_atc(&mut c), [0x00, 0x13]);
}

#[test]
fn a_forged_or_mismatched_issuer_answer_is_declined_and_marked_in_the_cvr() {
    for what in
        ["one bit of the ARPC flipped", "an ARPC over 05 sent as 00", "91's ARC unlike 8A's"]
    {
        let mut c = card(chip(Cvm::OnlinePin));
        ready(&mut c);
        let (ac, mk) = first_ac(&mut c);
        let mut issuer = issuer_data(&mk, ac, b"00");
        match what {
            "one bit of the ARPC flipped" => issuer[0] ^= 1,
            "an ARPC over 05 sent as 00" => {
                issuer = issuer_data(&mk, ac, b"05");
                issuer[8..].copy_from_slice(b"00");
            }
            _ => issuer[9] = b'1',
        }
        let (cid, cvr) = second(&mut c, cryptogram::TC, b"00", &issuer);
        assert_eq!((cid, cvr[1] & AUTH_FAILED), (cryptogram::AAC, AUTH_FAILED), "{what}");
        assert_eq!(get_data(&mut c, 0x9F13).0[3..5], [0, 0], "{what}: not online");
    }
    // No issuer data at all (the terminal could not go online): declined,
    // but no authentication was tried, so none failed.
    let mut c = card(chip(Cvm::OnlinePin));
    ready(&mut c);
    first_ac(&mut c);
    let (cid, cvr) = second(&mut c, cryptogram::TC, b"Z3", &[0; 10]);
    assert_eq!((cid, cvr[1] & AUTH_FAILED), (cryptogram::AAC, 0));
    // A second GENERATE AC without a first is refused.
    let mut c = card(chip(Cvm::OnlinePin));
    ready(&mut c);
    let data = cdol2().fill(|_| None);
    let (_, sw) = send(&mut c, &Command::generate_ac(cryptogram::TC, &data));
    assert_ne!(sw, 0x9000, "the card's first GENERATE AC reads CDOL1, not CDOL2 data");
}

#[test]
fn the_first_cryptogram_covers_every_terminal_value_it_was_given() {
    // Every CDOL1 value distinct and non-zero (a refund, 9C = 20, with an
    // amount other and TVR bits set), so leaving any out changes the ARQC.
    let values: [(u32, &[u8]); 8] = [
        (0x9F02, &[0, 0, 0, 0, 0x12, 0x34]),
        (0x9F03, &[0, 0, 0, 0, 0x00, 0x56]),
        (0x9F1A, &[0x01, 0x56]),
        (0x95, &[0x80, 0x00, 0x04, 0x80, 0x00]),
        (0x5F2A, &[0x01, 0x56]),
        (0x9A, &[0x26, 0x11, 0x30]),
        (0x9C, &[0x20]),
        (0x9F37, &[0xDE, 0xAD, 0xBE, 0xEF]),
    ];
    let get = |t: u32| values.iter().find(|v| v.0 == t).map(|v| v.1);
    let mut c = card(chip(Cvm::OnlinePin));
    ready(&mut c);
    let (r, sw) = send(&mut c, &Command::generate_ac(cryptogram::ARQC, &cdol1().fill(get)));
    assert_eq!(sw, 0x9000);
    let body = tlv::find(&r, 0x77).unwrap().to_vec();
    let aip = [0x18, 0x00];
    let lookup = |t: u32| match t {
        0x82 => Some(&aip[..]),
        0x9F36 | 0x9F10 | 0x9F26 => tlv::find(&body, t),
        t => get(t),
    };
    let input = possim::protocol::crypto::ArqcInput::from_tags(lookup).unwrap();
    let ac = tlv::find(&body, 0x9F26).unwrap();
    let imk = crate::cores::key("imk_ac");
    let mk =
        possim::protocol::crypto::derive_icc_master_key(&imk, "4073662585178123", "00").unwrap();
    assert!(possim::protocol::crypto::verify_arqc_cvn10(&mk, &input, ac));
    for (tag, _) in values {
        let mut other = input;
        match tag {
            0x9F02 => other.amount[5] ^= 1,
            0x9F03 => other.amount_other[5] ^= 1,
            0x9F1A => other.country[1] ^= 1,
            0x95 => other.tvr[0] ^= 1,
            0x5F2A => other.currency[1] ^= 1,
            0x9A => other.date[2] ^= 1,
            0x9C => other.txn_type ^= 1,
            _ => other.un[0] ^= 1,
        }
        assert!(!possim::protocol::crypto::verify_arqc_cvn10(&mk, &other, ac), "{tag:X}");
    }
}

#[test]
fn the_application_records_hold_the_card_data_in_bcd() {
    let data = issue("4073662585178123", "12", "2802", "201");
    let mut c = Card::new(chip(Cvm::OnlinePin), data, None, 1);
    selected(&mut c);
    let (r, sw) = send(&mut c, &Command::read_record(2, 1));
    assert_eq!(sw, 0x9000);
    let rec = tlv::find(&r, 0x70).unwrap();
    let hex = |t: u32| hex::encode_upper(tlv::find(rec, t).unwrap());
    assert_eq!(hex(0x5A), "4073662585178123");
    assert_eq!(hex(0x5F34), "12");
    assert_eq!(hex(0x5F24), "280229", "good through the last day of February 2028");
    assert_eq!(hex(0x5F30), "0201");
    // Good through the last day of the month, leap years counted.
    for (yymm, last) in
        [("3202", "320229"), ("0502", "050228"), ("2811", "281130"), ("2812", "281231")]
    {
        let data = issue("4073662585178123", "00", yymm, "201");
        let mut c = Card::new(chip(Cvm::OnlinePin), data, None, 1);
        selected(&mut c);
        let (r, _) = send(&mut c, &Command::read_record(2, 1));
        let expiry = tlv::find(tlv::find(&r, 0x70).unwrap(), 0x5F24).unwrap();
        assert_eq!(hex::encode_upper(expiry), last);
    }
    // An odd-length PAN is padded with F.
    let odd =
        format!("40736625851781{}", possim::protocol::track::luhn_check_digit("40736625851781"));
    let data = issue(&odd, "00", "3306", "201");
    let mut c = Card::new(chip(Cvm::OnlinePin), data, None, 1);
    selected(&mut c);
    let (r, _) = send(&mut c, &Command::read_record(2, 1));
    let pan = tlv::find(tlv::find(&r, 0x70).unwrap(), 0x5A).unwrap();
    assert_eq!(hex::encode_upper(pan), format!("{odd}F"));
}

#[test]
fn a_verify_with_a_malformed_pin_block_is_refused_without_spending_a_try() {
    let mut c = card(chip(Cvm::OfflinePin));
    ready(&mut c);
    let good = Command::verify_plaintext_pin("7070").to_bytes();
    // Format 1 instead of 2, and a block one byte short.
    let mut format1 = good.clone();
    format1[5] = 0x14;
    let mut short = good[..good.len() - 1].to_vec();
    short[4] = 7;
    for bad in [format1, short] {
        let r = c.transmit(&bad);
        assert_eq!(r[r.len() - 2..], [0x6A, 0x80], "{bad:02X?}");
    }
    assert_eq!(c.pin_tries_left(), 3);
}

#[test]
fn card_data_prints_with_its_number_masked() {
    let data = issue("4073662585178123", "00", "3306", "201");
    assert_eq!(format!("{data:?}"), "CardData(407366******8123 exp 3306 sc 201)");
}

#[test]
fn a_chip_clone_is_a_chip_card_whatever_track_it_was_written_from() {
    // Even a stripe-only card's track (service code 101) makes a card whose
    // chip answers: the forger writes a chip, whatever the track says.
    let stripe = issue("4073662585178123", "00", "3306", "101");
    let track = stripe.track2_equivalent().to_field35();
    let mut clone = Card::chip_clone(&track, crate::cores::key("tak")).expect("a clone");
    assert!(!clone.power_on(Interface::Contact).is_empty(), "an ATR");
    assert_eq!(send(&mut clone, &Command::select(&VISA_AID)).1, 0x9000);
}
