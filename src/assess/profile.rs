//! The shop profile: the facts an owner can answer without knowing ISO
//! 8583, read from a short RON file. Every answer may be `Unknown` (or left
//! out): possim then takes the riskier value and says so. Each answer maps
//! to scenario settings in [`super::shop`]; [`Fix`] is one answer changed
//! to its safer value.

use serde::{Deserialize, Serialize};

use super::text::{Lang, t};
use crate::money::Money;
use crate::scenario::Diagnostic;

/// Yes, no, or "I don't know".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum YesNo {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Not known: the riskier answer is assumed.
    #[default]
    Unknown,
}

/// Where the terminals came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Source {
    /// From the acquirer (the bank that pays the shop).
    Acquirer,
    /// From a reseller the acquirer lists.
    Reseller,
    /// Second-hand or from an online marketplace.
    Marketplace,
    /// Not known (taken as `Marketplace`).
    #[default]
    Unknown,
}

/// Who installed the terminals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Installer {
    /// The acquirer's technician.
    Acquirer,
    /// A professional installer.
    Professional,
    /// The owner or staff.
    Myself,
    /// Not known (taken as `Myself`).
    #[default]
    Unknown,
}

/// How the terminals talk to the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Uplink {
    /// Plain TCP: anyone on the line reads it.
    PlainTcp,
    /// TLS, trusting any certificate a known authority signed.
    Tls,
    /// TLS when it works, plain TCP when it does not.
    TlsIfAvailable,
    /// TLS accepting only the bank's own certificate.
    TlsPinned,
    /// Not known (taken as `PlainTcp`).
    #[default]
    Unknown,
}

/// How staff log in to the terminal's supervisor functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Passwords {
    /// Each person their own, long password.
    PerPerson,
    /// One password everyone knows (written down).
    Shared,
    /// Not known (taken as `Shared`).
    #[default]
    Unknown,
}

/// Who may give refunds at the till.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Refunders {
    /// Any member of staff.
    Anyone,
    /// Only a supervisor (or the owner).
    Supervisor,
    /// Nobody: refunds are not given at the till.
    Nobody,
    /// Not known (taken as `Anyone`).
    #[default]
    Unknown,
}

/// What a refund needs besides a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RefundCheck {
    /// The password alone.
    Password,
    /// The original sale, found on the same card.
    OriginalSale,
    /// Not known (taken as `Password`).
    #[default]
    Unknown,
}

/// How often staff look over the readers and PIN pads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Inspection {
    /// At the start of every shift (every 8 hours).
    EveryShift,
    /// Every morning.
    Daily,
    /// Once a week.
    Weekly,
    /// Once a month.
    Monthly,
    /// Never.
    Never,
    /// Not known (taken as `Never`).
    #[default]
    Unknown,
}

/// How often someone reads the alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Watch {
    /// Every day.
    Daily,
    /// Once a week.
    Weekly,
    /// Nobody reads them.
    Never,
    /// Not known (taken as `Never`).
    #[default]
    Unknown,
}

/// One shop as its owner describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename = "Shop", deny_unknown_fields)]
pub struct Profile {
    /// The shop's name.
    #[serde(default = "default_name")]
    pub name: String,
    /// ISO 4217 numeric currency ("156" CNY, "840" USD, "978" EUR).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Card terminals at the counter (1 to 20).
    #[serde(default = "one")]
    pub terminals: u32,
    /// Card customers on an ordinary day.
    #[serde(default)]
    pub customers_per_day: Option<u32>,
    /// What a card customer spends on average.
    #[serde(default)]
    pub average_amount: Option<Money>,
    /// Where the terminals came from.
    #[serde(default)]
    pub terminal_from: Source,
    /// Who installed them.
    #[serde(default)]
    pub installed_by: Installer,
    /// Inserted chip cards accepted.
    #[serde(default)]
    pub chip: YesNo,
    /// Tapped (contactless) cards accepted.
    #[serde(default)]
    pub contactless: YesNo,
    /// Swiped (magstripe) cards accepted.
    #[serde(default)]
    pub magstripe: YesNo,
    /// A chip card whose chip fails may be swiped instead, and the bank takes it.
    #[serde(default)]
    pub fallback: YesNo,
    /// Taps up to this amount need no PIN.
    #[serde(default)]
    pub contactless_limit: Option<Money>,
    /// The PIN pad has a privacy shield, and no camera can see it.
    #[serde(default)]
    pub pin_pad_shielded: YesNo,
    /// How the terminals talk to the bank.
    #[serde(default)]
    pub uplink: Uplink,
    /// Supervisor passwords.
    #[serde(default)]
    pub passwords: Passwords,
    /// The terminal's factory admin password was changed.
    #[serde(default)]
    pub default_password_changed: YesNo,
    /// Who may give refunds.
    #[serde(default)]
    pub refunds_by: Refunders,
    /// What a refund needs.
    #[serde(default)]
    pub refund_check: RefundCheck,
    /// How often readers and PIN pads are looked over.
    #[serde(default)]
    pub readers_inspected: Inspection,
    /// A list of the shop's devices (serial numbers) is kept with the bank.
    #[serde(default)]
    pub device_list: YesNo,
    /// How often someone reads the alerts.
    #[serde(default)]
    pub alerts_watched: Watch,
}

fn default_name() -> String {
    "My shop".into()
}
fn default_currency() -> String {
    "156".into()
}
fn one() -> u32 {
    1
}

/// Customers a day when the profile does not say.
pub const DEFAULT_CUSTOMERS: u32 = 150;
/// The no-PIN limit for taps when the profile does not say.
pub const DEFAULT_CONTACTLESS_LIMIT: &str = "1000.00";

impl Default for Profile {
    fn default() -> Self {
        Self {
            name: default_name(),
            currency: default_currency(),
            terminals: 1,
            customers_per_day: None,
            average_amount: None,
            terminal_from: Source::Unknown,
            installed_by: Installer::Unknown,
            chip: YesNo::Unknown,
            contactless: YesNo::Unknown,
            magstripe: YesNo::Unknown,
            fallback: YesNo::Unknown,
            contactless_limit: None,
            pin_pad_shielded: YesNo::Unknown,
            uplink: Uplink::Unknown,
            passwords: Passwords::Unknown,
            default_password_changed: YesNo::Unknown,
            refunds_by: Refunders::Unknown,
            refund_check: RefundCheck::Unknown,
            readers_inspected: Inspection::Unknown,
            device_list: YesNo::Unknown,
            alerts_watched: Watch::Unknown,
        }
    }
}

/// The questions, in the order the questionnaire asks them (also the
/// profile's field names).
pub const QUESTIONS: &[&str] = &[
    "name",
    "currency",
    "terminals",
    "customers_per_day",
    "average_amount",
    "terminal_from",
    "installed_by",
    "chip",
    "contactless",
    "magstripe",
    "fallback",
    "contactless_limit",
    "pin_pad_shielded",
    "uplink",
    "passwords",
    "default_password_changed",
    "refunds_by",
    "refund_check",
    "readers_inspected",
    "device_list",
    "alerts_watched",
];

/// The answers a multiple-choice question takes, as they are written.
pub fn choices(question: &str) -> &'static [&'static str] {
    const YES_NO: &[&str] = &["Yes", "No", "Unknown"];
    match question {
        "terminal_from" => &["Acquirer", "Reseller", "Marketplace", "Unknown"],
        "installed_by" => &["Acquirer", "Professional", "Myself", "Unknown"],
        "chip"
        | "contactless"
        | "magstripe"
        | "fallback"
        | "pin_pad_shielded"
        | "default_password_changed"
        | "device_list" => YES_NO,
        "uplink" => &["PlainTcp", "Tls", "TlsIfAvailable", "TlsPinned", "Unknown"],
        "passwords" => &["PerPerson", "Shared", "Unknown"],
        "refunds_by" => &["Anyone", "Supervisor", "Nobody", "Unknown"],
        "refund_check" => &["Password", "OriginalSale", "Unknown"],
        "readers_inspected" => &["EveryShift", "Daily", "Weekly", "Monthly", "Never", "Unknown"],
        "alerts_watched" => &["Daily", "Weekly", "Never", "Unknown"],
        _ => &[],
    }
}

/// The question an answer type belongs to, for error messages.
fn question_of_enum(name: &str) -> Option<&'static str> {
    Some(match name {
        "Source" => "terminal_from",
        "Installer" => "installed_by",
        "Uplink" => "uplink",
        "Passwords" => "passwords",
        "Refunders" => "refunds_by",
        "RefundCheck" => "refund_check",
        "Inspection" => "readers_inspected",
        "Watch" => "alerts_watched",
        _ => return None,
    })
}

impl Profile {
    /// Reads a profile; errors are located (file:line:column) and worded in `lang`.
    pub fn parse(text: &str, file: &str, lang: Lang) -> Result<Self, Box<Diagnostic>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let p: Self = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(text)
            .map_err(|e| Box::new(from_ron(file, text, &e, lang)))?;
        p.check(text, file, lang)?;
        Ok(p)
    }

    /// The profile as RON, as the questionnaire writes it.
    pub fn to_ron(&self) -> String {
        let cfg = ron::ser::PrettyConfig::default().struct_names(true);
        ron::ser::to_string_pretty(self, cfg).unwrap_or_default() + "\n"
    }

    /// Ranges and contradictions, explained rather than silently resolved.
    fn check(&self, text: &str, file: &str, lang: Lang) -> Result<(), Box<Diagnostic>> {
        let at = |field: &str, key: &str| {
            let (line, col) = find_field(text, field);
            Box::new(Diagnostic::at(file, text, line, col, field.len().max(1), t(key, lang)))
        };
        if !(1..=20).contains(&self.terminals) {
            return Err(at("terminals", "err.terminals"));
        }
        if let Some(n) = self.customers_per_day
            && !(1..=20_000).contains(&n)
        {
            return Err(at("customers_per_day", "err.customers"));
        }
        if let Some(a) = self.average_amount
            && !(a.0 > 0 && a.0 <= 1_000_000)
        {
            return Err(at("average_amount", "err.average"));
        }
        if let Some(l) = self.contactless_limit
            && !(0..=10_000_000).contains(&l.0)
        {
            return Err(at("contactless_limit", "err.limit_range"));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_digit()) {
            return Err(at("currency", "err.currency"));
        }
        if self.name.chars().any(char::is_control) || self.name.chars().count() > 60 {
            return Err(at("name", "err.name"));
        }
        if self.contactless == YesNo::No && self.contactless_limit.is_some() {
            return Err(at("contactless_limit", "err.limit_without_contactless"));
        }
        if self.fallback == YesNo::Yes && self.magstripe == YesNo::No {
            return Err(at("fallback", "err.fallback_without_magstripe"));
        }
        if self.fallback == YesNo::Yes && self.chip == YesNo::No {
            return Err(at("fallback", "err.fallback_without_chip"));
        }
        if self.refunds_by == Refunders::Nobody && self.refund_check != RefundCheck::Unknown {
            return Err(at("refund_check", "err.check_without_refunds"));
        }
        if [self.chip, self.contactless, self.magstripe].iter().all(|a| *a == YesNo::No) {
            return Err(at("magstripe", "err.no_cards"));
        }
        Ok(())
    }

    /// The questions left unanswered, whose riskier value was assumed.
    pub fn assumed(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |q: &'static str, unknown: bool| {
            if unknown {
                v.push(q);
            }
        };
        add("customers_per_day", self.customers_per_day.is_none());
        add("average_amount", self.average_amount.is_none());
        add("terminal_from", self.terminal_from == Source::Unknown);
        add("installed_by", self.installed_by == Installer::Unknown);
        add("chip", self.chip == YesNo::Unknown);
        add("contactless", self.contactless == YesNo::Unknown);
        add("magstripe", self.magstripe == YesNo::Unknown);
        add("fallback", self.fallback == YesNo::Unknown && self.swipes_chip_cards());
        add("contactless_limit", self.contactless_limit.is_none() && self.contactless != YesNo::No);
        add("pin_pad_shielded", self.pin_pad_shielded == YesNo::Unknown);
        add("uplink", self.uplink == Uplink::Unknown);
        add("passwords", self.passwords == Passwords::Unknown);
        add("default_password_changed", self.default_password_changed == YesNo::Unknown);
        add("refunds_by", self.refunds_by == Refunders::Unknown);
        add(
            "refund_check",
            self.refund_check == RefundCheck::Unknown && self.refunds_by != Refunders::Nobody,
        );
        add("readers_inspected", self.readers_inspected == Inspection::Unknown);
        add("device_list", self.device_list == YesNo::Unknown);
        add("alerts_watched", self.alerts_watched == Watch::Unknown);
        v
    }

    /// Whether a chip card could be swiped at all here.
    fn swipes_chip_cards(&self) -> bool {
        self.chip != YesNo::No && self.magstripe != YesNo::No
    }

    /// An answer, pessimistic when unknown: does the shop take this?
    pub fn takes(a: YesNo) -> bool {
        a != YesNo::No
    }

    /// Card customers a day (assumed when not given).
    pub fn customers(&self) -> u32 {
        self.customers_per_day.unwrap_or(DEFAULT_CUSTOMERS)
    }

    /// The average amount (assumed when not given).
    pub fn average(&self) -> Money {
        self.average_amount.unwrap_or(Money(5000))
    }

    /// The no-PIN limit for taps.
    pub fn tap_limit(&self) -> Money {
        self.contactless_limit
            .unwrap_or_else(|| Money::parse(DEFAULT_CONTACTLESS_LIMIT).unwrap_or(Money(100_000)))
    }
}

/// One answer changed to its safer value: what the report recommends, and
/// what possim reruns to measure what it is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Fix {
    /// Change the terminal's factory admin password.
    ChangeDefaultPassword,
    /// Give each person their own long password.
    PerPersonPasswords,
    /// Let only a supervisor give refunds.
    SupervisorRefunds,
    /// Refund only to a card that made the original sale.
    RefundNeedsSale,
    /// Read the alerts every day.
    WatchAlerts,
    /// Look over the readers and PIN pads every morning.
    InspectDaily,
    /// Register the devices' serial numbers with the bank.
    DeviceList,
    /// Lower the no-PIN limit for taps.
    LowerTapLimit,
    /// Ask the acquirer to refuse swiped chip cards.
    RefuseFallback,
    /// Fit a PIN pad privacy shield.
    ShieldPinPad,
    /// TLS with the bank's own certificate pinned.
    TlsPinned,
    /// Have the terminals set up by a professional.
    ProfessionalInstall,
    /// Take terminals only from the acquirer.
    CertifiedTerminal,
}

/// The no-PIN limit [`Fix::LowerTapLimit`] sets.
pub const LOWER_TAP_LIMIT: Money = Money(10_000);

impl Fix {
    /// Every fix, cheapest first.
    pub const ALL: &[Fix] = &[
        Fix::ChangeDefaultPassword,
        Fix::PerPersonPasswords,
        Fix::SupervisorRefunds,
        Fix::RefundNeedsSale,
        Fix::WatchAlerts,
        Fix::InspectDaily,
        Fix::DeviceList,
        Fix::LowerTapLimit,
        Fix::RefuseFallback,
        Fix::ShieldPinPad,
        Fix::TlsPinned,
        Fix::ProfessionalInstall,
        Fix::CertifiedTerminal,
    ];

    /// Its key in reports and in `assets/assess.ron`.
    pub fn key(self) -> &'static str {
        match self {
            Fix::ChangeDefaultPassword => "change_default_password",
            Fix::PerPersonPasswords => "per_person_passwords",
            Fix::SupervisorRefunds => "supervisor_refunds",
            Fix::RefundNeedsSale => "refund_needs_sale",
            Fix::WatchAlerts => "watch_alerts",
            Fix::InspectDaily => "inspect_daily",
            Fix::DeviceList => "device_list",
            Fix::LowerTapLimit => "lower_tap_limit",
            Fix::RefuseFallback => "refuse_fallback",
            Fix::ShieldPinPad => "shield_pin_pad",
            Fix::TlsPinned => "tls_pinned",
            Fix::ProfessionalInstall => "professional_install",
            Fix::CertifiedTerminal => "certified_terminal",
        }
    }

    /// The profile with this change made, or None when the shop already
    /// does it (or cannot: a tap limit without taps).
    pub fn apply(self, p: &Profile) -> Option<Profile> {
        let mut q = p.clone();
        match self {
            Fix::ChangeDefaultPassword if p.default_password_changed != YesNo::Yes => {
                q.default_password_changed = YesNo::Yes;
            }
            Fix::PerPersonPasswords if p.passwords != Passwords::PerPerson => {
                q.passwords = Passwords::PerPerson;
            }
            Fix::SupervisorRefunds
                if !matches!(p.refunds_by, Refunders::Supervisor | Refunders::Nobody) =>
            {
                q.refunds_by = Refunders::Supervisor;
            }
            Fix::RefundNeedsSale
                if p.refunds_by != Refunders::Nobody
                    && p.refund_check != RefundCheck::OriginalSale =>
            {
                q.refund_check = RefundCheck::OriginalSale;
            }
            Fix::WatchAlerts if p.alerts_watched != Watch::Daily => q.alerts_watched = Watch::Daily,
            Fix::InspectDaily
                if !matches!(p.readers_inspected, Inspection::Daily | Inspection::EveryShift) =>
            {
                q.readers_inspected = Inspection::Daily;
            }
            Fix::DeviceList if p.device_list != YesNo::Yes => q.device_list = YesNo::Yes,
            Fix::LowerTapLimit if p.contactless != YesNo::No && p.tap_limit() > LOWER_TAP_LIMIT => {
                q.contactless_limit = Some(LOWER_TAP_LIMIT);
            }
            Fix::RefuseFallback if p.swipes_chip_cards() && p.fallback != YesNo::No => {
                q.fallback = YesNo::No;
            }
            Fix::ShieldPinPad if p.pin_pad_shielded != YesNo::Yes => {
                q.pin_pad_shielded = YesNo::Yes;
            }
            Fix::TlsPinned if p.uplink != Uplink::TlsPinned => q.uplink = Uplink::TlsPinned,
            Fix::ProfessionalInstall
                if !matches!(p.installed_by, Installer::Acquirer | Installer::Professional) =>
            {
                q.installed_by = Installer::Professional;
            }
            Fix::CertifiedTerminal
                if !matches!(p.terminal_from, Source::Acquirer | Source::Reseller) =>
            {
                q.terminal_from = Source::Acquirer;
            }
            _ => return None,
        }
        Some(q)
    }
}

/// Line and column (1-based) of `field:` in the text, or the first line.
fn find_field(text: &str, field: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(field)
            && rest.trim_start().starts_with(':')
        {
            return (i + 1, line.len() - trimmed.len() + 1);
        }
    }
    (1, 1)
}

/// The question whose answer is at `line`:`col` (1-based): the last
/// `question:` written before that point.
fn question_at(text: &str, line: usize, col: usize) -> Option<&'static str> {
    let lines: Vec<&str> = text.lines().take(line).collect();
    for (i, l) in lines.iter().enumerate().rev() {
        let upto = if i + 1 == line {
            l.char_indices().nth(col.saturating_sub(1)).map_or(*l, |(b, _)| &l[..b])
        } else {
            l
        };
        let mut best: Option<(usize, &'static str)> = None;
        for q in QUESTIONS {
            for (at, _) in upto.match_indices(q) {
                let before = upto[..at].chars().last();
                let after = upto[at + q.len()..].trim_start();
                if after.starts_with(':')
                    && !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && best.is_none_or(|(b, _)| at > b)
                {
                    best = Some((at, q));
                }
            }
        }
        if let Some((_, q)) = best {
            return Some(q);
        }
    }
    None
}

/// A RON error in a profile, in the owner's language.
fn from_ron(file: &str, text: &str, e: &ron::error::SpannedError, lang: Lang) -> Diagnostic {
    use ron::Error as E;
    let (line, col) = (e.span.start.line, e.span.start.col);
    let width = if e.span.end.line == line { e.span.end.col.saturating_sub(col).max(1) } else { 1 };
    let d = |msg: String| Diagnostic::at(file, text, line, col, width, msg);
    let fill = |key: &str, a: &str| t(key, lang).replace("{0}", a);
    match &e.code {
        E::NoSuchEnumVariant { expected, found, outer } => {
            // The question is the field the answer stands under, or else
            // the one its answer type belongs to.
            let question = question_at(text, line, col)
                .or_else(|| outer.as_deref().and_then(question_of_enum))
                .map(|q| fill("err.for_question", q))
                .unwrap_or_default();
            let mut diag = d(fill("err.unknown_answer", found) + &question);
            let list = expected.join(", ");
            diag = match crate::scenario::closest(found, expected) {
                Some(k) => {
                    diag.help(fill("err.did_you_mean", k) + &fill("err.valid_answers", &list))
                }
                None => diag.help(fill("err.valid_answers", &list)),
            };
            diag
        }
        E::NoSuchStructField { expected, found, .. } => {
            let diag = d(fill("err.unknown_question", found));
            let list = expected.join(", ");
            match crate::scenario::closest(found, expected) {
                Some(k) => {
                    diag.help(fill("err.did_you_mean", k) + &fill("err.known_questions", &list))
                }
                None => diag.help(fill("err.known_questions", &list)),
            }
        }
        E::DuplicateStructField { field, .. } => d(fill("err.twice", field)),
        other => match question_at(text, line, col) {
            // A value of the wrong shape under a known question: say what
            // that question takes, in the owner's language.
            Some(q) => {
                let opts = choices(q);
                let msg = if !opts.is_empty() {
                    fill("err.bad_answer", q)
                } else {
                    let kind = match q {
                        "terminals" | "customers_per_day" => "err.value.number",
                        "average_amount" | "contactless_limit" => "err.value.money",
                        "currency" => "err.value.code",
                        _ => "err.value.text",
                    };
                    fill(kind, q)
                };
                let said = fill("err.parser_said", &other.to_string());
                if opts.is_empty() {
                    d(msg).help(said)
                } else {
                    d(msg).help(format!("{} {said}", fill("err.valid_answers", &opts.join(", "))))
                }
            }
            None => d(fill("err.syntax", &other.to_string())),
        },
    }
}
