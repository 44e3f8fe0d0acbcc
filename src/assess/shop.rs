//! The assessed shop as a scenario: the profile's answers become terminal
//! settings, staff, the bank's checks and the shop's routine, and one
//! attack of the catalogue is added. The text is an ordinary scenario file
//! (`possim assess --detail DIR` writes it), so every figure of the report
//! can be rerun with `possim run`.
//!
//! How each answer maps (docs/ASSESS.md has the table):
//! - `terminal_from`: a terminal from the acquirer or a listed reseller is a
//!   certified one: random unpredictable numbers, online-only (floor limit
//!   0), a relay bound of 400 ms on taps. Any other counts its unpredictable
//!   numbers, approves chip cards offline under 200.00 and has no relay bound.
//! - `installed_by`: set up by the acquirer or a professional, the terminal
//!   MACs its requests and checks the MAC of the bank's answers; set up by
//!   the owner, it has no MAC keys, and the bank takes its messages unMACed.
//! - `uplink`: `PlainTcp` is `tls: Off`, `Tls` is `On`, `TlsIfAvailable` is
//!   `Opportunistic`, `TlsPinned` is `Pinned`.
//! - `fallback`: allowed, the bank's `RefuseFallbackForChipCards` is off.
//! - passwords and refunds: the staff list (a cashier, a supervisor and the
//!   terminal's factory admin login) and the bank's `RefundsNeedASale`.
//! - the bank: every check of possim's host on, except `RefusePredictableUn`
//!   (few issuers watch for counting unpredictable numbers, and with it on a
//!   counting terminal could take no chip payment at all) and those the
//!   answers switch.
//! - `readers_inspected`: the shop's `tamper_check`; `device_list`: the
//!   bank's `DeviceInventory`.

use super::profile::{
    Inspection, Installer, Passwords, Profile, RefundCheck, Refunders, Source, Uplink, YesNo,
};
use super::text::{AttackTemplate, Slot};
use crate::money::Money;
use crate::time::Duration;

/// The terminal at another shop where thieves spend what they copied.
pub const AWAY: &str = "AWAY0001";
/// The shop's first terminal, where devices are fitted.
pub const SHOP: &str = "TERM0001";

/// Whether the shop has the readers the attack needs.
pub fn possible(p: &Profile, a: &AttackTemplate) -> bool {
    a.needs.iter().all(|s| match s {
        Slot::Magstripe => Profile::takes(p.magstripe),
        Slot::Chip => Profile::takes(p.chip),
        Slot::Contactless => Profile::takes(p.contactless),
    })
}

/// How long the shop takes to act on an alert, if anyone reads them.
pub fn reaction(p: &Profile) -> Option<Duration> {
    match p.alerts_watched {
        super::profile::Watch::Daily => Some(Duration::from_secs(86_400)),
        super::profile::Watch::Weekly => Some(Duration::from_secs(7 * 86_400)),
        _ => None,
    }
}

/// The scenario text: the shop, `days` of its trade, and the attack. With
/// `cut`, every attack that has not ended stops then (the alert was read
/// and acted on: the device removed, the copied cards blocked, the staff
/// member stopped); attacks that would only start after it are left out.
pub fn scenario(
    p: &Profile,
    a: Option<&AttackTemplate>,
    days: u32,
    cut: Option<Duration>,
    seed: u64,
) -> String {
    let certified = matches!(p.terminal_from, Source::Acquirer | Source::Reseller);
    let professional = matches!(p.installed_by, Installer::Acquirer | Installer::Professional);
    let tls = match p.uplink {
        Uplink::Tls => "On",
        Uplink::TlsIfAvailable => "Opportunistic",
        Uplink::TlsPinned => "Pinned",
        Uplink::PlainTcp | Uplink::Unknown => "Off",
    };
    let contactless = Profile::takes(p.contactless);
    let mut term = format!(
        "({}, reader: (chip: {}, magstripe: {}, contactless: {}), tls: {tls}, mac: {professional}, unpredictable_number: {}, floor_limit: \"{}\"",
        if p.terminals == 1 {
            format!("id: \"{SHOP}\"")
        } else {
            format!("id: \"TERM\", count: {}", p.terminals)
        },
        Profile::takes(p.chip),
        Profile::takes(p.magstripe),
        contactless,
        if certified { "Random" } else { "Counter" },
        if certified { "0.00" } else { "200.00" },
    );
    if contactless {
        term += &format!(", contactless_cvm_limit: \"{}\"", p.tap_limit());
    }
    if certified {
        term += ", relay_bound: \"400ms\"";
    }
    term += ")";
    let mut terminals = vec![term];
    let mut links = vec!["(id: \"uplink\", latency: \"40ms\", jitter: \"10ms\")".to_string()];
    if a.is_some_and(AttackTemplate::away) {
        terminals.push(format!(
            "(id: \"{AWAY}\", link: \"away\", merchant_id: \"ELSEWHERE000001\", tls: Pinned)"
        ));
        links.push("(id: \"away\", latency: \"40ms\", jitter: \"10ms\")".into());
    }
    let pw = if p.passwords == Passwords::PerPerson { "Strong" } else { "Weak" };
    let admin = if p.default_password_changed == YesNo::Yes { "Strong" } else { "Default" };
    let till_refunds = !matches!(p.refunds_by, Refunders::Nobody);
    let cashier_refunds = matches!(p.refunds_by, Refunders::Anyone | Refunders::Unknown);
    let staff = format!(
        "[(name: \"cashier\", password: {pw}, refunds: {cashier_refunds}), (name: \"supervisor\", password: {pw}, refunds: {till_refunds}), (name: \"admin\", password: {admin}, refunds: {till_refunds})]"
    );
    // A terminal set up without its MAC keys only works with a bank that
    // does not check MACs.
    let mut rules = if professional { vec!["VerifyMac"] } else { Vec::new() };
    rules.extend([
        "VerifyArqc",
        "AtcReplay",
        "VerifyPin",
        "VerifyCvv",
        "DuplicateWindow(\"24h\")",
        "MaxAmount(\"50000.00\")",
        "CheckExpiry",
        "RefuseBlockedCards",
        "CheckFunds",
        "CompareCvmResults",
        "RefuseDeviceCvmFromPlastic",
        "AidMatchesBin",
    ]);
    let fallback_allowed = p.fallback != YesNo::No;
    if !fallback_allowed {
        rules.push("RefuseFallbackForChipCards");
    }
    if p.refund_check == RefundCheck::OriginalSale && till_refunds {
        rules.push("RefundsNeedASale");
    }
    if p.device_list == YesNo::Yes {
        rules.push("DeviceInventory");
    }
    let tamper = match p.readers_inspected {
        Inspection::EveryShift => Some("8h"),
        Inspection::Daily => Some("24h"),
        Inspection::Weekly => Some("7d"),
        Inspection::Monthly => Some("30d"),
        Inspection::Never | Inspection::Unknown => None,
    };
    let mut shop = format!(
        "name: {:?}, merchant_id: \"SHOP00000000001\", terminals: [{}], staff: {staff}",
        p.name,
        terminals.join(", ")
    );
    if let Some(every) = tamper {
        shop += &format!(", tamper_check: \"{every}\"");
    }
    let per_hour = (f64::from(p.customers()) / 24.0 / f64::from(p.terminals)).max(0.01);
    let cards = p.customers().clamp(200, 5000);
    let end = Duration::from_secs(u64::from(days) * 86_400);
    let attacks = a.map(|a| attacks(p, a, cut, end)).unwrap_or_default();
    format!(
        "// possim assess: {name}, {days} days{what}.\n\
         Scenario(\n    name: {title:?},\n    seed: {seed},\n    duration: \"{days}d\",\n    currency: {cur:?},\n    \
         issuer: (rules: [{rules}]),\n    shop: ({shop}),\n    links: [{links}],\n    \
         cardholders: (count: {cards}),\n    traffic: (per_hour: {per_hour:.4}, tap: 0.6, amount: (median: \"{avg}\", spread: 0.6)),\n    \
         attacks: [\n{attacks}    ],\n)\n",
        name = p.name.replace('\n', " "),
        what = a.map(|a| format!(", attack {}", a.key)).unwrap_or_default(),
        title = format!("{} ({})", p.name, a.map_or("no attack", |a| a.key.as_str())),
        cur = p.currency,
        rules = rules.join(", "),
        links = links.join(", "),
        avg = p.average(),
    )
}

/// The attack's lines, placeholders filled, cut short where the shop acted;
/// those that would start after `end` (or the cut) are left out.
fn attacks(p: &Profile, a: &AttackTemplate, cut: Option<Duration>, end: Duration) -> String {
    let limit = p.tap_limit();
    let tap = if Profile::takes(p.contactless) && limit >= Money(100) {
        Money((limit.0 - 1).min(100_000))
    } else {
        Money(5000)
    };
    let mut kept: Vec<String> = Vec::new();
    for line in &a.attacks {
        let filled = line
            .replace("{shop}", SHOP)
            .replace("{away}", AWAY)
            .replace("{camera}", if p.pin_pad_shielded == YesNo::Yes { "false" } else { "true" })
            .replace("{tap_amount}", &tap.to_string());
        // A run shorter than the attack's month leaves out what would
        // start after it.
        if from(&filled).is_some_and(|f| f >= end) {
            continue;
        }
        match cut {
            None => kept.push(filled),
            Some(cut) => {
                if from(&filled).is_some_and(|f| f >= cut) {
                    continue;
                }
                match (field(&filled, "until"), filled.rfind(')')) {
                    (Some((_, u)), _) if u <= cut => kept.push(filled),
                    (Some((at, _)), _) => {
                        let rest = &filled[at..];
                        let close = rest.find('"').unwrap_or(rest.len());
                        kept.push(format!("{}{cut}{}", &filled[..at], &rest[close..]));
                    }
                    (None, Some(i)) => kept.push(format!("{}, until: \"{cut}\")", &filled[..i])),
                    (None, None) => kept.push(filled),
                }
            }
        }
    }
    // Pre-play firmware whose cash-out was left out harvests for nobody.
    if !kept.iter().any(|k| k.contains("loot: \"pre_play\"")) {
        kept.retain(|k| !k.starts_with("PrePlay"));
    }
    kept.iter().map(|k| format!("        {k},\n")).collect()
}

/// The `from` of one attack line.
fn from(line: &str) -> Option<Duration> {
    field(line, "from").map(|(_, d)| d)
}

/// A duration field of one attack line: where its value starts, and the value.
fn field(line: &str, name: &str) -> Option<(usize, Duration)> {
    let key = format!("{name}: \"");
    let at = line.find(&key)? + key.len();
    let rest = &line[at..];
    Some((at, Duration::parse(&rest[..rest.find('"')?]).ok()?))
}
