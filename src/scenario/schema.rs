//! The scenario file format (RON), as plain serde data.
//!
//! Every field has a default, so a scenario can be a name and a handful of
//! lines; docs/SCENARIOS.md lists each field with its default. Unknown fields
//! are errors (with the closest known name suggested), because a misspelt
//! defence that silently stays at its default would make a test lie.

use serde::{Deserialize, Serialize};

use super::FaultSpec;
use crate::host::{Check, Rules};
use crate::money::Money;
use crate::time::Duration;

fn d(s: &str) -> Duration {
    Duration::parse(s).unwrap_or_default()
}

fn m(s: &str) -> Money {
    Money::parse(s).unwrap_or_default()
}

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What it is called (required).
    pub name: String,
    /// The file it was read from, as given (not part of the format).
    #[serde(skip)]
    pub file: String,
    /// The lesson key (for the trainer view). Default: none.
    #[serde(default)]
    pub lesson: Option<String>,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// The seed every random stream derives from. Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How much virtual time to simulate. Default "8h".
    #[serde(default = "default_duration")]
    pub duration: Duration,
    /// The calendar date and time of virtual time zero. Default "2026-11-24T09:00:00".
    #[serde(default = "default_start")]
    pub start: String,
    /// ISO 4217 numeric currency. Default "156" (CNY).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// ISO 3166 numeric country of the terminals. Default "156".
    #[serde(default = "default_currency")]
    pub country: String,
    /// ISO 8583 dialect: "iso87-ascii", "iso87-binary" or a .ron file. Default "iso87-ascii".
    #[serde(default = "default_dialect")]
    pub dialect: String,
    /// The issuer and acquirer host.
    #[serde(default)]
    pub issuer: Issuer,
    /// The shop: terminals and staff.
    #[serde(default)]
    pub shop: Shop,
    /// Network links. Default: one link "uplink", 40ms ± 10ms.
    #[serde(default = "default_links")]
    pub links: Vec<LinkSpec>,
    /// Who shops here and their cards.
    #[serde(default)]
    pub cardholders: Cardholders,
    /// How customers arrive and what they spend.
    #[serde(default)]
    pub traffic: Traffic,
    /// Attacks on the shop, each with its window and target. Default none.
    #[serde(default)]
    pub attacks: Vec<super::AttackSpec>,
    /// Alert thresholds of the monitor.
    #[serde(default)]
    pub monitor: MonitorSpec,
    /// What must hold at the end of the run.
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

fn default_seed() -> u64 {
    1
}
fn default_duration() -> Duration {
    d("8h")
}
fn default_start() -> String {
    "2026-11-24T09:00:00".into()
}
fn default_currency() -> String {
    "156".into()
}
fn default_dialect() -> String {
    "iso87-ascii".into()
}
fn default_links() -> Vec<LinkSpec> {
    vec![LinkSpec::default()]
}

/// Issuer keys in hex; any omitted key is derived from the seed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssuerKeys {
    /// Issuer master key for application cryptograms.
    pub imk_ac: Option<String>,
    /// Card verification key.
    pub cvk: Option<String>,
    /// PIN verification key.
    pub pvk: Option<String>,
}

/// An issuer defence. With `rules: [...]` written out, the defences listed
/// are on and every other one is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    /// Check the message MAC (63).
    VerifyMac,
    /// Check chip cryptograms and that they sign field 4 (63).
    VerifyArqc,
    /// Refuse ATCs at or below the highest seen (59).
    AtcReplay,
    /// Check online PINs (55, then 75).
    VerifyPin,
    /// Check CVV and iCVV (63).
    VerifyCvv,
    /// Refuse magstripe reads of chip cards (05).
    RefuseFallbackForChipCards,
    /// Duplicate detection within this window (94).
    DuplicateWindow(Duration),
    /// Largest single amount (13).
    MaxAmount(Money),
    /// Refuse expired cards (54).
    CheckExpiry,
    /// Refuse blocked cards (62).
    RefuseBlockedCards,
    /// Refuse amounts over the available balance (51).
    CheckFunds,
    /// Refuse refunds to a card that has not bought as much here (12).
    RefundsNeedASale,
    /// Refuse a card the terminal says verified the PIN when the card's own
    /// record (CVR) says it did not: a PIN-bypass wedge (05).
    CompareCvmResults,
    /// At most this many approvals of one card within this window (65).
    VelocityLimit(u32, Duration),
    /// Refuse "verified on the consumer's device" (CTQ) from a card whose
    /// form factor (9F6E) says it is plastic (05).
    RefuseDeviceCvmFromPlastic,
    /// Refuse an application (AID) of another brand than the card number's
    /// BIN: a brand mixup (05).
    AidMatchesBin,
    /// Refuse an unpredictable number (9F37) that is the terminal's last
    /// plus a small step: a counter, which lets cryptograms be pre-played (59).
    RefusePredictableUn,
    /// Refuse the sign-on of a device whose serial is not the one on the
    /// inventory for its terminal id (58): a swapped terminal never trades.
    DeviceInventory,
}

impl Rule {
    /// The host check this rule switches on.
    pub fn check(&self) -> Check {
        match self {
            Self::VerifyMac => Check::Mac,
            Self::VerifyArqc => Check::Arqc,
            Self::AtcReplay => Check::Atc,
            Self::VerifyPin => Check::Pin,
            Self::VerifyCvv => Check::Cvv,
            Self::RefuseFallbackForChipCards => Check::Fallback,
            Self::DuplicateWindow(_) => Check::Duplicates,
            Self::MaxAmount(_) => Check::Amount,
            Self::CheckExpiry => Check::Expiry,
            Self::RefuseBlockedCards => Check::Blocked,
            Self::CheckFunds => Check::Funds,
            Self::RefundsNeedASale => Check::RefundSale,
            Self::CompareCvmResults => Check::CvmResults,
            Self::VelocityLimit(..) => Check::Velocity,
            Self::RefuseDeviceCvmFromPlastic => Check::DeviceCvm,
            Self::AidMatchesBin => Check::AidBrand,
            Self::RefusePredictableUn => Check::UnFreshness,
            Self::DeviceInventory => Check::Inventory,
        }
    }
}

/// A time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Start (virtual time).
    pub from: Duration,
    /// End (virtual time).
    pub until: Duration,
    /// Present in a given seed's run with this probability, as a fault's
    /// `chance`, so a sweep mixes windows. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance: Option<super::Probability>,
}

/// The issuer and acquirer host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Issuer {
    /// Keys. Default: derived from the seed.
    pub keys: IssuerKeys,
    /// The defences on. Default: all of them, duplicate window "24h", max amount "50000.00".
    pub rules: Option<Vec<Rule>>,
    /// Defences switched off by name, the check names commands use
    /// ("mac", "arqc", "pin", ...): to show what one defence is worth
    /// without listing every other in `rules`. Default none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub off: Vec<String>,
    /// Wrong online PINs before a card is PIN-blocked. Default 3.
    pub pin_try_limit: u8,
    /// Windows when the issuer is unreachable (91). Default none.
    pub down: Vec<Window>,
}

impl Issuer {
    /// The host's defences: all on by default; when `rules` is written out,
    /// exactly the ones listed; then those named in `off` switched off (a
    /// name that is not a defence's is a `check` error, and ignored here).
    pub fn host_rules(&self) -> Rules {
        let mut r = self.listed_rules();
        for name in &self.off {
            if let Some(c) = Check::from_name(name) {
                r.set(c, false);
            }
        }
        r
    }

    fn listed_rules(&self) -> Rules {
        let Some(list) = &self.rules else { return Rules::default() };
        let on: Vec<Check> = list.iter().map(Rule::check).collect();
        let mut r = Rules::only(&on);
        for rule in list {
            match rule {
                Rule::DuplicateWindow(d) => r.duplicate_window = *d,
                Rule::MaxAmount(m) => r.max_amount = *m,
                Rule::VelocityLimit(n, w) => r.velocity = (*n, *w),
                _ => {}
            }
        }
        r
    }
}

impl Default for Issuer {
    fn default() -> Self {
        Self {
            keys: IssuerKeys::default(),
            rules: None,
            off: vec![],
            pin_try_limit: 3,
            down: vec![],
        }
    }
}

/// The shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Shop {
    /// Its name. Default "Corner Store".
    pub name: String,
    /// Merchant id, field 42 (up to 15 characters). Default "SHOP00000000001".
    pub merchant_id: String,
    /// Terminals. Default: TERM0001 and TERM0002 with default settings.
    pub terminals: Vec<TerminalSpec>,
    /// Staff. Default: one cashier.
    pub staff: Vec<Staff>,
    /// Staff look over and tug every terminal's reader and PIN pad this
    /// often ("24h": a morning check). A device fitted there is found with
    /// the chance its kind allows, removed, and `TamperDetected` raised.
    /// Default none.
    pub tamper_check: Option<Duration>,
}

impl Default for Shop {
    fn default() -> Self {
        Self {
            name: default_shop_name(),
            merchant_id: default_mid(),
            terminals: default_terminals(),
            staff: default_staff(),
            tamper_check: None,
        }
    }
}

fn default_shop_name() -> String {
    "Corner Store".into()
}
fn default_mid() -> String {
    "SHOP00000000001".into()
}
fn default_terminals() -> Vec<TerminalSpec> {
    vec![
        TerminalSpec { id: "TERM0001".into(), ..TerminalSpec::default() },
        TerminalSpec { id: "TERM0002".into(), ..TerminalSpec::default() },
    ]
}
fn default_staff() -> Vec<Staff> {
    vec![Staff { name: "cashier".into(), password: PasswordStrength::Strong, refunds: false }]
}

/// How strong a staff password is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PasswordStrength {
    /// Guessable.
    Weak,
    /// Not guessable.
    Strong,
    /// The vendor's factory default.
    Default,
}

/// A member of staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Staff {
    /// Name.
    pub name: String,
    /// Password strength. Default Strong.
    #[serde(default = "default_password")]
    pub password: PasswordStrength,
    /// May authorise refunds with that password (a supervisor, or the
    /// terminal's admin login). Default false.
    #[serde(default)]
    pub refunds: bool,
}

fn default_password() -> PasswordStrength {
    PasswordStrength::Strong
}

/// Which readers a terminal has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReaderSpec {
    /// Chip slot. Default true.
    pub chip: bool,
    /// Swipe slot. Default true.
    pub magstripe: bool,
    /// Contactless field. Default true.
    pub contactless: bool,
}

impl Default for ReaderSpec {
    fn default() -> Self {
        Self { chip: true, magstripe: true, contactless: true }
    }
}

fn yes() -> bool {
    true
}

/// Which terminal stack runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Stack {
    /// possim's own emulated terminal.
    #[default]
    Emulated,
    /// A real terminal: possim listens on `listen` (loopback unless told
    /// otherwise) and `possim run` becomes a real-time run; the terminal's
    /// frames cross this terminal's link, faults and attacks included.
    External {
        /// Where the real terminal connects ("127.0.0.1:8600").
        listen: String,
    },
}

/// Terminal working keys in hex; omitted keys are derived from the seed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TerminalKeys {
    /// Terminal authentication key.
    pub tak: Option<String>,
    /// Terminal PIN key.
    pub tpk: Option<String>,
}

/// A terminal (or `count` identical ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalSpec {
    /// Terminal id, field 41 (up to 8 characters). With `count`, a prefix of up
    /// to 4 characters followed by a 4-digit number.
    pub id: String,
    /// How many terminals like this one. Default 1.
    #[serde(default = "one")]
    pub count: u32,
    /// The terminal stack. Default Emulated.
    #[serde(default)]
    pub stack: Stack,
    /// The link it talks over. Default "uplink".
    #[serde(default = "default_link")]
    pub link: String,
    /// Keys. Default: derived from the seed.
    #[serde(default)]
    pub keys: TerminalKeys,
    /// Readers. Default: all.
    #[serde(default)]
    pub reader: ReaderSpec,
    /// Accepts offline PIN. Default true.
    #[serde(default = "yes")]
    pub offline_pin: bool,
    /// MACs requests and checks response MACs. Default true.
    #[serde(default = "yes")]
    pub mac: bool,
    /// How long to wait for a response. Default "30s".
    #[serde(default = "default_timeout")]
    pub response_timeout: Duration,
    /// What to do on a timeout. Default Reverse.
    #[serde(default)]
    pub on_timeout: OnTimeout,
    /// Immediate tries of a reversal. Default 3.
    #[serde(default = "three")]
    pub reversal_attempts: u32,
    /// Wait before trying a stored reversal again. Default "60s".
    #[serde(default = "default_retry")]
    pub reversal_retry: Duration,
    /// Sends stored reversals before the next purchase (the host releases
    /// what they hold before it authorises anything new). Default true.
    #[serde(default = "yes")]
    pub reversals_first: bool,
    /// Tries in all before a reversal is abandoned. Default 50.
    #[serde(default = "fifty")]
    pub reversal_max_attempts: u32,
    /// Contactless amounts up to this need no CVM. Default "1000.00".
    #[serde(default = "default_cvm_limit")]
    pub contactless_cvm_limit: Money,
    /// Chip purchases below this may be approved offline by the card (a
    /// TC), the host told afterwards (0220). Default "0.00": online only.
    #[serde(default)]
    pub floor_limit: Money,
    /// Unpredictable number source. Default Random.
    #[serde(default)]
    pub unpredictable_number: UnpredictableNumber,
    /// Sends an 0800 sign-on at start. Default true.
    #[serde(default = "yes")]
    pub sign_on: bool,
    /// TLS on its connection to the host. Default `Off`.
    #[serde(default)]
    pub tls: Tls,
    /// The merchant it belongs to, if not the shop's (field 42): another
    /// shop on the same acquirer, where a thief can cash out far from the
    /// devices that stole. Default: the shop's `merchant_id`.
    #[serde(default)]
    pub merchant_id: Option<String>,
    /// The device's serial number, sent with every sign-on (field 62).
    /// Default: derived from the seed and the id.
    #[serde(default)]
    pub serial: Option<String>,
    /// Relay resistance: the longest a contactless read may take ("300ms");
    /// slower cards are declined. Default none.
    #[serde(default)]
    pub relay_bound: Option<Duration>,
}

/// TLS on a terminal's connection to the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tls {
    /// Plain TCP: anyone on the line reads and can change every frame.
    #[default]
    Off,
    /// TLS, trusting any certificate from a known authority.
    On,
    /// TLS, accepting only the host's own certificate (pinned).
    Pinned,
    /// TLS when the handshake succeeds, plain TCP when it fails: a man in
    /// the middle who breaks the handshake (`MitmStripTls`) reads it all.
    Opportunistic,
}

impl Default for TerminalSpec {
    fn default() -> Self {
        Self {
            id: String::new(),
            count: 1,
            stack: Stack::Emulated,
            link: default_link(),
            keys: TerminalKeys::default(),
            reader: ReaderSpec::default(),
            offline_pin: true,
            mac: true,
            response_timeout: default_timeout(),
            on_timeout: OnTimeout::Reverse,
            reversal_attempts: 3,
            reversal_retry: default_retry(),
            reversal_max_attempts: 50,
            reversals_first: true,
            contactless_cvm_limit: default_cvm_limit(),
            floor_limit: Money::ZERO,
            unpredictable_number: UnpredictableNumber::Random,
            sign_on: true,
            tls: Tls::Off,
            serial: None,
            merchant_id: None,
            relay_bound: None,
        }
    }
}

fn one() -> u32 {
    1
}
fn three() -> u32 {
    3
}
fn fifty() -> u32 {
    50
}
fn default_link() -> String {
    "uplink".into()
}
fn default_timeout() -> Duration {
    d("30s")
}
fn default_retry() -> Duration {
    d("60s")
}
fn default_cvm_limit() -> Money {
    m("1000.00")
}

/// What a terminal does when a request gets no response in time (the file's
/// names for the terminal core's `TimeoutPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OnTimeout {
    /// Decline, then reverse until acknowledged. Correct.
    #[default]
    Reverse,
    /// Resend the same 0200 (same STAN), then reverse. Correct.
    ResendSameStan,
    /// Firmware bug: resend as a new transaction and never reverse.
    ResendNewStan,
    /// Firmware bug: decline and forget.
    Nothing,
}

impl From<OnTimeout> for crate::terminal::TimeoutPolicy {
    fn from(p: OnTimeout) -> Self {
        match p {
            OnTimeout::Reverse => Self::Reverse,
            OnTimeout::ResendSameStan => Self::ResendSameStan,
            OnTimeout::ResendNewStan => Self::ResendNewStan,
            OnTimeout::Nothing => Self::Nothing,
        }
    }
}

/// How a terminal makes its unpredictable numbers (tag 9F37).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum UnpredictableNumber {
    /// From the terminal's random stream.
    #[default]
    Random,
    /// A counter: predictable, which enables pre-play attacks.
    Counter,
}

impl From<UnpredictableNumber> for crate::terminal::UnpredictableNumber {
    fn from(u: UnpredictableNumber) -> Self {
        match u {
            UnpredictableNumber::Random => Self::Random,
            UnpredictableNumber::Counter => Self::Counter,
        }
    }
}

/// The shape of a link's jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Distribution {
    /// Uniform in [-jitter, +jitter].
    #[default]
    Uniform,
    /// Normal with standard deviation `jitter`.
    Normal,
    /// Pareto tail, added only.
    Pareto,
    /// Exponential with mean `jitter`, added only.
    Exponential,
}

impl From<Distribution> for crate::link::Distribution {
    fn from(d: Distribution) -> Self {
        match d {
            Distribution::Uniform => Self::Uniform,
            Distribution::Normal => Self::Normal,
            Distribution::Pareto => Self::Pareto,
            Distribution::Exponential => Self::Exponential,
        }
    }
}

/// Which way a frame travels, as a fault filter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Terminal to host (requests).
    Up,
    /// Host to terminal (responses).
    Down,
}

impl From<Direction> for crate::link::Dir {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Up => Self::Up,
            Direction::Down => Self::Down,
        }
    }
}

/// A network link between terminals and the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkSpec {
    /// Its id. Default "uplink".
    pub id: String,
    /// One-way latency. Default "40ms".
    pub latency: Duration,
    /// Jitter. Default "10ms".
    pub jitter: Duration,
    /// Jitter distribution. Default Uniform.
    pub distribution: Distribution,
    /// Bytes per second. Default unlimited.
    pub bandwidth: Option<u64>,
    /// Header bytes per frame. Default 54.
    pub overhead: u64,
    /// Bytes that may wait for the bandwidth; frames beyond are dropped
    /// (drop-tail, counted as `queue_full`). Default 16384.
    pub queue: u64,
    /// Faults, applied in order. Default none.
    pub faults: Vec<FaultSpec>,
}

impl Default for LinkSpec {
    fn default() -> Self {
        Self {
            id: default_link(),
            latency: default_latency(),
            jitter: default_jitter(),
            distribution: Distribution::Uniform,
            bandwidth: None,
            overhead: default_overhead(),
            queue: default_queue(),
            faults: vec![],
        }
    }
}

fn default_latency() -> Duration {
    d("40ms")
}
fn default_jitter() -> Duration {
    d("10ms")
}
fn default_overhead() -> u64 {
    54
}
fn default_queue() -> u64 {
    16 * 1024
}

/// An explicitly given card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSpec {
    /// PAN (Luhn-valid digits).
    pub pan: String,
    /// PIN.
    pub pin: String,
    /// PAN sequence number. Default "00".
    #[serde(default = "default_psn")]
    pub psn: String,
    /// Expiry YYMM. Default "3012".
    #[serde(default = "default_expiry")]
    pub expiry: String,
    /// Has a chip. Default true.
    #[serde(default = "yes")]
    pub chip: bool,
    /// Contactless. Default true.
    #[serde(default = "yes")]
    pub contactless: bool,
    /// Uses offline PIN. Default false.
    #[serde(default)]
    pub offline_pin: bool,
    /// Answers GET PROCESSING OPTIONS in format 1 (tag 80) and lays its
    /// records out as another issuer might (other AFL, CDOLs and CVM list:
    /// online PIN over 50.00, no CVM below). Default false: format 2.
    #[serde(default)]
    pub gpo_format1: bool,
    /// Available balance. Default: the cardholders' balance.
    #[serde(default)]
    pub balance: Option<Money>,
}

fn default_psn() -> String {
    "00".into()
}
fn default_expiry() -> String {
    "3012".into()
}

/// The population of cardholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cardholders {
    /// How many (besides explicit `cards`). Default 300.
    pub count: u32,
    /// Share with chip cards (the rest are magstripe only). Default 0.9.
    pub chip: f64,
    /// Share of chip cards that are contactless. Default 0.7.
    pub contactless: f64,
    /// Share of chip cards that verify the PIN offline. Default 0.2.
    pub offline_pin: f64,
    /// Chance that a PIN entry has a typo. Default 0.02.
    pub pin_typo: f64,
    /// Chance that a chip does not answer. Default 0.002.
    pub broken_chip: f64,
    /// Available balance of each account. Default "5000.00".
    pub balance: Money,
    /// The first digits of generated PANs. Default "4".
    pub bin: String,
    /// Cards given explicitly.
    pub cards: Vec<CardSpec>,
}

impl Default for Cardholders {
    fn default() -> Self {
        Self {
            count: 300,
            chip: 0.9,
            contactless: 0.7,
            offline_pin: 0.2,
            pin_typo: 0.02,
            broken_chip: 0.002,
            balance: default_balance(),
            bin: default_bin(),
            cards: vec![],
        }
    }
}

fn default_balance() -> Money {
    m("5000.00")
}
fn default_bin() -> String {
    "4".into()
}

/// Purchase amounts: log-normal around a median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmountSpec {
    /// Median. Default "35.00".
    pub median: Money,
    /// Log-space spread (sigma). Default 0.8.
    pub spread: f64,
    /// Smallest. Default "0.50".
    pub min: Money,
    /// Largest. Default "3000.00".
    pub max: Money,
}

impl Default for AmountSpec {
    fn default() -> Self {
        Self { median: default_median(), spread: 0.8, min: default_min(), max: default_max() }
    }
}

fn default_median() -> Money {
    m("35.00")
}
fn default_min() -> Money {
    m("0.50")
}
fn default_max() -> Money {
    m("3000.00")
}

/// Customer arrivals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Traffic {
    /// Customers per hour at each terminal (Poisson arrivals). Default 20.
    pub per_hour: f64,
    /// Stop after this many purchases in all. Default: no limit.
    pub purchases: Option<u64>,
    /// Amounts.
    pub amount: AmountSpec,
    /// Share of contactless-card holders who tap. Default 0.6.
    pub tap: f64,
    /// Share of visits that are refunds. Default 0.0.
    pub refunds: f64,
    /// How long a customer takes to type a PIN. Default "4s".
    pub pin_entry: Duration,
    /// How long one APDU exchange takes. Default "30ms".
    pub apdu_time: Duration,
}

impl Default for Traffic {
    fn default() -> Self {
        Self {
            per_hour: 20.0,
            purchases: None,
            amount: AmountSpec::default(),
            tap: 0.6,
            refunds: 0.0,
            pin_entry: default_pin_time(),
            apdu_time: default_apdu_time(),
        }
    }
}

fn default_pin_time() -> Duration {
    d("4s")
}
fn default_apdu_time() -> Duration {
    d("30ms")
}

/// Alert thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorSpec {
    /// Consecutive timeouts at a terminal that mean the link is down. Default 3.
    pub link_down_after: u32,
    /// Security violations (63) within `window` that raise an alert. Default 3.
    pub security_violations: u32,
    /// Format errors (30) within `window` that raise an alert. Default 3.
    pub format_errors: u32,
    /// Duplicates (94) within `window` that raise an alert. Default 3.
    pub duplicates: u32,
    /// Refunds approved within `refund_window` that raise an alert. Default 3.
    pub refunds: u32,
    /// The window refunds are counted over. Default "1h".
    pub refund_window: Duration,
    /// Watch where terminals connect to, and alert on anything but the
    /// acquirer. Default true.
    pub egress: bool,
    /// The counting window. Default "10m".
    pub window: Duration,
}

impl Default for MonitorSpec {
    fn default() -> Self {
        Self {
            link_down_after: 3,
            security_violations: 3,
            format_errors: 3,
            duplicates: 3,
            refunds: 3,
            refund_window: d("1h"),
            egress: true,
            window: default_window(),
        }
    }
}

fn default_window() -> Duration {
    d("10m")
}

/// Something a run can count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// Approved customer transactions.
    Approved,
    /// Declined by the host.
    Declined,
    /// Declined by card or terminal without the host.
    DeclinedOffline,
    /// Approved by the card under the terminal's floor limit, without the host.
    ApprovedOffline,
    /// Offline approvals the issuer refused to pay for at clearing.
    OfflineUnpaid,
    /// Customer transactions that timed out.
    Timeout,
    /// Reversals acknowledged by the host.
    Reversal,
    /// Reversals given up.
    ReversalAbandoned,
    /// Purchases charged more than once.
    DoubleCharge,
    /// Approvals neither settled nor reversed, or customers charged without goods.
    LostTransaction,
    /// Magstripe fallbacks after a chip failure.
    Fallback,
    /// Frames lost on a link.
    FrameDropped,
    /// Frames duplicated on a link.
    FrameDuplicated,
    /// Frames corrupted on a link.
    FrameCorrupted,
    /// Frames delayed by a fault.
    FrameDelayed,
    /// Frames reordered.
    FrameReordered,
    /// Host answers with this response code, e.g. Response("63").
    Response(String),
    /// Alerts of this kind.
    Alert(AlertKind),
    /// Pieces of card data or PINs an attack stole.
    Stolen,
    /// Purchases an attacker made with a copied card that the host approved.
    CashOutApproved,
    /// Purchases an attacker tried with a copied card that were refused.
    CashOutDeclined,
}

/// What the monitor alerts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AlertKind {
    /// Consecutive timeouts at a terminal.
    LinkDown,
    /// MAC, ARQC or CVV failures.
    SecurityViolations,
    /// Malformed frames.
    FormatErrors,
    /// Duplicate transmissions.
    Duplicates,
    /// A cryptogram replayed or a cloned chip (ATC).
    AtcReplay,
    /// A reversal given up.
    ReversalAbandoned,
    /// A card PIN-blocked by wrong PINs.
    PinBlocked,
    /// Many refunds in a short time.
    RefundVelocity,
    /// A terminal locked its supervisor functions after wrong passwords.
    LoginLockout,
    /// A terminal sent data somewhere other than its acquirer.
    UnexpectedEgress,
    /// A terminal said the card verified the PIN; the card said it did not.
    CvmMismatch,
    /// One card used more often than the velocity limit allows (65).
    CardVelocity,
    /// A terminal that pins the host's certificate was shown another.
    CertificateMismatch,
    /// A terminal's unpredictable numbers (9F37) count up: its cryptograms
    /// can be made in advance (pre-play).
    UnPattern,
    /// A tamper check found a device on a terminal.
    TamperDetected,
    /// A refund was credited to a card that bought nothing here.
    RefundWithoutSale,
    /// A device signed on under a terminal id with a serial the inventory
    /// does not list for it.
    UnknownSerial,
}

/// What must hold for the run to pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expectation {
    /// The event never happens.
    Never(EventKind),
    /// It happens at least this often.
    AtLeast(u64, EventKind),
    /// It happens at most this often.
    AtMost(u64, EventKind),
    /// Terminals' totals equal the host's, and double entry holds.
    LedgerBalanced,
    /// No purchase is charged twice.
    NoDoubleCharge,
    /// Every approval is settled once or reversed; nobody pays without goods.
    NoLostTransaction,
    /// Money lost to fraud stays at or below this.
    FraudLossAtMost(Money),
    /// Every cent that moved is explained: each purchase charged other than
    /// its receipt says is an attack's doing, and no money moved for a
    /// request that belongs to no purchase.
    LossesAccounted,
    /// An alert of this kind fires within this time of its cause.
    AlertWithin(AlertKind, Duration),
    /// Approved / attempted customer transactions.
    ApprovalRateAtLeast(f64),
    /// The 99th percentile of request round trips.
    LatencyP99Below(Duration),
    /// The attack or fault of this name ("skimmer", "loss") acted at least
    /// once: a green run is not an inert one.
    Fired(String),
}
