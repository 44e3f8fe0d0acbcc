//! A payment card (sans-IO): the chip application answering the APDUs of
//! PROTOCOL.md section 7 (a Visa-like credit application, CVN 10), its
//! magstripe, and its contactless (qVSDC-like) behaviour.
//!
//! [`Card::transmit`] takes command bytes and returns response bytes; anything
//! malformed gets a status word, never a panic. The card keeps its own state
//! across sessions: the ATC rises on every GENERATE AC and the PIN try
//! counter survives power cycles, as on real cards.

use crate::protocol::apdu::{Command, Response, StatusWord, cryptogram, ins};
use crate::protocol::crypto::{self, ArqcInput, CryptoError, CvrBits, TdesKey};
use crate::protocol::tlv::{self, Dol, Tlv};
use crate::protocol::track::Track2;

/// The Visa credit AID.
pub const VISA_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10];
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
}

/// The personalisation data of a card, issuer secrets included.
#[derive(Clone, PartialEq, Eq)]
pub struct CardData {
    /// Primary account number.
    pub pan: String,
    /// PAN sequence number, 2 digits.
    pub psn: String,
    /// Expiry YYMM.
    pub expiry: String,
    /// Service code (201 chip, 101 magstripe only).
    pub service_code: String,
    /// PIN verification key index.
    pub pvki: String,
    /// PIN verification value.
    pub pvv: String,
    /// Magstripe CVV.
    pub cvv: String,
    /// Chip iCVV (service code 999).
    pub icvv: String,
    /// The PIN (the card knows it for offline verification).
    pub pin: String,
    /// Cardholder name.
    pub name: String,
}

impl std::fmt::Debug for CardData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CardData({} exp {} sc {})",
            crate::protocol::pan::mask_pan(&self.pan),
            self.expiry,
            self.service_code
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
        name: &str,
    ) -> Result<Self, CryptoError> {
        Ok(Self {
            pan: pan.into(),
            psn: psn.into(),
            expiry: expiry.into(),
            service_code: service_code.into(),
            pvki: "1".into(),
            pvv: crypto::pvv(pvk, pan, "1", pin)?,
            cvv: crypto::cvv(cvk, pan, expiry, service_code)?,
            icvv: crypto::icvv(cvk, pan, expiry)?,
            pin: pin.into(),
            name: name.into(),
        })
    }

    /// Track 2 of the magstripe (with the CVV).
    pub fn track2(&self) -> Track2 {
        Track2::new(&self.pan, &self.expiry, &self.service_code, &self.pvki, &self.pvv, &self.cvv)
    }

    /// Track 2 equivalent data of the chip (tag 57, with the iCVV).
    pub fn track2_equivalent(&self) -> Track2 {
        Track2::new(&self.pan, &self.expiry, &self.service_code, &self.pvki, &self.pvv, &self.icvv)
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

/// A card: personalisation, keys and live state.
#[derive(Debug, Clone)]
pub struct Card {
    /// What kind of card.
    pub profile: CardProfile,
    /// Personalisation.
    pub data: CardData,
    icc_mk: Option<TdesKey>,
    atc: u16,
    pin_tries_left: u8,
    interface: Interface,
    selected: Selected,
    session: Session,
    /// A damaged chip answers nothing, which sends the terminal to fallback.
    pub chip_broken: bool,
}

impl Card {
    /// A card with its ICC master key (derived by the issuer from IMK-AC) and
    /// a starting ATC.
    pub fn new(profile: CardProfile, data: CardData, icc_mk: Option<TdesKey>, atc: u16) -> Self {
        Self {
            pin_tries_left: profile.pin_try_limit,
            profile,
            data,
            icc_mk,
            atc,
            interface: Interface::Contact,
            selected: Selected::None,
            session: Session::default(),
            chip_broken: false,
        }
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
        // A plain T=1 ATR.
        vec![
            0x3B, 0x8A, 0x80, 0x01, 0x80, 0x31, 0x80, 0x65, 0xB0, 0x85, 0x03, 0x00, 0xEF, 0x12,
            0x0F, 0xFF,
        ]
    }

    /// What a magstripe reader (or a skimmer) reads.
    pub fn magstripe(&self) -> String {
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
        let resp = match Command::parse(capdu) {
            Ok(cmd) => self.process(&cmd),
            Err(_) => Response::status(StatusWord::WRONG_LENGTH),
        };
        resp.to_bytes()
    }

    fn process(&mut self, c: &Command) -> Response {
        if !matches!(c.cla, 0x00 | 0x80 | 0x84) {
            return Response::status(StatusWord::CLA_NOT_SUPPORTED);
        }
        match c.ins {
            ins::SELECT => self.select(c),
            ins::GET_PROCESSING_OPTIONS => self.gpo(c),
            ins::READ_RECORD => self.read_record(c),
            ins::GET_DATA => self.get_data(c),
            ins::VERIFY => self.verify(c),
            ins::GENERATE_AC => self.generate_ac(c),
            _ => Response::status(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    fn directory_entry(&self) -> Tlv {
        Tlv::constructed(
            0x61,
            vec![
                Tlv::primitive(0x4F, VISA_AID.to_vec()),
                Tlv::primitive(0x50, b"VISA CREDIT".to_vec()),
                Tlv::primitive(0x87, vec![0x01]),
            ],
        )
    }

    fn select(&mut self, c: &Command) -> Response {
        if c.p1 != 0x04 {
            return Response::status(StatusWord::WRONG_P1P2);
        }
        let name = c.data.as_slice();
        let fci = if name == PPSE && self.interface == Interface::Contactless {
            self.selected = Selected::Directory;
            Tlv::constructed(
                0x6F,
                vec![
                    Tlv::primitive(0x84, PPSE.to_vec()),
                    Tlv::constructed(
                        0xA5,
                        vec![Tlv::constructed(0xBF0C, vec![self.directory_entry()])],
                    ),
                ],
            )
        } else if name == PSE && self.interface == Interface::Contact {
            self.selected = Selected::Directory;
            Tlv::constructed(
                0x6F,
                vec![
                    Tlv::primitive(0x84, PSE.to_vec()),
                    Tlv::constructed(0xA5, vec![Tlv::primitive(0x88, vec![0x01])]),
                ],
            )
        } else if name == VISA_AID {
            self.selected = Selected::Application;
            self.session.gpo_done = false;
            self.session.acs = 0;
            self.session.first = None;
            let mut prop = vec![
                Tlv::primitive(0x50, b"VISA CREDIT".to_vec()),
                Tlv::primitive(0x87, vec![0x01]),
            ];
            if self.interface == Interface::Contactless {
                prop.push(Tlv::primitive(0x9F38, pdol_contactless().encode()));
            }
            Tlv::constructed(
                0x6F,
                vec![Tlv::primitive(0x84, VISA_AID.to_vec()), Tlv::constructed(0xA5, prop)],
            )
        } else {
            return Response::status(StatusWord::FILE_NOT_FOUND);
        };
        Response::ok(tlv::encode(&[fci]))
    }

    fn gpo(&mut self, c: &Command) -> Response {
        if self.selected != Selected::Application || self.session.gpo_done {
            return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let Some((&0x83, rest)) = c.data.split_first() else {
            return Response::status(StatusWord::WRONG_DATA);
        };
        let pdol_data = rest.get(1..).unwrap_or_default();
        self.session.gpo_done = true;
        if self.interface == Interface::Contact {
            let body = vec![
                Tlv::primitive(0x82, AIP.to_vec()),
                Tlv::primitive(0x94, vec![0x08, 0x01, 0x02, 0x00]),
            ];
            return Response::ok(tlv::encode(&[Tlv::constructed(0x77, body)]));
        }
        // Contactless: the card decides online and makes its ARQC in GPO.
        let Some(values) = pdol_contactless().split(pdol_data) else {
            return Response::status(StatusWord::WRONG_LENGTH);
        };
        let get = |t: u32| values.iter().find(|v| v.0 == t).map(|v| v.1);
        let (cid, ac, atc, iad) = match self.cryptogram(cryptogram::ARQC, get) {
            Ok(x) => x,
            Err(sw) => return Response::status(sw),
        };
        let body = vec![
            Tlv::primitive(0x82, AIP.to_vec()),
            Tlv::primitive(0x94, vec![0x08, 0x02, 0x02, 0x00]),
            Tlv::primitive(0x57, self.data.track2_equivalent().to_tag57()),
            Tlv::primitive(0x5F34, vec![bcd_byte(&self.data.psn)]),
            Tlv::primitive(0x9F10, iad),
            Tlv::primitive(0x9F26, ac.to_vec()),
            Tlv::primitive(0x9F27, vec![cid]),
            Tlv::primitive(0x9F36, atc.to_vec()),
            Tlv::primitive(0x9F6C, vec![0x00, 0x00]),
            Tlv::primitive(0x9F6E, vec![0x20, 0x70, 0x00, 0x00]),
        ];
        Response::ok(tlv::encode(&[Tlv::constructed(0x77, body)]))
    }

    fn cvm_list(&self) -> Vec<u8> {
        // Amounts X and Y, then (method, condition) pairs. 0x02 enciphered PIN
        // online, 0x01 plaintext PIN by ICC, 0x1F no CVM; condition 0x03 =
        // "if the terminal supports the method", 0x00 = always.
        let mut v = vec![0; 8];
        match self.profile.cvm {
            Cvm::OnlinePin => v.extend_from_slice(&[0x02, 0x03, 0x1F, 0x03]),
            Cvm::OfflinePin => v.extend_from_slice(&[0x01, 0x03, 0x02, 0x03, 0x1F, 0x03]),
        }
        v
    }

    fn read_record(&mut self, c: &Command) -> Response {
        let (record, sfi) = (c.p1, c.p2 >> 3);
        if c.p2 & 0x07 != 0x04 {
            return Response::status(StatusWord::WRONG_P1P2);
        }
        let body = match (self.selected, sfi, record) {
            (Selected::Directory, 1, 1) if self.interface == Interface::Contact => {
                vec![self.directory_entry()]
            }
            (Selected::Application, 1, 1) => vec![
                Tlv::primitive(0x57, self.data.track2_equivalent().to_tag57()),
                Tlv::primitive(0x5F20, self.data.name.as_bytes().to_vec()),
            ],
            (Selected::Application, 1, 2) => vec![
                Tlv::primitive(0x5A, pan_bcd(&self.data.pan)),
                Tlv::primitive(0x5F24, expiry_date(&self.data.expiry)),
                Tlv::primitive(0x5F28, vec![0x01, 0x56]),
                Tlv::primitive(0x5F30, service_code_bcd(&self.data.service_code)),
                Tlv::primitive(0x5F34, vec![bcd_byte(&self.data.psn)]),
                Tlv::primitive(0x8C, cdol1().encode()),
                Tlv::primitive(0x8D, cdol2().encode()),
                Tlv::primitive(0x8E, self.cvm_list()),
                Tlv::primitive(0x9F07, vec![0xFF, 0x00]),
            ],
            _ => return Response::status(StatusWord::RECORD_NOT_FOUND),
        };
        Response::ok(tlv::encode(&[Tlv::constructed(0x70, body)]))
    }

    fn get_data(&mut self, c: &Command) -> Response {
        match (c.p1, c.p2) {
            (0x9F, 0x36) => Response::ok([0x9F, 0x36, 0x02, (self.atc >> 8) as u8, self.atc as u8]),
            (0x9F, 0x17) => Response::ok([0x9F, 0x17, 0x01, self.pin_tries_left]),
            _ => Response::status(StatusWord::DATA_NOT_FOUND),
        }
    }

    fn verify(&mut self, c: &Command) -> Response {
        if c.p2 != 0x80 {
            return Response::status(StatusWord::WRONG_P1P2);
        }
        if self.pin_tries_left == 0 {
            return Response::status(StatusWord::AUTH_BLOCKED);
        }
        self.session.cvr[1] |= CvrBits::OFFLINE_PIN_PERFORMED;
        let Some(pin) = plaintext_pin(&c.data) else {
            return Response::status(StatusWord::WRONG_DATA);
        };
        if pin == self.data.pin {
            self.pin_tries_left = self.profile.pin_try_limit;
            self.session.cvr[1] &= !CvrBits::OFFLINE_PIN_FAILED;
            Response::status(StatusWord::OK)
        } else {
            self.pin_tries_left -= 1;
            self.session.cvr[1] |= CvrBits::OFFLINE_PIN_FAILED;
            if self.pin_tries_left == 0 {
                self.session.cvr[2] |= CvrBits::PIN_TRY_LIMIT_EXCEEDED;
            }
            Response::status(StatusWord::pin_tries_left(self.pin_tries_left))
        }
    }

    /// Computes an application cryptogram over terminal data from `get`.
    /// Returns (CID, AC, ATC, IAD).
    fn cryptogram<'a>(
        &mut self,
        requested: u8,
        get: impl Fn(u32) -> Option<&'a [u8]>,
    ) -> Result<(u8, [u8; 8], [u8; 2], Vec<u8>), StatusWord> {
        let Some(mk) = &self.icc_mk else {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        // Card risk management: a PIN-blocked card declines.
        let kind = if self.pin_tries_left == 0 && self.profile.cvm == Cvm::OfflinePin {
            cryptogram::AAC
        } else {
            match requested & 0xC0 {
                cryptogram::AAC => cryptogram::AAC,
                _ => cryptogram::ARQC,
            }
        };
        self.atc = self.atc.wrapping_add(1);
        let atc = self.atc.to_be_bytes();
        self.session.cvr[1] = (self.session.cvr[1] & 0x0F)
            | CvrBits::SECOND_AC_NOT_REQUESTED
            | if kind == cryptogram::ARQC { CvrBits::FIRST_AC_ARQC } else { 0 };
        let mut input = terminal_data(&get).ok_or(StatusWord::WRONG_DATA)?;
        input.aip = AIP;
        input.atc = atc;
        input.cvr = self.session.cvr;
        let ac = crypto::arqc_cvn10(mk, &input);
        self.session.first = Some((input, ac));
        let mut iad = vec![0x06, 0x01, 0x0A];
        iad.extend_from_slice(&self.session.cvr);
        Ok((kind, ac, atc, iad))
    }

    fn generate_ac(&mut self, c: &Command) -> Response {
        if self.selected != Selected::Application || !self.session.gpo_done {
            return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let result = match self.session.acs {
            0 => {
                let Some(values) = cdol1().split(&c.data) else {
                    return Response::status(StatusWord::WRONG_LENGTH);
                };
                self.cryptogram(c.p1, |t| values.iter().find(|v| v.0 == t).map(|v| v.1))
            }
            1 => self.second_ac(c),
            _ => return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED),
        };
        self.session.acs += 1;
        match result {
            Ok((cid, ac, atc, iad)) => Response::ok(tlv::encode(&[Tlv::constructed(
                0x77,
                vec![
                    Tlv::primitive(0x9F27, vec![cid]),
                    Tlv::primitive(0x9F36, atc.to_vec()),
                    Tlv::primitive(0x9F26, ac.to_vec()),
                    Tlv::primitive(0x9F10, iad),
                ],
            )])),
            Err(sw) => Response::status(sw),
        }
    }

    /// The second GENERATE AC: check the issuer's ARPC, then TC or AAC.
    fn second_ac(&mut self, c: &Command) -> Result<(u8, [u8; 8], [u8; 2], Vec<u8>), StatusWord> {
        let Some(values) = cdol2().split(&c.data) else {
            return Err(StatusWord::WRONG_LENGTH);
        };
        let get = |t: u32| values.iter().find(|v| v.0 == t).map(|v| v.1).unwrap_or_default();
        let (Some(mk), Some((input, arqc))) = (&self.icc_mk, self.session.first) else {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        let arc: [u8; 2] = get(0x8A).try_into().map_err(|_| StatusWord::WRONG_DATA)?;
        let iad = get(0x91);
        let issuer_ok = iad.len() == 10
            && iad.get(8..10) == Some(&arc[..])
            && iad.get(..8) == Some(&crypto::arpc_method1(mk, arqc, arc)[..]);
        let approve = issuer_ok && arc == *b"00" && c.p1 & 0xC0 == cryptogram::TC;
        if !issuer_ok && iad.iter().any(|&b| b != 0) {
            self.session.cvr[1] |= 0x08; // issuer authentication failed
        }
        self.atc = self.atc.wrapping_add(1);
        let atc = self.atc.to_be_bytes();
        self.session.cvr[1] =
            (self.session.cvr[1] & 0x3F) | if approve { CvrBits::FIRST_AC_TC << 2 } else { 0 };
        let mut second = input;
        second.atc = atc;
        second.cvr = self.session.cvr;
        if let Ok(tvr) = get(0x95).try_into() {
            second.tvr = tvr;
        }
        let ac = crypto::arqc_cvn10(mk, &second);
        let mut iad_out = vec![0x06, 0x01, 0x0A];
        iad_out.extend_from_slice(&self.session.cvr);
        Ok((if approve { cryptogram::TC } else { cryptogram::AAC }, ac, atc, iad_out))
    }
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

/// Recovers the PIN from a VERIFY plaintext PIN block (format 2).
fn plaintext_pin(block: &[u8]) -> Option<String> {
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

fn expiry_date(yymm: &str) -> Vec<u8> {
    let mut v: Vec<u8> = yymm
        .as_bytes()
        .chunks(2)
        .map(|p| p.iter().fold(0, |a, d| (a << 4) | (d.wrapping_sub(b'0') & 0x0f)))
        .collect();
    v.push(0x31);
    v
}

fn service_code_bcd(sc: &str) -> Vec<u8> {
    pan_bcd(&format!("0{sc}"))
}
