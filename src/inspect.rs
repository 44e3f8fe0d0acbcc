//! The message inspector: decode one captured frame, explain every field,
//! and check its MAC, PIN block, cryptogram and CVV with whatever keys are
//! at hand. The `inspect` command and the GUI's packet view both use it.

use serde::Serialize;

use crate::keys::KeySet;
use crate::protocol::crypto::{self, ArqcInput};
use crate::protocol::emv_tags::tag_name;
use crate::protocol::iso8583::{DecodeError, FieldKind, MacCheck, Message, Spec, verify_mac};
use crate::protocol::pan::mask_pan;
use crate::protocol::response::ResponseCode;
use crate::protocol::tlv::{self, Tlv, TlvValue};
use crate::protocol::track::Track2;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Checked and right.
    Valid,
    /// Checked and wrong.
    Invalid,
    /// The message has no such element.
    Absent,
    /// The key needed was not given.
    Unchecked,
}

/// A check's verdict and the evidence, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The verdict.
    pub status: Status,
    /// Why, for the human view (never a clear PIN or a key).
    pub detail: String,
}

impl Check {
    fn new(status: Status, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into() }
    }
}

/// What the inspector found on each element it can check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checks {
    /// Field 64 or 128 under the TAK.
    pub mac: Check,
    /// Field 52 under the TPK, then the PVV under the PVK against track 2.
    pub pin: Check,
    /// Tag 9F26 of field 55 under the ICC key derived from IMK-AC.
    pub arqc: Check,
    /// The CVV (or iCVV) in track 2 under the CVK.
    pub cvv: Check,
}

/// One decoded field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldView {
    /// Field number.
    pub number: u8,
    /// Its name in the dialect.
    pub name: String,
    /// Byte offset of the field on the wire.
    pub offset: usize,
    /// True for binary fields (shown as hex).
    pub binary: bool,
    /// The value.
    pub value: Vec<u8>,
}

impl FieldView {
    /// The value as in the vectors: text as is, binary as upper-case hex.
    pub fn text(&self) -> String {
        if self.binary {
            hex::encode_upper(&self.value)
        } else {
            String::from_utf8_lossy(&self.value).into_owned()
        }
    }
}

/// A decoded frame with its checks.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The dialect used.
    pub spec: String,
    /// Length of the message in bytes (without a framing header).
    pub length: usize,
    /// The decoded message.
    pub message: Message,
    /// Every field in order.
    pub fields: Vec<FieldView>,
    /// Field 55 as TLV, or why it does not parse.
    pub icc: Option<Result<Vec<Tlv>, String>>,
    /// The checks.
    pub checks: Checks,
}

/// Decodes `wire` under `spec` and runs every check the keys allow.
pub fn inspect(spec: &Spec, wire: &[u8], keys: &KeySet) -> Result<Inspection, DecodeError> {
    let (message, layout) = spec.decode_with_layout(wire)?;
    let fields = message
        .fields()
        .map(|(n, v)| FieldView {
            number: n,
            name: spec.field_name(n).to_string(),
            offset: layout.field(n).map_or(0, |r| r.start),
            binary: spec.field(n).is_some_and(|f| f.kind == FieldKind::B),
            value: v.to_vec(),
        })
        .collect();
    let icc = message.icc_data().map(|d| tlv::parse(d).map_err(|e| e.to_string()));
    let checks = Checks {
        mac: check_mac(spec, wire, &message, keys),
        pin: check_pin(&message, keys),
        arqc: check_arqc(&message, keys),
        cvv: check_cvv(&message, keys),
    };
    Ok(Inspection {
        spec: spec.name().to_string(),
        length: wire.len(),
        message,
        fields,
        icc,
        checks,
    })
}

fn kcv(k: &crypto::TdesKey) -> String {
    hex::encode_upper(k.kcv())
}

fn check_mac(spec: &Spec, wire: &[u8], m: &Message, keys: &KeySet) -> Check {
    let field = if m.has(128) { 128 } else { 64 };
    if m.mac().is_none() {
        return Check::new(Status::Absent, "no field 64 or 128");
    }
    let Some(tak) = &keys.tak else {
        return Check::new(Status::Unchecked, "no TAK given");
    };
    match verify_mac(spec, wire, m, tak) {
        MacCheck::Valid => {
            Check::new(Status::Valid, format!("field {field} matches under TAK (KCV {})", kcv(tak)))
        }
        MacCheck::Invalid => Check::new(
            Status::Invalid,
            format!(
                "field {field} does not match under TAK (KCV {}): the message was altered or the key is wrong",
                kcv(tak)
            ),
        ),
        MacCheck::Absent => Check::new(Status::Absent, "no MAC"),
    }
}

fn track2(m: &Message) -> Option<Track2> {
    Track2::parse(m.track2()?).ok()
}

fn check_pin(m: &Message, keys: &KeySet) -> Check {
    let Some(block) = m.pin_block() else {
        return Check::new(Status::Absent, "no field 52");
    };
    let (Some(tpk), Some(pvk)) = (&keys.tpk, &keys.pvk) else {
        return Check::new(Status::Unchecked, "needs both TPK and PVK");
    };
    let Some(pan) = m.card_pan() else {
        return Check::new(Status::Invalid, "no PAN (field 2 or 35) to decode the PIN block with");
    };
    let pin = match crypto::decode_pin_block_iso0(tpk, block, pan) {
        Ok(p) => p,
        Err(e) => {
            return Check::new(
                Status::Invalid,
                format!("field 52 under TPK (KCV {}): {e}", kcv(tpk)),
            );
        }
    };
    let Some(t2) = track2(m) else {
        return Check::new(
            Status::Unchecked,
            "PIN block decodes, but there is no track 2 with a PVV to compare",
        );
    };
    let (Some(pvki), Some(card_pvv)) = (t2.pvki(), t2.pvv()) else {
        return Check::new(Status::Invalid, "track 2 has no PVKI and PVV");
    };
    match crypto::pvv(pvk, pan, pvki, &pin) {
        Ok(pvv) if pvv == card_pvv => {
            Check::new(Status::Valid, format!("PVV {pvv} from the PIN matches track 2"))
        }
        Ok(pvv) => Check::new(
            Status::Invalid,
            format!("PVV {pvv} from the PIN, track 2 has {card_pvv}: wrong PIN"),
        ),
        Err(e) => Check::new(Status::Invalid, e.to_string()),
    }
}

fn pan_sequence(m: &Message) -> String {
    if let Some(psn) = m.pan_sequence().filter(|p| p.len() >= 2) {
        return psn[psn.len() - 2..].to_string();
    }
    m.icc_data()
        .and_then(|d| tlv::find(d, 0x5F34))
        .and_then(|v| v.first())
        .map_or_else(|| "00".into(), |b| format!("{b:02X}"))
}

fn check_arqc(m: &Message, keys: &KeySet) -> Check {
    let Some(icc) = m.icc_data() else {
        return Check::new(Status::Absent, "no field 55");
    };
    let Some(ac) = tlv::find(icc, 0x9F26) else {
        return Check::new(Status::Absent, "field 55 has no 9F26");
    };
    let Some(imk) = &keys.imk_ac else {
        return Check::new(Status::Unchecked, "no IMK-AC given");
    };
    let Some(pan) = m.card_pan() else {
        return Check::new(Status::Invalid, "no PAN (field 2 or 35)");
    };
    let psn = pan_sequence(m);
    let mk = match crypto::derive_icc_master_key(imk, pan, &psn) {
        Ok(k) => k,
        Err(e) => return Check::new(Status::Invalid, e.to_string()),
    };
    let input = match ArqcInput::from_tags(|t| tlv::find(icc, t)) {
        Ok(i) => i,
        Err(e) => return Check::new(Status::Invalid, e.to_string()),
    };
    let kind = match tlv::find(icc, 0x9F27).and_then(|v| v.first()).map(|b| b & 0xC0) {
        Some(0x40) => "TC",
        Some(0x00) => "AAC",
        _ => "ARQC",
    };
    let atc = hex::encode_upper(input.atc);
    if crypto::verify_arqc_cvn10(&mk, &input, ac) {
        Check::new(Status::Valid, format!("{kind} matches (CVN 10, PSN {psn}, ATC {atc})"))
    } else {
        let want = hex::encode_upper(crypto::arqc_cvn10(&mk, &input));
        Check::new(
            Status::Invalid,
            format!(
                "{kind} {} but the card key gives {want} (PSN {psn}, ATC {atc})",
                hex::encode_upper(ac)
            ),
        )
    }
}

fn check_cvv(m: &Message, keys: &KeySet) -> Check {
    let Some(t2) = track2(m) else {
        return Check::new(Status::Absent, "no track 2");
    };
    let Some(cvk) = &keys.cvk else {
        return Check::new(Status::Unchecked, "no CVK given");
    };
    let Some(found) = t2.cvv() else {
        return Check::new(Status::Invalid, "track 2 has no CVV");
    };
    let cvv = crypto::cvv(cvk, &t2.pan, &t2.expiry, &t2.service_code).unwrap_or_default();
    let icvv = crypto::icvv(cvk, &t2.pan, &t2.expiry).unwrap_or_default();
    if found == cvv {
        Check::new(Status::Valid, format!("magstripe CVV for service code {}", t2.service_code))
    } else if found == icvv {
        Check::new(Status::Valid, "chip iCVV (track 2 equivalent data)")
    } else {
        Check::new(Status::Invalid, "neither the CVV nor the iCVV: not made by the issuer")
    }
}

/// What a field's value means, for the human view.
fn explain(m: &Message, n: u8, text: &str) -> Option<String> {
    Some(match n {
        3 => match text.get(..2)? {
            "00" => "purchase".into(),
            "20" => "refund".into(),
            "01" => "cash withdrawal".into(),
            "31" => "balance inquiry".into(),
            _ => "unknown processing code".into(),
        },
        4 => {
            let v: u64 = text.parse().ok()?;
            format!(
                "{}.{:02}{}",
                v / 100,
                v % 100,
                m.currency().map(|c| format!(" {}", currency_name(c))).unwrap_or_default()
            )
        }
        7 if text.len() == 10 => format!(
            "{}-{} {}:{}:{} UTC",
            &text[0..2],
            &text[2..4],
            &text[4..6],
            &text[6..8],
            &text[8..10]
        ),
        22 => match text.get(..2)? {
            "05" => "chip".into(),
            "07" => "contactless chip".into(),
            "02" | "90" => "magstripe".into(),
            "80" => "magstripe fallback after a chip failure".into(),
            "01" => "manual key entry".into(),
            _ => "unknown entry mode".into(),
        },
        39 => ResponseCode::from_code(text).meaning().into(),
        49 => currency_name(text).into(),
        70 => match text {
            "001" => "sign-on".into(),
            "002" => "sign-off".into(),
            "301" => "echo test".into(),
            _ => return None,
        },
        90 => {
            let od = m.original_data()?;
            format!("reverses {} STAN {:06} sent {}", od.mti, od.stan, od.transmission_time)
        }
        _ => return None,
    })
}

fn currency_name(code: &str) -> &'static str {
    match code {
        "156" => "CNY",
        "344" => "HKD",
        "392" => "JPY",
        "410" => "KRW",
        "702" => "SGD",
        "826" => "GBP",
        "840" => "USD",
        "978" => "EUR",
        _ => "",
    }
}

fn mti_meaning(m: &Message) -> &'static str {
    match m.mti().as_str() {
        "0100" => "authorisation request",
        "0110" => "authorisation response",
        "0200" => "financial request",
        "0210" => "financial response",
        "0220" => "financial advice",
        "0400" => "reversal",
        "0410" => "reversal response",
        "0420" => "reversal advice",
        "0800" => "network management request",
        "0810" => "network management response",
        _ => "",
    }
}

fn explain_tag(tag: u32, v: &[u8]) -> Option<String> {
    Some(match tag {
        0x9F27 => match v.first()? & 0xC0 {
            0x80 => "ARQC: go online".into(),
            0x40 => "TC: approve".into(),
            0x00 => "AAC: decline".into(),
            _ => "RFU".into(),
        },
        0x9F10 if v.len() >= 7 => {
            format!("CVN {:02X}, CVR {}", v.get(2)?, hex::encode_upper(v.get(3..7)?))
        }
        0x91 if v.len() >= 10 => {
            format!(
                "ARPC {}, ARC \"{}\"",
                hex::encode_upper(v.get(..8)?),
                String::from_utf8_lossy(v.get(8..10)?)
            )
        }
        0x57 | 0x5A => return Some(mask_pan(&hex::encode_upper(v).replace('F', ""))),
        0x9C => match v.first()? {
            0x00 => "goods and services".into(),
            0x01 => "cash".into(),
            0x20 => "refund".into(),
            _ => return None,
        },
        _ => return None,
    })
}

/// Fields that carry a PAN or track data: 2 (PAN), 34 (extended PAN),
/// 35 and 45 (tracks 2 and 1), 36 (track 3).
const CARD_DATA_FIELDS: [u8; 5] = [2, 34, 35, 36, 45];

/// Field 55 tags that carry a PAN or track data: 57 (track 2 equivalent),
/// 5A (PAN), 56 and 9F6B (tracks 1 and 2 of contactless magnetic-stripe mode).
const CARD_DATA_TAGS: [u32; 4] = [0x57, 0x5A, 0x56, 0x9F6B];

impl Inspection {
    /// The one-object JSON report: fields keyed by number as in the vectors,
    /// field 55 tag by tag, and the check verdicts. PAN and track data are
    /// masked (first 6, last 4) as in the human view, since JSON ends up in
    /// tickets and logs; `reveal` keeps them whole, for comparing a frame
    /// with a vector file.
    pub fn to_json(&self, reveal: bool) -> serde_json::Value {
        // Field 55 carries the chip's own copies of the PAN and track 2 (5A,
        // 57) in some frames: then its raw hex would give them away.
        let icc_card_data = match &self.icc {
            Some(Ok(tags)) => {
                let mut found = false;
                flatten_tags(tags, &mut |t, _| found |= CARD_DATA_TAGS.contains(&t));
                found
            }
            _ => false,
        };
        let mut fields = serde_json::Map::new();
        for f in &self.fields {
            let text = f.text();
            let shown = if reveal {
                text
            } else if CARD_DATA_FIELDS.contains(&f.number) {
                mask_pan(&text)
            } else if f.number == 55 && icc_card_data {
                format!("{} bytes of BER-TLV with card data: see icc (masked)", f.value.len())
            } else {
                text
            };
            fields.insert(f.number.to_string(), shown.into());
        }
        let mut out = serde_json::Map::new();
        out.insert("mti".into(), self.message.mti().as_str().into());
        out.insert("spec".into(), self.spec.clone().into());
        out.insert("fields".into(), fields.into());
        if let Some(Ok(tags)) = &self.icc {
            let mut icc = serde_json::Map::new();
            flatten_tags(tags, &mut |t, v| {
                let hex = hex::encode_upper(v);
                let shown =
                    if !reveal && CARD_DATA_TAGS.contains(&t) { mask_pan(&hex) } else { hex };
                icc.insert(tlv::tag_hex(t), shown.into());
            });
            out.insert("icc".into(), icc.into());
        }
        let c = &self.checks;
        let status = |c: &Check| serde_json::to_value(c.status).unwrap_or_default();
        out.insert(
            "checks".into(),
            serde_json::json!({"mac": status(&c.mac), "pin": status(&c.pin), "arqc": status(&c.arqc), "cvv": status(&c.cvv)}),
        );
        out.into()
    }

    /// The human view: every field named and explained, PAN and track data
    /// masked, field 55 tag by tag, then the checks with their evidence.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = self.render_fields();
        let _ = writeln!(s, "checks");
        for (name, c) in [
            ("MAC", &self.checks.mac),
            ("PIN", &self.checks.pin),
            ("ARQC", &self.checks.arqc),
            ("CVV", &self.checks.cvv),
        ] {
            let status = serde_json::to_value(c.status)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let _ = writeln!(s, "  {name:<5} {status:<9} {}", c.detail);
        }
        s
    }

    /// The fields alone (what a report shows next to the host's own
    /// verdicts, where no keys are at hand).
    pub fn render_fields(&self) -> String {
        use std::fmt::Write;
        let m = &self.message;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "MTI {}  {}  ({}, {} bytes)",
            m.mti(),
            mti_meaning(m),
            self.spec,
            self.length
        );
        let (p, sec) = m.bitmaps();
        let _ = write!(s, "bitmap {p:016X}");
        if m.has_secondary() {
            let _ = write!(s, " {sec:016X}");
        }
        let _ = writeln!(s);
        for f in &self.fields {
            let raw = f.text();
            let shown = match (f.number, &self.icc) {
                (n, _) if CARD_DATA_FIELDS.contains(&n) => mask_pan(&raw),
                (55, Some(Ok(_))) => format!("{} bytes of BER-TLV:", f.value.len()),
                _ => raw.clone(),
            };
            let why = explain(m, f.number, &raw).map(|w| format!("  ({w})")).unwrap_or_default();
            let _ = writeln!(s, "{:>4}  {:<36} {shown}{why}", f.number, truncate(&f.name, 36));
            if f.number == 55 {
                match &self.icc {
                    Some(Ok(tags)) => render_tags(&mut s, tags, 1),
                    Some(Err(e)) => {
                        let _ = writeln!(s, "        field 55 is not valid BER-TLV: {e}");
                    }
                    None => {}
                }
            }
        }
        s
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn flatten_tags(tags: &[Tlv], f: &mut impl FnMut(u32, &[u8])) {
    for t in tags {
        match &t.value {
            TlvValue::Primitive(v) => f(t.tag, v),
            TlvValue::Constructed(c) => flatten_tags(c, f),
        }
    }
}

fn render_tags(s: &mut String, tags: &[Tlv], depth: usize) {
    use std::fmt::Write;
    for t in tags {
        let pad = "    ".repeat(depth + 1);
        match &t.value {
            TlvValue::Primitive(v) => {
                let shown = match explain_tag(t.tag, v) {
                    Some(w) if matches!(t.tag, 0x57 | 0x5A) => w,
                    Some(w) => format!("{}  ({w})", hex::encode_upper(v)),
                    None if CARD_DATA_TAGS.contains(&t.tag) => mask_pan(&hex::encode_upper(v)),
                    None => hex::encode_upper(v),
                };
                let _ =
                    writeln!(s, "{pad}{:<6} {:<32} {shown}", tlv::tag_hex(t.tag), tag_name(t.tag));
            }
            TlvValue::Constructed(c) => {
                let _ = writeln!(s, "{pad}{:<6} {}", tlv::tag_hex(t.tag), tag_name(t.tag));
                render_tags(s, c, depth + 1);
            }
        }
    }
}
