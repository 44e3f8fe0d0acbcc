//! What `possim assess` says and runs, as data (`assets/assess.ron`,
//! compiled in): the attacks of the catalogue written for one shop, the
//! changes it can recommend with the advice and PCI DSS requirement each
//! follows, and every word of the report in English and Simplified Chinese.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

pub use crate::lesson::Lang;

use super::profile::Fix;

/// A text in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tr {
    /// English.
    pub en: String,
    /// Simplified Chinese.
    #[serde(rename = "zh_CN")]
    pub zh_cn: String,
}

impl Tr {
    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::ZhCn => &self.zh_cn,
        }
    }
}

/// A card reader an attack needs the shop to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Slot {
    /// A swipe slot.
    Magstripe,
    /// A chip slot.
    Chip,
    /// A contactless antenna.
    Contactless,
}

/// Who bears the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all(serialize = "snake_case"))]
pub enum Payer {
    /// The shop: goods without payment, refunds out of its account.
    Shop,
    /// The customers' banks first (and the shop, through chargebacks).
    Customers,
}

/// The kind of advice a change follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all(serialize = "snake_case"))]
pub enum Advice {
    /// A reputable provider and professional installation.
    Provider,
    /// Device inspection.
    Inspection,
    /// Encryption in transit.
    Encryption,
    /// Staff training and passwords.
    Staff,
    /// Monitoring.
    Monitoring,
    /// Dispute and refund handling.
    Disputes,
}

/// One attack of the catalogue, written for the assessed shop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackTemplate {
    /// Its key ("skimmer").
    pub key: String,
    /// The catalogue scenario it comes from (`scenarios/...`).
    pub catalogue: String,
    /// The readers the shop must have for it to be possible at all.
    #[serde(default)]
    pub needs: Vec<Slot>,
    /// Who bears the loss.
    pub pays: Payer,
    /// The scenario's attacks, RON, with `{shop}` (the shop's first
    /// terminal), `{away}` (a terminal at another shop, where thieves
    /// spend what they copied), `{camera}` and `{tap_amount}` filled in.
    pub attacks: Vec<String>,
    /// The changes worth trying against it.
    pub fixes: Vec<Fix>,
    /// Its name.
    pub name: Tr,
    /// What it is, in one plain sentence.
    pub what: Tr,
}

impl AttackTemplate {
    /// Whether thieves spend its loot at another shop.
    pub fn away(&self) -> bool {
        self.attacks.iter().any(|a| a.contains("{away}"))
    }
}

/// A change the report can recommend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixText {
    /// The advice it follows.
    pub advice: Advice,
    /// PCI DSS v4.0 requirements it corresponds to (checked against the
    /// requirement's text), if any.
    #[serde(default)]
    pub pci: Vec<String>,
    /// What to do, as an instruction.
    pub title: Tr,
}

/// Everything in `assets/assess.ron`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    /// The attacks, in report order.
    pub attacks: Vec<AttackTemplate>,
    /// Every change.
    pub fixes: BTreeMap<Fix, FixText>,
    /// Every kind of advice.
    pub advice: BTreeMap<Advice, Tr>,
    /// Every alert kind, as the owner reads it.
    pub alerts: BTreeMap<String, Tr>,
    /// Every question of the profile.
    pub questions: BTreeMap<String, Tr>,
    /// Every answer a question offers, explained.
    pub answers: BTreeMap<String, Tr>,
    /// Every other word of the report.
    pub ui: BTreeMap<String, Tr>,
}

const ASSETS: &str = include_str!("../../assets/assess.ron");

/// The texts, or why `assets/assess.ron` does not read (a test reads it).
pub fn load() -> Result<Texts, String> {
    ron::from_str(ASSETS).map_err(|e| format!("assets/assess.ron: {e}"))
}

/// The texts, read once.
pub fn texts() -> &'static Texts {
    static ALL: OnceLock<Texts> = OnceLock::new();
    ALL.get_or_init(|| {
        load().unwrap_or_else(|_| Texts {
            attacks: Vec::new(),
            fixes: BTreeMap::new(),
            advice: BTreeMap::new(),
            alerts: BTreeMap::new(),
            questions: BTreeMap::new(),
            answers: BTreeMap::new(),
            ui: BTreeMap::new(),
        })
    })
}

/// A word of the report in `lang` (the key itself if it is missing, which
/// a test forbids).
pub fn t(key: &str, lang: Lang) -> String {
    texts().ui.get(key).map_or_else(|| key.to_string(), |tr| tr.get(lang).to_string())
}
