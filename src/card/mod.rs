//! A payment card (sans-IO): the chip application answering the APDUs of
//! PROTOCOL.md section 7 (a Visa-like credit application, CVN 10), its
//! magstripe, and its contactless (qVSDC-like) behaviour.
//!
//! [`Card::transmit`] takes command bytes and returns response bytes; anything
//! malformed gets a status word, never a panic. The card keeps its own state
//! across sessions: the ATC rises on every GENERATE AC and the PIN try
//! counter survives power cycles, as on real cards.

use crate::protocol::apdu::{CommandView, StatusWord, cryptogram, ins};
use crate::protocol::crypto::{self, ArqcInput, CryptoError, CvrBits, TdesKey};
use crate::protocol::tlv::{self, Dol};
use crate::protocol::track::Track2;

pub mod vpcd;

/// The Visa credit AID.
pub const VISA_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10];
/// The Mastercard credit/debit AID, which cards numbered 51–55 or
/// 2221–2720 carry.
pub const MASTERCARD_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10];
/// The UnionPay debit AID, which cards numbered 62… carry.
pub const UNIONPAY_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x01];

/// The card brands possim issues and reads, told apart by the registered
/// application provider (the first five bytes of an AID) or by the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Brand {
    /// RID A000000003; numbers 4….
    Visa,
    /// RID A000000004; numbers 51–55 and 2221–2720.
    Mastercard,
    /// RID A000000333; numbers 62….
    UnionPay,
}

impl Brand {
    /// The brand whose registered provider issued `aid`.
    pub fn of_aid(aid: &[u8]) -> Option<Self> {
        match aid.get(..5)? {
            [0xA0, 0, 0, 0, 0x03] => Some(Self::Visa),
            [0xA0, 0, 0, 0, 0x04] => Some(Self::Mastercard),
            [0xA0, 0, 0, 0x03, 0x33] => Some(Self::UnionPay),
            _ => None,
        }
    }

    /// The brand a card number's BIN belongs to.
    pub fn of_pan(pan: &str) -> Option<Self> {
        let two: u32 = pan.get(..2)?.parse().ok()?;
        let four: u32 = pan.get(..4)?.parse().ok()?;
        match two {
            40..=49 => Some(Self::Visa),
            51..=55 => Some(Self::Mastercard),
            22..=27 if (2221..=2720).contains(&four) => Some(Self::Mastercard),
            62 => Some(Self::UnionPay),
            _ => None,
        }
    }
}
/// The contact directory (PSE) name.
pub const PSE: &[u8] = b"1PAY.SYS.DDF01";
/// The contactless directory (PPSE) name.
pub const PPSE: &[u8] = b"2PAY.SYS.DDF01";
/// Application interchange profile (as in the vectors).
pub const AIP: [u8; 2] = [0x18, 0x00];

/// CDOL1: the terminal data the first GENERATE AC needs (CVN 10 inputs).
pub fn cdol1() -> Dol {
    Dol(vec![
        (0x9F02, 6),
        (0x9F03, 6),
        (0x9F1A, 2),
        (0x95, 5),
        (0x5F2A, 2),
        (0x9A, 3),
        (0x9C, 1),
        (0x9F37, 4),
    ])
}

/// CDOL2: what the second GENERATE AC needs: ARC, issuer authentication data, TVR, UN.
pub fn cdol2() -> Dol {
    Dol(vec![(0x8A, 2), (0x91, 10), (0x95, 5), (0x9F37, 4)])
}

/// The contactless PDOL: TTQ and the CVN 10 inputs.
pub fn pdol_contactless() -> Dol {
    Dol(vec![
        (0x9F66, 4),
        (0x9F02, 6),
        (0x9F03, 6),
        (0x9F1A, 2),
        (0x95, 5),
        (0x5F2A, 2),
        (0x9A, 3),
        (0x9C, 1),
        (0x9F37, 4),
    ])
}

/// How the card wants its holder verified (its CVM list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cvm {
    /// Enciphered PIN verified online by the issuer.
    OnlinePin,
    /// Plaintext PIN verified offline by the card (VERIFY).
    OfflinePin,
}

/// How a card lays out its application: what its GPO answers, where its
/// records are, what its CDOLs and CVM list ask. A terminal must read all of
/// it from the card; these two layouts make sure it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// possim's own: GPO format 2 (template 77), AIP 1800, records 1-2 of
    /// SFI 1, CDOL1 in CVN 10 order, online or offline PIN.
    #[default]
    Standard,
    /// Another issuer's: GPO format 1 (tag 80), AIP 1980, records 1-3 of
    /// SFI 2, a reordered CDOL1 that also asks for the terminal type (9F35)
    /// and CVM results (9F34), a reordered CDOL2, and a CVM list that wants
    /// online PIN only above 50.00 and no CVM below.
    Alternate,
}

impl Layout {
    /// The application interchange profile (tag 82).
    pub fn aip(self) -> [u8; 2] {
        match self {
            Self::Standard => AIP,
            Self::Alternate => [0x19, 0x80],
        }
    }

    /// The application file locator (tag 94) of a contact session.
    pub fn afl(self) -> [u8; 4] {
        match self {
            Self::Standard => [0x08, 0x01, 0x02, 0x00],
            Self::Alternate => [0x10, 0x01, 0x03, 0x00],
        }
    }

    /// CDOL1, encoded (tag 8C).
    pub fn cdol1(self) -> &'static [u8] {
        match self {
            Self::Standard => &CDOL1,
            Self::Alternate => &ALT_CDOL1,
        }
    }

    /// CDOL2, encoded (tag 8D).
    pub fn cdol2(self) -> &'static [u8] {
        match self {
            Self::Standard => &CDOL2,
            Self::Alternate => &ALT_CDOL2,
        }
    }
}

/// What kind of card it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardProfile {
    /// Has a chip (service code 201); otherwise magstripe only (101).
    pub chip: bool,
    /// Answers contactless.
    pub contactless: bool,
    /// Preferred cardholder verification.
    pub cvm: Cvm,
    /// PIN tries before the card blocks offline PIN.
    pub pin_try_limit: u8,
    /// How its application is laid out.
    pub layout: Layout,
}

/// Short digit strings held inline (a world holds a card per cardholder).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Digits<const N: usize> {
    bytes: [u8; N],
    len: u8,
}

impl<const N: usize> Digits<N> {
    fn new(s: &str) -> Self {
        let mut bytes = [0u8; N];
        let len = s.len().min(N);
        bytes[..len].copy_from_slice(&s.as_bytes()[..len]);
        Self { bytes, len: len as u8 }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.bytes.get(..usize::from(self.len)).unwrap_or_default())
            .unwrap_or("")
    }
}

/// The personalisation data of a card, issuer secrets included.
#[derive(Clone, PartialEq, Eq)]
pub struct CardData {
    /// Primary account number.
    pub pan: String,
    psn: Digits<2>,
    expiry: Digits<4>,
    service_code: Digits<3>,
    pvki: Digits<1>,
    pvv: Digits<4>,
    cvv: Digits<3>,
    icvv: Digits<3>,
    pin: Digits<12>,
}

impl std::fmt::Debug for CardData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CardData({} exp {} sc {})",
            crate::protocol::pan::mask_pan(&self.pan),
            self.expiry(),
            self.service_code()
        )
    }
}

impl CardData {
    /// Personalises a card: computes PVV, CVV and iCVV with the issuer's keys.
    #[allow(clippy::too_many_arguments)]
    pub fn issue(
        pvk: &TdesKey,
        cvk: &TdesKey,
        pan: &str,
        psn: &str,
        expiry: &str,
        service_code: &str,
        pin: &str,
    ) -> Result<Self, CryptoError> {
        crate::protocol::crypto::check_digits(psn, "PAN sequence number", 2)?;
        Ok(Self {
            pan: pan.into(),
            psn: Digits::new(psn),
            expiry: Digits::new(expiry),
            service_code: Digits::new(service_code),
            pvki: Digits::new("1"),
            pvv: Digits::new(&crypto::pvv(pvk, pan, "1", pin)?),
            cvv: Digits::new(&crypto::cvv(cvk, pan, expiry, service_code)?),
            icvv: Digits::new(&crypto::icvv(cvk, pan, expiry)?),
            pin: Digits::new(pin),
        })
    }

    /// PAN sequence number, 2 digits.
    pub fn psn(&self) -> &str {
        self.psn.as_str()
    }
    /// Expiry YYMM.
    pub fn expiry(&self) -> &str {
        self.expiry.as_str()
    }
    /// Service code (201 chip, 101 magstripe only).
    pub fn service_code(&self) -> &str {
        self.service_code.as_str()
    }
    /// PIN verification key index.
    pub fn pvki(&self) -> &str {
        self.pvki.as_str()
    }
    /// PIN verification value.
    pub fn pvv(&self) -> &str {
        self.pvv.as_str()
    }
    /// Magstripe CVV.
    pub fn cvv(&self) -> &str {
        self.cvv.as_str()
    }
    /// Chip iCVV (service code 999).
    pub fn icvv(&self) -> &str {
        self.icvv.as_str()
    }
    /// The PIN (the card knows it for offline verification; so does its holder).
    pub fn pin(&self) -> &str {
        self.pin.as_str()
    }

    /// Track 2 of the magstripe (with the CVV).
    pub fn track2(&self) -> Track2 {
        Track2::new(
            &self.pan,
            self.expiry(),
            self.service_code(),
            self.pvki(),
            self.pvv(),
            self.cvv(),
        )
    }

    /// Track 2 equivalent data of the chip (tag 57, with the iCVV).
    pub fn track2_equivalent(&self) -> Track2 {
        Track2::new(
            &self.pan,
            self.expiry(),
            self.service_code(),
            self.pvki(),
            self.pvv(),
            self.icvv(),
        )
    }
}

/// The interface a session runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interface {
    /// Inserted in the chip slot.
    Contact,
    /// Tapped.
    Contactless,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selected {
    None,
    Directory,
    Application,
}

#[derive(Debug, Clone, Default)]
struct Session {
    gpo_done: bool,
    acs: u8,
    first: Option<(ArqcInput, [u8; 8])>,
    cvr: [u8; 4],
}

/// Personalisation bytes the card answers with again and again, encoded once.
#[derive(Debug, Clone)]
struct Encoded {
    tag57: Packed<19>,
    pan: Packed<10>,
    expiry: [u8; 3],
    service_code: [u8; 2],
    psn: u8,
    /// The brand of the number, which picks the application.
    brand: Option<Brand>,
}

/// Bytes kept inside the card up to `N` of them (a PAN, tag 57), so reading
/// them touches no memory of their own: among 100,000 cards that memory is
/// a cache miss (BENCHMARKS.md). Anything longer, which a card built from
/// odd data could carry, goes to the heap.
#[derive(Debug, Clone)]
enum Packed<const N: usize> {
    Inline(u8, [u8; N]),
    Heap(Box<[u8]>),
}

impl<const N: usize> Packed<N> {
    fn new(bytes: &[u8]) -> Self {
        let mut inline = [0u8; N];
        match (inline.get_mut(..bytes.len()), u8::try_from(bytes.len())) {
            (Some(head), Ok(len)) => {
                head.copy_from_slice(bytes);
                Self::Inline(len, inline)
            }
            _ => Self::Heap(bytes.into()),
        }
    }
}

impl<const N: usize> std::ops::Deref for Packed<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Self::Inline(len, bytes) => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Self::Heap(bytes) => bytes,
        }
    }
}

/// A card: personalisation, keys and live state.
#[derive(Debug, Clone)]
pub struct Card {
    /// What kind of card.
    pub profile: CardProfile,
    /// Personalisation, fixed once the card is made (`Card::new` encodes
    /// from it what the card answers with, its brand included).
    pub data: CardData,
    icc_mk: Option<TdesKey>,
    atc: u16,
    /// The ATC of the last transaction the issuer answered online (9F13).
    last_online_atc: u16,
    pin_tries_left: u8,
    interface: Interface,
    selected: Selected,
    session: Session,
    enc: Encoded,
    /// A damaged chip answers nothing, which sends the terminal to fallback.
    pub chip_broken: bool,
    /// The track a fraudster wrote onto this blank (see [`Card::forged`]).
    forged: Option<Box<str>>,
}

/// What a command produces: response data written into the output, or a
/// status word alone.
type Answer = Result<(), StatusWord>;

/// A cryptogram as the card returns it: CID, AC, ATC, CVR.
type Cryptogram = (u8, [u8; 8], [u8; 2], [u8; 4]);

const LABEL: &[u8] = b"VISA CREDIT";
const UNIONPAY_LABEL: &[u8] = b"UnionPay Debit";

impl Card {
    /// A card with its ICC master key (derived by the issuer from IMK-AC) and
    /// a starting ATC.
    pub fn new(profile: CardProfile, data: CardData, icc_mk: Option<TdesKey>, atc: u16) -> Self {
        let enc = Encoded {
            tag57: Packed::new(&data.track2_equivalent().to_tag57()),
            pan: Packed::new(&pan_bcd(&data.pan)),
            expiry: expiry_date(data.expiry()),
            service_code: service_code_bcd(data.service_code()),
            psn: bcd_byte(data.psn()),
            brand: Brand::of_pan(&data.pan),
        };
        Self {
            last_online_atc: 0,
            pin_tries_left: profile.pin_try_limit,
            profile,
            data,
            icc_mk,
            atc,
            interface: Interface::Contact,
            selected: Selected::None,
            session: Session::default(),
            enc,
            chip_broken: false,
            forged: None,
        }
    }

    /// A blank card with stolen track data written onto its magstripe, as a
    /// fraudster makes one. It has no working chip, so a copy of a chip card
    /// (service code 2xx) sends the terminal to fallback; a copy of chip data
    /// (tag 57) carries the iCVV where the magstripe has its CVV.
    pub fn forged(track: &str) -> Option<Self> {
        let t2 = Track2::parse(track).ok()?;
        let data = CardData {
            pan: t2.pan.clone(),
            psn: Digits::new("00"),
            expiry: Digits::new(&t2.expiry),
            service_code: Digits::new(&t2.service_code),
            pvki: Digits::new(t2.pvki().unwrap_or("")),
            pvv: Digits::new(t2.pvv().unwrap_or("")),
            cvv: Digits::new(t2.cvv().unwrap_or("")),
            icvv: Digits::new(""),
            pin: Digits::new(""),
        };
        let profile = CardProfile {
            chip: t2.has_chip(),
            contactless: false,
            cvm: Cvm::OnlinePin,
            pin_try_limit: 3,
            layout: Layout::Standard,
        };
        let mut card = Self::new(profile, data, None, 0);
        card.chip_broken = true;
        card.forged = Some(track.into());
        Some(card)
    }

    /// A chip clone written from stolen chip data (tag 57): the static data
    /// of the real card (no DDA, so a terminal that does not authenticate
    /// the card dynamically cannot tell), offline PIN first in its CVM list,
    /// and a key of the forger's own, so every cryptogram it makes is junk
    /// to the issuer. Its magstripe carries the same track.
    pub fn chip_clone(track: &str, key: TdesKey) -> Option<Self> {
        let copy = Self::forged(track)?;
        let data = CardData { icvv: copy.data.cvv, ..copy.data };
        let profile = CardProfile { chip: true, cvm: Cvm::OfflinePin, ..copy.profile };
        let mut card = Self::new(profile, data, Some(key), 0);
        card.forged = copy.forged;
        Some(card)
    }

    /// The application transaction counter.
    pub fn atc(&self) -> u16 {
        self.atc
    }

    /// Offline PIN tries left.
    pub fn pin_tries_left(&self) -> u8 {
        self.pin_tries_left
    }

    /// Powers the card up on an interface: a new session.
    pub fn power_on(&mut self, interface: Interface) -> Vec<u8> {
        self.interface = interface;
        self.selected = Selected::None;
        self.session = Session { cvr: [0x03, 0x00, 0x00, 0x00], ..Session::default() };
        if self.chip_broken || !self.profile.chip {
            return Vec::new();
        }
        // A plain T=1 ATR: TS, T0 (TD1, 10 historical bytes), TD1 (TD2), TD2 (T=1), the
        // historical bytes, and TCK (their XOR from T0 on is zero with it).
        vec![
            0x3B, 0x8A, 0x80, 0x01, 0x80, 0x31, 0x80, 0x65, 0xB0, 0x85, 0x03, 0x00, 0xEF, 0x12,
            0x94,
        ]
    }

    /// What a magstripe reader (or a skimmer) reads.
    pub fn magstripe(&self) -> String {
        if let Some(t) = &self.forged {
            return t.to_string();
        }
        self.data.track2().to_field35()
    }

    /// Answers one command APDU. A mute or absent chip returns no bytes.
    pub fn transmit(&mut self, capdu: &[u8]) -> Vec<u8> {
        if self.chip_broken
            || !self.profile.chip
            || (self.interface == Interface::Contactless && !self.profile.contactless)
        {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(96);
        let sw = match CommandView::parse(capdu) {
            Ok(cmd) => match self.process(&cmd, &mut out) {
                Ok(()) => StatusWord::OK,
                Err(sw) => {
                    out.clear();
                    sw
                }
            },
            Err(_) => StatusWord::WRONG_LENGTH,
        };
        out.extend_from_slice(&sw.bytes());
        out
    }

    fn process(&mut self, c: &CommandView<'_>, out: &mut Vec<u8>) -> Answer {
        if !matches!(c.cla, 0x00 | 0x80 | 0x84) {
            return Err(StatusWord::CLA_NOT_SUPPORTED);
        }
        match c.ins {
            ins::SELECT => self.select(c, out),
            ins::GET_PROCESSING_OPTIONS => self.gpo(c, out),
            ins::READ_RECORD => self.read_record(c, out),
            ins::GET_DATA => self.get_data(c, out),
            ins::VERIFY => self.verify(c),
            ins::GENERATE_AC => self.generate_ac(c, out),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    /// Its application: its brand's (Visa's for a number of no known brand).
    pub fn aid(&self) -> &'static [u8] {
        match self.enc.brand {
            Some(Brand::UnionPay) => &UNIONPAY_AID,
            Some(Brand::Mastercard) => &MASTERCARD_AID,
            Some(Brand::Visa) | None => &VISA_AID,
        }
    }

    fn label(&self) -> &'static [u8] {
        match self.enc.brand {
            Some(Brand::UnionPay) => UNIONPAY_LABEL,
            Some(Brand::Mastercard) => b"MASTERCARD",
            Some(Brand::Visa) | None => LABEL,
        }
    }

    fn directory_entry(&self, out: &mut Vec<u8>) {
        tlv::write_constructed(out, 0x61, |o| {
            tlv::write(o, 0x4F, self.aid());
            tlv::write(o, 0x50, self.label());
            tlv::write(o, 0x87, &[0x01]);
        });
    }

    fn select(&mut self, c: &CommandView<'_>, out: &mut Vec<u8>) -> Answer {
        if c.p1 != 0x04 {
            return Err(StatusWord::WRONG_P1P2);
        }
        let name = c.data;
        if name == PPSE && self.interface == Interface::Contactless {
            self.selected = Selected::Directory;
            tlv::write_constructed(out, 0x6F, |o| {
                tlv::write(o, 0x84, PPSE);
                tlv::write_constructed(o, 0xA5, |o| {
                    tlv::write_constructed(o, 0xBF0C, |o| self.directory_entry(o))
                });
            });
        } else if name == PSE && self.interface == Interface::Contact {
            self.selected = Selected::Directory;
            tlv::write_constructed(out, 0x6F, |o| {
                tlv::write(o, 0x84, PSE);
                tlv::write_constructed(o, 0xA5, |o| tlv::write(o, 0x88, &[0x01]));
            });
        } else if name == self.aid() {
            self.selected = Selected::Application;
            self.session.gpo_done = false;
            self.session.acs = 0;
            self.session.first = None;
            let contactless = self.interface == Interface::Contactless;
            tlv::write_constructed(out, 0x6F, |o| {
                tlv::write(o, 0x84, self.aid());
                tlv::write_constructed(o, 0xA5, |o| {
                    tlv::write(o, 0x50, self.label());
                    tlv::write(o, 0x87, &[0x01]);
                    if contactless {
                        tlv::write(o, 0x9F38, &pdol_contactless().encode());
                    }
                });
            });
        } else {
            return Err(StatusWord::FILE_NOT_FOUND);
        }
        Ok(())
    }

    fn gpo(&mut self, c: &CommandView<'_>, out: &mut Vec<u8>) -> Answer {
        if self.selected != Selected::Application || self.session.gpo_done {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let Some((&0x83, rest)) = c.data.split_first() else {
            return Err(StatusWord::WRONG_DATA);
        };
        let pdol_data = rest.get(1..).unwrap_or_default();
        self.session.gpo_done = true;
        let layout = self.profile.layout;
        if self.interface == Interface::Contact {
            match layout {
                Layout::Standard => tlv::write_constructed(out, 0x77, |o| {
                    tlv::write(o, 0x82, &layout.aip());
                    tlv::write(o, 0x94, &layout.afl());
                }),
                Layout::Alternate => {
                    // Format 1: AIP and AFL run together, no tags inside.
                    let mut v = layout.aip().to_vec();
                    v.extend_from_slice(&layout.afl());
                    tlv::write(out, 0x80, &v);
                }
            }
            return Ok(());
        }
        // Contactless: the card decides online and makes its ARQC in GPO.
        let pdol = pdol_contactless();
        let values = pdol.split(pdol_data).ok_or(StatusWord::WRONG_LENGTH)?;
        let get = |t: u32| values.iter().find(|v| v.0 == t).map(|v| v.1);
        let (cid, ac, atc, cvr) = self.cryptogram(cryptogram::ARQC, get)?;
        let enc = &self.enc;
        tlv::write_constructed(out, 0x77, |o| {
            tlv::write(o, 0x82, &layout.aip());
            tlv::write(o, 0x94, &[0x08, 0x02, 0x02, 0x00]);
            tlv::write(o, 0x57, &enc.tag57);
            tlv::write(o, 0x5F34, &[enc.psn]);
            tlv::write(o, 0x9F10, &iad(cvr));
            tlv::write(o, 0x9F26, &ac);
            tlv::write(o, 0x9F27, &[cid]);
            tlv::write(o, 0x9F36, &atc);
            tlv::write(o, 0x9F6C, &[0x00, 0x00]);
            tlv::write(o, 0x9F6E, &[0x20, 0x70, 0x00, 0x00]);
        });
        Ok(())
    }

    fn cvm_list(&self) -> &'static [u8] {
        // Amounts X and Y, then (method, condition) pairs. 0x02 enciphered PIN
        // online, 0x01 plaintext PIN by ICC, 0x1F no CVM; condition 0x03 =
        // "if the terminal supports the method".
        match (self.profile.layout, self.profile.cvm) {
            (Layout::Standard, Cvm::OnlinePin) => &[0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x03, 0x1F, 0x03],
            (Layout::Standard, Cvm::OfflinePin) => {
                &[0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x03, 0x02, 0x03, 0x1F, 0x03]
            }
            // X = 50.00: online PIN if over X (07), else no CVM (always, 00).
            (Layout::Alternate, _) => &[0, 0, 0x13, 0x88, 0, 0, 0, 0, 0x02, 0x07, 0x1F, 0x00],
        }
    }

    fn read_record(&mut self, c: &CommandView<'_>, out: &mut Vec<u8>) -> Answer {
        let (record, sfi) = (c.p1, c.p2 >> 3);
        if c.p2 & 0x07 != 0x04 {
            return Err(StatusWord::WRONG_P1P2);
        }
        let enc = &self.enc;
        let cvm = self.cvm_list();
        let layout = self.profile.layout;
        if layout == Layout::Alternate && self.selected == Selected::Application {
            match (sfi, record) {
                (2, 1) => tlv::write_constructed(out, 0x70, |o| {
                    tlv::write(o, 0x57, &enc.tag57);
                    tlv::write(o, 0x5F20, b"CARDHOLDER/ALT");
                }),
                (2, 2) => tlv::write_constructed(out, 0x70, |o| {
                    tlv::write(o, 0x5A, &enc.pan);
                    tlv::write(o, 0x5F24, &enc.expiry);
                    tlv::write(o, 0x5F28, &[0x01, 0x56]);
                    tlv::write(o, 0x5F30, &enc.service_code);
                    tlv::write(o, 0x5F34, &[enc.psn]);
                    tlv::write(o, 0x9F07, &[0xFF, 0x00]);
                }),
                (2, 3) => tlv::write_constructed(out, 0x70, |o| {
                    tlv::write(o, 0x8C, layout.cdol1());
                    tlv::write(o, 0x8D, layout.cdol2());
                    tlv::write(o, 0x8E, cvm);
                }),
                _ => return Err(StatusWord::RECORD_NOT_FOUND),
            }
            return Ok(());
        }
        match (self.selected, sfi, record) {
            (Selected::Directory, 1, 1) if self.interface == Interface::Contact => {
                tlv::write_constructed(out, 0x70, |o| self.directory_entry(o));
            }
            (Selected::Application, 1, 1) => tlv::write_constructed(out, 0x70, |o| {
                tlv::write(o, 0x57, &enc.tag57);
                tlv::write(o, 0x5F20, b"CARDHOLDER");
            }),
            (Selected::Application, 1, 2) => tlv::write_constructed(out, 0x70, |o| {
                tlv::write(o, 0x5A, &enc.pan);
                tlv::write(o, 0x5F24, &enc.expiry);
                tlv::write(o, 0x5F28, &[0x01, 0x56]);
                tlv::write(o, 0x5F30, &enc.service_code);
                tlv::write(o, 0x5F34, &[enc.psn]);
                tlv::write(o, 0x8C, &CDOL1);
                tlv::write(o, 0x8D, &CDOL2);
                tlv::write(o, 0x8E, cvm);
                tlv::write(o, 0x9F07, &[0xFF, 0x00]);
            }),
            _ => return Err(StatusWord::RECORD_NOT_FOUND),
        }
        Ok(())
    }

    fn get_data(&mut self, c: &CommandView<'_>, out: &mut Vec<u8>) -> Answer {
        match (c.p1, c.p2) {
            (0x9F, 0x36) => {
                out.extend_from_slice(&[0x9F, 0x36, 0x02, (self.atc >> 8) as u8, self.atc as u8])
            }
            (0x9F, 0x17) => out.extend_from_slice(&[0x9F, 0x17, 0x01, self.pin_tries_left]),
            (0x9F, 0x13) => {
                let [hi, lo] = self.last_online_atc.to_be_bytes();
                out.extend_from_slice(&[0x9F, 0x13, 0x02, hi, lo]);
            }
            _ => return Err(StatusWord::DATA_NOT_FOUND),
        }
        Ok(())
    }

    fn verify(&mut self, c: &CommandView<'_>) -> Answer {
        if c.p2 != 0x80 {
            return Err(StatusWord::WRONG_P1P2);
        }
        if self.pin_tries_left == 0 {
            return Err(StatusWord::AUTH_BLOCKED);
        }
        self.session.cvr[1] |= CvrBits::OFFLINE_PIN_PERFORMED;
        let pin = plaintext_pin(c.data).ok_or(StatusWord::WRONG_DATA)?;
        if pin == self.data.pin() {
            self.pin_tries_left = self.profile.pin_try_limit;
            self.session.cvr[1] &= !CvrBits::OFFLINE_PIN_FAILED;
            Ok(())
        } else {
            self.pin_tries_left -= 1;
            self.session.cvr[1] |= CvrBits::OFFLINE_PIN_FAILED;
            if self.pin_tries_left == 0 {
                self.session.cvr[2] |= CvrBits::PIN_TRY_LIMIT_EXCEEDED;
            }
            Err(StatusWord::pin_tries_left(self.pin_tries_left))
        }
    }

    /// Computes an application cryptogram over terminal data from `get`.
    /// Returns (CID, AC, ATC, CVR).
    fn cryptogram<'a>(
        &mut self,
        requested: u8,
        get: impl Fn(u32) -> Option<&'a [u8]>,
    ) -> Result<Cryptogram, StatusWord> {
        let Some(mk) = &self.icc_mk else {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        // The 2-byte ATC is spent: a real card refuses every cryptogram
        // from now on rather than wrap (the issuer would see a replay).
        if self.atc == u16::MAX {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        // Card risk management: a PIN-blocked card declines.
        let blocked = self.pin_tries_left == 0 && self.profile.cvm == Cvm::OfflinePin;
        let kind = if blocked || requested & 0xC0 == cryptogram::AAC {
            cryptogram::AAC
        } else {
            cryptogram::ARQC
        };
        let mut input = terminal_data(&get).ok_or(StatusWord::WRONG_DATA)?;
        self.atc = self.atc.wrapping_add(1);
        let atc = self.atc.to_be_bytes();
        let first_ac = if kind == cryptogram::ARQC { CvrBits::FIRST_AC_ARQC } else { 0 };
        self.session.cvr[1] =
            (self.session.cvr[1] & 0x0F) | CvrBits::SECOND_AC_NOT_REQUESTED | first_ac;
        input.aip = self.profile.layout.aip();
        input.atc = atc;
        input.cvr = self.session.cvr;
        let ac = crypto::arqc_cvn10(mk, &input);
        self.session.first = Some((input, ac));
        Ok((kind, ac, atc, self.session.cvr))
    }

    fn generate_ac(&mut self, c: &CommandView<'_>, out: &mut Vec<u8>) -> Answer {
        if self.selected != Selected::Application || !self.session.gpo_done {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let result = match self.session.acs {
            0 => {
                let dol = match self.profile.layout {
                    Layout::Standard => cdol1(),
                    Layout::Alternate => alt_cdol1(),
                };
                let values = dol.split(c.data).ok_or(StatusWord::WRONG_LENGTH)?;
                self.cryptogram(c.p1, |t| values.iter().find(|v| v.0 == t).map(|v| v.1))
            }
            1 => self.second_ac(c),
            _ => return Err(StatusWord::CONDITIONS_NOT_SATISFIED),
        };
        self.session.acs += 1;
        let (cid, ac, atc, cvr) = result?;
        tlv::write_constructed(out, 0x77, |o| {
            tlv::write(o, 0x9F27, &[cid]);
            tlv::write(o, 0x9F36, &atc);
            tlv::write(o, 0x9F26, &ac);
            tlv::write(o, 0x9F10, &iad(cvr));
        });
        Ok(())
    }

    /// The second GENERATE AC: check the issuer's ARPC, then TC or AAC.
    fn second_ac(&mut self, c: &CommandView<'_>) -> Result<Cryptogram, StatusWord> {
        let dol = match self.profile.layout {
            Layout::Standard => cdol2(),
            Layout::Alternate => alt_cdol2(),
        };
        let values = dol.split(c.data).ok_or(StatusWord::WRONG_LENGTH)?;
        let get = |t: u32| values.iter().find(|v| v.0 == t).map(|v| v.1).unwrap_or_default();
        let (Some(mk), Some((input, arqc))) = (&self.icc_mk, self.session.first) else {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        let arc: [u8; 2] = get(0x8A).try_into().map_err(|_| StatusWord::WRONG_DATA)?;
        let issuer = get(0x91);
        let issuer_ok = issuer.len() == 10
            && issuer.get(8..10) == Some(&arc[..])
            && issuer.get(..8) == Some(&crypto::arpc_method1(mk, arqc, arc)[..]);
        let approve = issuer_ok && arc == *b"00" && c.p1 & 0xC0 == cryptogram::TC;
        if !issuer_ok && issuer.iter().any(|&b| b != 0) {
            self.session.cvr[1] |= 0x08; // issuer authentication failed
        }
        if issuer_ok {
            // The issuer answered this transaction online.
            self.last_online_atc = u16::from_be_bytes(input.atc);
        }
        // One ATC per transaction (EMV Book 3): the second cryptogram
        // carries the first one's.
        let atc = input.atc;
        self.session.cvr[1] =
            (self.session.cvr[1] & 0x3F) | if approve { CvrBits::FIRST_AC_TC << 2 } else { 0 };
        let mut second = input;
        second.atc = atc;
        second.cvr = self.session.cvr;
        if let Ok(tvr) = get(0x95).try_into() {
            second.tvr = tvr;
        }
        let ac = crypto::arqc_cvn10(mk, &second);
        Ok((if approve { cryptogram::TC } else { cryptogram::AAC }, ac, atc, self.session.cvr))
    }
}

/// Encoded CDOL1 (see [`cdol1`]).
const CDOL1: [u8; 21] = [
    0x9F, 0x02, 0x06, 0x9F, 0x03, 0x06, 0x9F, 0x1A, 0x02, 0x95, 0x05, 0x5F, 0x2A, 0x02, 0x9A, 0x03,
    0x9C, 0x01, 0x9F, 0x37, 0x04,
];
/// The alternate layout's CDOL1: the CVN 10 inputs in another order, plus
/// the terminal type and the CVM results.
fn alt_cdol1() -> Dol {
    Dol(vec![
        (0x9F37, 4),
        (0x9F02, 6),
        (0x9F03, 6),
        (0x9F1A, 2),
        (0x95, 5),
        (0x5F2A, 2),
        (0x9A, 3),
        (0x9C, 1),
        (0x9F35, 1),
        (0x9F34, 3),
    ])
}

/// The alternate layout's CDOL2.
fn alt_cdol2() -> Dol {
    Dol(vec![(0x8A, 2), (0x91, 10), (0x9F37, 4), (0x95, 5)])
}

/// Encoded alternate CDOL1 (see [`alt_cdol1`]).
const ALT_CDOL1: [u8; 27] = [
    0x9F, 0x37, 0x04, 0x9F, 0x02, 0x06, 0x9F, 0x03, 0x06, 0x9F, 0x1A, 0x02, 0x95, 0x05, 0x5F, 0x2A,
    0x02, 0x9A, 0x03, 0x9C, 0x01, 0x9F, 0x35, 0x01, 0x9F, 0x34, 0x03,
];

/// Encoded alternate CDOL2 (see [`alt_cdol2`]).
const ALT_CDOL2: [u8; 9] = [0x8A, 0x02, 0x91, 0x0A, 0x9F, 0x37, 0x04, 0x95, 0x05];

/// Encoded CDOL2 (see [`cdol2`]).
const CDOL2: [u8; 9] = [0x8A, 0x02, 0x91, 0x0A, 0x95, 0x05, 0x9F, 0x37, 0x04];

/// The Visa IAD: length, DKI, CVN 10, then the CVR.
fn iad(cvr: [u8; 4]) -> [u8; 7] {
    [0x06, 0x01, 0x0A, cvr[0], cvr[1], cvr[2], cvr[3]]
}

/// The terminal's part of the cryptogram input (CDOL1 or PDOL values).
fn terminal_data<'a>(get: &impl Fn(u32) -> Option<&'a [u8]>) -> Option<ArqcInput> {
    fn take<'a, const N: usize>(get: &impl Fn(u32) -> Option<&'a [u8]>, t: u32) -> Option<[u8; N]> {
        get(t)?.try_into().ok()
    }
    Some(ArqcInput {
        amount: take(get, 0x9F02)?,
        amount_other: take(get, 0x9F03)?,
        country: take(get, 0x9F1A)?,
        tvr: take(get, 0x95)?,
        currency: take(get, 0x5F2A)?,
        date: take(get, 0x9A)?,
        txn_type: take::<1>(get, 0x9C)?[0],
        un: take(get, 0x9F37)?,
        ..ArqcInput::default()
    })
}

/// Recovers the PIN from a VERIFY plaintext PIN block (format 2): what
/// the card reads, and what a shimmer on the contacts reads too.
pub fn plaintext_pin(block: &[u8]) -> Option<String> {
    let (&first, rest) = block.split_first()?;
    if first >> 4 != 2 || block.len() != 8 {
        return None;
    }
    let len = usize::from(first & 0x0f);
    let digits: String = rest
        .iter()
        .flat_map(|b| [b >> 4, b & 0x0f])
        .take(len)
        .map(|n| char::from(b'0' + n.min(9)))
        .collect();
    (4..=12).contains(&len).then_some(digits)
}

fn bcd_byte(two_digits: &str) -> u8 {
    two_digits.bytes().fold(0u8, |acc, d| (acc << 4) | (d.wrapping_sub(b'0') & 0x0f))
}

fn pan_bcd(pan: &str) -> Vec<u8> {
    let mut nibbles: Vec<u8> = pan.bytes().map(|d| d.wrapping_sub(b'0') & 0x0f).collect();
    if nibbles.len() % 2 == 1 {
        nibbles.push(0x0f);
    }
    nibbles.chunks(2).map(|p| p.iter().fold(0, |a, n| (a << 4) | n)).collect()
}

fn expiry_date(yymm: &str) -> [u8; 3] {
    let b = yymm.as_bytes();
    let pair = |i: usize| {
        b.get(i..i + 2)
            .map_or(0, |p| p.iter().fold(0, |a, d| (a << 4) | (d.wrapping_sub(b'0') & 0x0f)))
    };
    // The last day of the month (YYMMDD, BCD): the card is good through it.
    let digit = |i: usize| b.get(i).map_or(0, |d| u32::from(d.wrapping_sub(b'0') % 10));
    let (year, month) = (digit(0) * 10 + digit(1), digit(2) * 10 + digit(3));
    let last = match month {
        4 | 6 | 9 | 11 => 0x30,
        2 if year % 4 == 0 => 0x29,
        2 => 0x28,
        _ => 0x31,
    };
    [pair(0), pair(2), last]
}

fn service_code_bcd(sc: &str) -> [u8; 2] {
    let v = pan_bcd(&format!("0{sc}"));
    [v.first().copied().unwrap_or(0), v.get(1).copied().unwrap_or(0)]
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoded_dols_match_the_dol_values() {
        assert_eq!(super::CDOL1.to_vec(), super::cdol1().encode());
        assert_eq!(super::CDOL2.to_vec(), super::cdol2().encode());
        assert_eq!(super::ALT_CDOL1.to_vec(), super::alt_cdol1().encode());
        assert_eq!(super::ALT_CDOL2.to_vec(), super::alt_cdol2().encode());
    }
}

#[cfg(test)]
mod clone_tests {
    use super::*;

    #[test]
    fn packed_bytes_read_back_whatever_their_length() {
        for len in [0usize, 1, 10, 11, 19, 20, 300] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            assert_eq!(&*Packed::<10>::new(&bytes), &bytes[..], "{len} bytes");
        }
        assert!(matches!(Packed::<10>::new(&[1; 10]), Packed::Inline(10, _)));
        assert!(matches!(Packed::<10>::new(&[1; 11]), Packed::Heap(_)));
    }

    #[test]
    fn brands_are_told_by_their_registered_provider_and_by_the_bin() {
        assert_eq!(Brand::of_aid(&VISA_AID), Some(Brand::Visa));
        assert_eq!(Brand::of_aid(&MASTERCARD_AID), Some(Brand::Mastercard));
        assert_eq!(Brand::of_aid(&UNIONPAY_AID), Some(Brand::UnionPay));
        assert_eq!(Brand::of_aid(&[0xA0, 0, 0, 0, 0x25, 0x01]), None, "Amex: not modelled");
        assert_eq!(Brand::of_aid(&[0xA0, 0, 0]), None, "too short to name a provider");
        for (pan, brand) in [
            ("4000000000000002", Some(Brand::Visa)),
            ("4999999999999999", Some(Brand::Visa)),
            ("5100000000000008", Some(Brand::Mastercard)),
            ("5599999999999999", Some(Brand::Mastercard)),
            ("2221000000000009", Some(Brand::Mastercard)),
            ("2720999999999999", Some(Brand::Mastercard)),
            ("2220999999999999", None),
            ("2721000000000000", None),
            ("5000000000000000", None),
            ("5600000000000000", None),
            ("6200000000000000", Some(Brand::UnionPay)),
            ("6011000000000004", None),
            ("3", None),
        ] {
            assert_eq!(Brand::of_pan(pan), brand, "{pan}");
        }
    }

    #[test]
    fn only_a_working_chip_answers_power_on_and_its_data_prints_masked() {
        let pvk = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let data =
            CardData::issue(&pvk, &pvk, "4761739001010119", "01", "2512", "101", "1234").unwrap();
        let shown = format!("{data:?}");
        assert!(
            shown.contains("476173******0119") && !shown.contains("4761739001010119"),
            "{shown}"
        );
        let stripe_only = CardProfile {
            chip: false,
            contactless: false,
            cvm: Cvm::OnlinePin,
            pin_try_limit: 3,
            layout: Layout::Standard,
        };
        let mut card = Card::new(stripe_only, data.clone(), None, 0);
        assert!(card.power_on(Interface::Contact).is_empty(), "no chip, no ATR");
        let mut chip = Card::new(CardProfile { chip: true, ..stripe_only }, data, Some(pvk), 0);
        assert!(!chip.power_on(Interface::Contact).is_empty());
        chip.chip_broken = true;
        assert!(chip.power_on(Interface::Contact).is_empty(), "a broken chip is mute");
    }

    #[test]
    fn each_card_selects_its_own_brands_application() {
        let pvk = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        for (pan, aid) in [
            ("4761739001010119", &VISA_AID[..]),
            ("5413330089020011", &MASTERCARD_AID[..]),
            ("6212345678901232", &UNIONPAY_AID[..]),
        ] {
            let data = CardData::issue(&pvk, &pvk, pan, "01", "2512", "201", "1234").unwrap();
            let profile = CardProfile {
                chip: true,
                contactless: false,
                cvm: Cvm::OnlinePin,
                pin_try_limit: 3,
                layout: Layout::Standard,
            };
            let mut card = Card::new(profile, data, Some(pvk.clone()), 0);
            assert_eq!(card.aid(), aid);
            card.power_on(Interface::Contact);
            let mut select = vec![0x00, 0xA4, 0x04, 0x00, aid.len() as u8];
            select.extend_from_slice(aid);
            select.push(0x00);
            let r = card.transmit(&select);
            assert!(r.ends_with(&[0x90, 0x00]), "{pan}: {r:02X?}");
            assert_eq!(tlv::find_deep(&r[..r.len() - 2], 0x84), Some(aid));
        }
    }

    #[test]
    fn a_chip_clone_carries_the_stolen_tag57_exactly() {
        let pvk = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let data =
            CardData::issue(&pvk, &pvk, "4761739001010119", "01", "2512", "201", "1234").unwrap();
        let real = data.track2_equivalent().to_field35();
        let key = TdesKey::from_hex("00112233445566778899AABBCCDDEEFF").unwrap();
        let clone = Card::chip_clone(&real, key).expect("a clone");
        assert_eq!(clone.data.track2_equivalent().to_field35(), real);
        // What it gives a terminal is the stolen tag 57, byte for byte.
        assert_eq!(*clone.enc.tag57, *data.track2_equivalent().to_tag57());
        assert!(clone.profile.chip && clone.profile.cvm == Cvm::OfflinePin);
    }
}
