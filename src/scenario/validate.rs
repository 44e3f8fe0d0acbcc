//! Checks a parsed scenario for what serde cannot: references, ranges,
//! identifiers, keys. Each error is placed on the offending text.

use std::collections::BTreeSet;

use super::{Cardholders, Diagnostic, EventKind, Expectation, Kind, Scenario};
use crate::protocol::crypto::TdesKey;
use crate::protocol::iso8583::{Mti, Spec};
use crate::protocol::response::ResponseCode;
use crate::protocol::track::luhn_valid;
use crate::time::DateTime;

struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    fn at(&self, needle: &str, after: Option<&str>, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::find(self.file, self.text, needle, after, msg)
    }

    /// Places the error on `field: value` if it is written out, else on `field`.
    fn field(&self, field: &str, value: &str, msg: impl Into<String>) -> Diagnostic {
        let quoted = format!("\"{value}\"");
        let d = self.at(&quoted, Some(&format!("{field}:")), msg);
        if d.line == 1 && !self.text.lines().next().unwrap_or("").contains(&quoted) {
            self.at(&format!("{field}:"), None, d.message)
        } else {
            d
        }
    }
}

fn prob(c: &Ctx<'_>, name: &str, v: f64) -> Result<(), Diagnostic> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(c.at(
            &format!("{name}:"),
            None,
            format!("`{name}` must be between 0.0 and 1.0, found {v}"),
        ))
    }
}

fn key(c: &Ctx<'_>, name: &str, v: &Option<String>) -> Result<(), Diagnostic> {
    match v {
        Some(hex) => TdesKey::from_hex(hex).map(|_| ()).map_err(|e| {
            c.field(name, hex, format!("key `{name}`: {e}"))
                .help("a double-length TDES key is 32 hex digits")
        }),
        None => Ok(()),
    }
}

fn digits(c: &Ctx<'_>, field: &str, v: &str, n: usize) -> Result<(), Diagnostic> {
    if v.len() == n && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(c.field(field, v, format!("`{field}` must be {n} digits, found {v:?}")))
    }
}

/// Every check, in file order.
pub(super) fn check(s: &Scenario, text: &str, file: &str) -> Result<(), Diagnostic> {
    let c = Ctx { text, file };
    if s.name.trim().is_empty() {
        return Err(c.at("name:", None, "`name` must not be empty"));
    }
    // Names are printed in summaries, reports and terminals: no control
    // characters (escape sequences could rewrite what a user sees).
    let names = [("name", s.name.as_str()), ("name", s.shop.name.as_str())]
        .into_iter()
        .chain(s.links.iter().map(|l| ("id", l.id.as_str())))
        .chain(s.shop.staff.iter().map(|st| ("name", st.name.as_str())))
        .chain(s.lesson.iter().map(|l| ("lesson", l.as_str())));
    for (field, name) in names {
        if name.chars().any(char::is_control) {
            return Err(c.at(
                &format!("{field}:"),
                None,
                format!("`{field}` {name:?} contains control characters"),
            ));
        }
    }
    if s.duration.micros() == 0 {
        return Err(c.at("duration:", None, "`duration` must be more than zero"));
    }
    DateTime::parse(&s.start).map_err(|e| c.field("start", &s.start, e))?;
    digits(&c, "currency", &s.currency, 3)?;
    digits(&c, "country", &s.country, 3)?;
    let spec = Spec::load(&s.dialect).map_err(|e| {
        let io = matches!(e, crate::protocol::iso8583::SpecError::Io { .. });
        Diagnostic { io, ..c.field("dialect", &s.dialect, e.to_string()) }
    })?;
    if let Err(e) = dialect_carries_possims_messages(&spec) {
        return Err(c.field(
            "dialect",
            &s.dialect,
            format!("dialect {} cannot carry the messages possim sends: {e}", spec.name()),
        ));
    }

    key(&c, "imk_ac", &s.issuer.keys.imk_ac)?;
    key(&c, "cvk", &s.issuer.keys.cvk)?;
    key(&c, "pvk", &s.issuer.keys.pvk)?;
    if s.issuer.pin_try_limit == 0 {
        return Err(c.at("pin_try_limit:", None, "`pin_try_limit` must be at least 1"));
    }
    for w in &s.issuer.down {
        if w.from >= w.until {
            return Err(c.at(
                "down:",
                None,
                "an issuer outage must end after it starts (`from` < `until`)",
            ));
        }
    }

    let mid = &s.shop.merchant_id;
    if mid.is_empty() || mid.len() > 15 || !mid.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(c.field(
            "merchant_id",
            mid,
            "`merchant_id` must be 1 to 15 printable characters (field 42)",
        ));
    }
    if let Some(every) = s.shop.tamper_check
        && every < limit("1m")
    {
        return Err(c.at(
            "tamper_check:",
            None,
            format!("`tamper_check` is at least 1m (staff cannot look every {every})"),
        ));
    }
    let link_ids: Vec<&str> = s.links.iter().map(|l| l.id.as_str()).collect();
    let mut seen = BTreeSet::new();
    for l in &s.links {
        if !seen.insert(l.id.as_str()) {
            return Err(c.at(
                &format!("\"{}\"", l.id),
                Some("links:"),
                format!("link `{}` is defined twice", l.id),
            ));
        }
        if l.bandwidth == Some(0) {
            return Err(c.at(
                "bandwidth:",
                None,
                "`bandwidth` must be more than 0 bytes per second (leave it out for unlimited)",
            ));
        }
    }
    if s.shop.terminals.is_empty() {
        return Err(c.at("terminals:", None, "the shop needs at least one terminal"));
    }
    let mut tids = BTreeSet::new();
    for t in &s.shop.terminals {
        let ok_chars = t.id.bytes().all(|b| (0x21..0x7f).contains(&b));
        let max = if t.count > 1 { 4 } else { 8 };
        if t.id.is_empty() || t.id.len() > max || !ok_chars {
            let why = if t.count > 1 {
                "with `count`, a terminal `id` is a prefix of 1 to 4 characters (a 4-digit number follows)"
            } else {
                "a terminal `id` is 1 to 8 printable characters without spaces (field 41)"
            };
            return Err(c.field("id", &t.id, why));
        }
        if t.count > 9999 {
            return Err(c.at(
                "count:",
                Some(&format!("\"{}\"", t.id)),
                "`count` is at most 9999 (ids end in a 4-digit number)",
            ));
        }
        if t.count == 0 {
            return Err(c.at(
                "count:",
                Some(&format!("\"{}\"", t.id)),
                "`count` must be at least 1",
            ));
        }
        if let super::Stack::External { listen } = &t.stack {
            if t.count != 1 {
                return Err(c.at(
                    "count:",
                    Some(&format!("\"{}\"", t.id)),
                    "an `External` terminal is one real terminal: `count` must be 1",
                ));
            }
            if listen.parse::<std::net::SocketAddr>().is_err() {
                return Err(c.field(
                    "listen",
                    listen,
                    format!(
                        "`listen` {listen:?} is not an address and port like \"127.0.0.1:8600\""
                    ),
                ));
            }
        }
        for id in expand_ids(&t.id, t.count) {
            if !tids.insert(id.clone()) {
                return Err(c.field("id", &t.id, format!("terminal `{id}` is defined twice")));
            }
        }
        if !link_ids.contains(&t.link.as_str()) {
            let d = c.field(
                "link",
                &t.link,
                format!("terminal `{}` uses link `{}`, which is not defined", t.id, t.link),
            );
            return Err(match super::closest(&t.link, &link_ids) {
                Some(k) => d.help(format!("did you mean `{k}`? (links: {})", link_ids.join(", "))),
                None => d.help(format!("links: {}", link_ids.join(", "))),
            });
        }
        key(&c, "tak", &t.keys.tak)?;
        key(&c, "tpk", &t.keys.tpk)?;
        if t.response_timeout.micros() == 0 {
            return Err(c.at(
                "response_timeout:",
                None,
                "`response_timeout` must be more than zero",
            ));
        }
        if let Some(sn) = &t.serial
            && (sn.is_empty()
                || sn.len() > 30
                || sn.trim() != sn
                || !sn.bytes().all(|b| (0x20..0x7f).contains(&b)))
        {
            return Err(c.field(
                "serial",
                sn,
                "`serial` must be 1 to 30 printable characters, without spaces at either end (field 62 of the sign-on)",
            ));
        }
        if let Some(mid) = &t.merchant_id
            && (mid.is_empty() || mid.len() > 15 || !mid.bytes().all(|b| (0x20..0x7f).contains(&b)))
        {
            return Err(c.field(
                "merchant_id",
                mid,
                "`merchant_id` must be 1 to 15 printable characters (field 42)",
            ));
        }
        for (name, limit) in
            [("floor_limit:", t.floor_limit), ("contactless_cvm_limit:", t.contactless_cvm_limit)]
        {
            if limit.0 < 0 {
                return Err(c.at(
                    name,
                    None,
                    format!("`{}` cannot be negative, not {limit}", name.trim_end_matches(':')),
                ));
            }
        }
        if t.reversal_attempts == 0 || t.reversal_max_attempts < t.reversal_attempts {
            return Err(c.at(
                "reversal_",
                None,
                "need 1 <= `reversal_attempts` <= `reversal_max_attempts`",
            ));
        }
        let after = format!("\"{}\"", t.id);
        at_most(&c, "response_timeout", t.response_timeout, "10m", &after)?;
        at_most(&c, "reversal_retry", t.reversal_retry, "1d", &after)?;
        if t.reversal_max_attempts > MAX_REVERSAL_ATTEMPTS {
            return Err(c.at(
                "reversal_max_attempts:",
                Some(&after),
                format!(
                    "`reversal_max_attempts` is at most {MAX_REVERSAL_ATTEMPTS}, found {}",
                    t.reversal_max_attempts
                ),
            ));
        }
        if t.response_timeout < limit("1s") || t.reversal_retry < limit("1s") {
            return Err(c.at(
                if t.response_timeout < limit("1s") {
                    "response_timeout:"
                } else {
                    "reversal_retry:"
                },
                Some(&after),
                "`response_timeout` and `reversal_retry` are at least 1s",
            ));
        }
        if t.on_timeout == super::OnTimeout::ResendSameStan
            && let Some(window) = duplicate_window(s)
        {
            // A copy may also be held on the link by its faults.
            let hold: u64 = s
                .links
                .iter()
                .filter(|l| l.id == t.link)
                .flat_map(|l| &l.faults)
                .map(|f| f.kind.worst_delay(t.response_timeout, l_latency(s, &t.link)).micros())
                .fold(0, u64::saturating_add);
            let span = t
                .response_timeout
                .micros()
                .saturating_mul(u64::from(t.reversal_attempts))
                .saturating_add(hold);
            if window.micros() < span {
                return Err(c
                    .at("DuplicateWindow", None, format!(
                        "`DuplicateWindow({window})` is shorter than the {} terminal `{}` spends resending one request ({} tries x {}, plus what its link's faults can hold a copy): a late copy would be charged again",
                        crate::time::Duration(span), t.id, t.reversal_attempts, t.response_timeout
                    ))
                    .help("widen the window, or resend fewer times"));
            }
        }
    }
    fault_filters(&c, s)?;
    attacks(&c, s)?;
    defences_off(&c, s)?;
    for rule in s.issuer.rules.iter().flatten() {
        if let super::Rule::VelocityLimit(n, w) = rule
            && (*n == 0 || *w < limit("1m") || *w > limit("31d"))
        {
            return Err(c.at("VelocityLimit", None, format!("`VelocityLimit({n}, \"{w}\")`: at least 1 use, over a window between 1m and 31d")));
        }
    }
    if let Some(l) = &s.lesson
        && crate::lesson::lesson(l, crate::lesson::Lang::En).is_none()
    {
        let keys: Vec<&str> = crate::lesson::keys().collect();
        let d = c.field("lesson", l, format!("there is no lesson `{l}`"));
        return Err(match super::closest(l, &keys) {
            Some(k) => d.help(format!("did you mean `{k}`?")),
            None => d.help(format!("lessons: {}", keys.join(", "))),
        });
    }
    limits(&c, s)?;
    cardholders(&c, &s.cardholders)?;
    let t = &s.traffic;
    if !(t.per_hour.is_finite() && t.per_hour > 0.0 && t.per_hour <= 36_000.0) {
        return Err(c.at("per_hour:", None, format!("`per_hour` must be more than 0 and at most 36000 (one customer every 100 ms), found {}", t.per_hour)));
    }
    if !(t.amount.min.0 > 0 && t.amount.min <= t.amount.median && t.amount.median <= t.amount.max) {
        return Err(c.at("amount:", None, "amounts need 0 < `min` <= `median` <= `max`"));
    }
    if !(t.amount.spread.is_finite() && t.amount.spread >= 0.0) {
        return Err(c.at("spread:", None, "`spread` must be zero or more"));
    }
    prob(&c, "tap", t.tap)?;
    prob(&c, "refunds", t.refunds)?;
    let m = &s.monitor;
    if [m.link_down_after, m.security_violations, m.format_errors, m.duplicates].contains(&0) {
        return Err(c.at("monitor:", None, "monitor thresholds must be at least 1"));
    }
    for e in &s.expect {
        match e {
            Expectation::ApprovalRateAtLeast(r) => {
                prob(&c, "ApprovalRateAtLeast(", *r).map_err(|d| Diagnostic {
                    message: format!(
                        "ApprovalRateAtLeast takes a share between 0.0 and 1.0, found {r}"
                    ),
                    ..d
                })?
            }
            Expectation::Never(EventKind::Response(code))
            | Expectation::AtLeast(_, EventKind::Response(code))
            | Expectation::AtMost(_, EventKind::Response(code))
                if matches!(ResponseCode::from_code(code), ResponseCode::Other(_)) =>
            {
                return Err(c
                    .field(
                        "Response(",
                        code,
                        format!("{code:?} is not a response code the host sends"),
                    )
                    .help(format!("known codes: {}", ResponseCode::known_codes().join(", "))));
            }
            // Only a cash-out turns stolen data into money: without one the
            // expectation could only pass vacuously.
            Expectation::FraudLossAtMost(_) if !s.attacks.iter().any(|a| a.kind.costs_money()) => {
                return Err(c
                    .at("FraudLossAtMost", None, "FraudLossAtMost needs an attack that can cost money (`CashOut`, `StolenCards`, `Relay`, `InsiderRefund`, `MitmTamperAmount`, `Replay` or `MitmInject`), and this scenario has none")
                    .help("add a `CashOut(loot: ...)` attack, or remove the expectation; a loss that nothing causes would always read 0.00"));
            }
            Expectation::Fired(name) => {
                let known = s.attacks.iter().any(|a| a.kind.name() == name)
                    || s.links.iter().flat_map(|l| &l.faults).any(|f| f.kind.name() == name);
                if !known {
                    let mut names: Vec<&str> = s.attacks.iter().map(|a| a.kind.name()).collect();
                    names.extend(s.links.iter().flat_map(|l| &l.faults).map(|f| f.kind.name()));
                    let d = c.field(
                        "Fired(",
                        name,
                        format!("no attack or fault named `{name}` in this scenario"),
                    );
                    return Err(match super::closest(name, &names) {
                        Some(k) => d.help(format!("did you mean `{k}`?")),
                        None if names.is_empty() => {
                            d.help("this scenario has no attacks or faults")
                        }
                        None => d.help(format!("this scenario has: {}", names.join(", "))),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The longest run possim simulates.
const MAX_DURATION: &str = "31d";
/// The most tries a reversal may get.
const MAX_REVERSAL_ATTEMPTS: u32 = 1000;
/// The largest balance or amount: a million cardholders' sums still fit.
const MAX_MONEY: &str = "1000000000.00";

fn limit(text: &str) -> crate::time::Duration {
    crate::time::Duration::parse(text).unwrap_or(crate::time::Duration::ZERO)
}

/// `field` at most `max`, placed on the field after `after`.
fn at_most(
    c: &Ctx<'_>,
    field: &str,
    v: crate::time::Duration,
    max: &str,
    after: &str,
) -> Result<(), Diagnostic> {
    if v > limit(max) {
        return Err(c.at(
            &format!("{field}:"),
            Some(after),
            format!("`{field}` is at most {max}, found {v}"),
        ));
    }
    Ok(())
}

/// Every name in `issuer.off` is a defence's: a misspelt one would leave
/// the defence on and the lesson wrong without a word.
fn defences_off(c: &Ctx<'_>, s: &Scenario) -> Result<(), Diagnostic> {
    use crate::host::Check;
    let names = Check::defence_names();
    let listed = format!("defences: {}", names.join(", "));
    for name in &s.issuer.off {
        let (message, help) = match Check::from_name(name) {
            Some(check) if check.is_defence() => continue,
            Some(_) => (
                format!(
                    "`{name}` is a step the host cannot decide without; it cannot be switched off"
                ),
                listed,
            ),
            None => (
                format!("no defence named `{name}`"),
                match super::closest(name, &names) {
                    Some(k) => format!("did you mean `{k}`? ({listed})"),
                    None => listed,
                },
            ),
        };
        return Err(c.field("off", name, message).help(help));
    }
    Ok(())
}

fn l_latency(s: &Scenario, link: &str) -> crate::time::Duration {
    s.links.iter().find(|l| l.id == link).map_or(crate::time::Duration::ZERO, |l| l.latency)
}

fn duplicate_window(s: &Scenario) -> Option<crate::time::Duration> {
    let rules = s.issuer.host_rules();
    rules.is_on(crate::host::Check::Duplicates).then_some(rules.duplicate_window)
}

/// Values that would make a run hang, overflow or never end: each is
/// refused here, with its position, rather than met at run time.
fn limits(c: &Ctx<'_>, s: &Scenario) -> Result<(), Diagnostic> {
    at_most(c, "duration", s.duration, MAX_DURATION, "")?;
    for l in &s.links {
        let after = format!("\"{}\"", l.id);
        at_most(c, "latency", l.latency, "1h", "links:")?;
        at_most(c, "jitter", l.jitter, "1h", "links:")?;
        if !(1024..=64 << 20).contains(&l.queue) {
            return Err(c.at(
                "queue:",
                None,
                format!("`queue` is 1024 bytes to 64 MiB, found {}", l.queue),
            ));
        }
        if l.overhead > 65_536 {
            return Err(c.at("overhead:", None, "`overhead` is at most 65536 bytes"));
        }
        for f in &l.faults {
            if let Some(from) = f.scope.from
                && from >= s.duration
            {
                return Err(c.at(
                    "from:",
                    Some(&after),
                    format!("this fault starts at {from}, after the run ends ({})", s.duration),
                ));
            }
            let worst = f.kind.worst_delay(limit("10m"), crate::time::Duration::ZERO);
            if worst > limit("1d") {
                return Err(c.at(
                    &format!("{}(", f.kind.written()),
                    Some("faults:"),
                    format!("a fault may hold a frame back at most 1d, this one {worst}"),
                ));
            }
        }
    }
    let t = &s.traffic;
    at_most(c, "pin_entry", t.pin_entry, "10m", "traffic:")?;
    at_most(c, "apdu_time", t.apdu_time, "10s", "traffic:")?;
    at_most(c, "window", s.monitor.window, MAX_DURATION, "monitor:")?;
    let max_money = crate::money::Money::parse(MAX_MONEY).unwrap_or_default();
    let h = &s.cardholders;
    let balances = std::iter::once(h.balance).chain(h.cards.iter().filter_map(|c| c.balance));
    if balances.into_iter().any(|b| b > max_money) {
        return Err(c.at("balance:", None, format!("a balance is at most {MAX_MONEY}")));
    }
    if t.amount.max > max_money {
        return Err(c.at("max:", Some("amount:"), format!("an amount is at most {MAX_MONEY}")));
    }
    // Generated card numbers are 16 digits: the BIN, random digits, a
    // check digit. They must fit, with room to spare for drawing them.
    let free = 15usize.saturating_sub(h.bin.len());
    let room = 10u64.checked_pow(free as u32).unwrap_or(u64::MAX);
    let taken = h.cards.iter().filter(|c| c.pan.len() == 16 && c.pan.starts_with(&h.bin)).count();
    let wanted = u64::from(h.count) + taken as u64;
    if h.count > 0 && wanted > room / 2 {
        return Err(c.at(
            "count:",
            Some("cardholders:"),
            format!(
                "BIN {} leaves room for {room} card numbers; {wanted} cards would use more than half of them",
                h.bin
            ),
        ).help("use a shorter `bin`, or fewer cardholders"));
    }
    Ok(())
}

/// The MTIs that travel on a link: what the terminals send and the host answers.
const MTIS_ON_A_LINK: [Mti; 8] = [
    Mti::REQUEST,
    Mti::RESPONSE,
    Mti::ADVICE,
    Mti::ADVICE_RESPONSE,
    Mti::REVERSAL,
    Mti::REVERSAL_RESPONSE,
    Mti::NETWORK,
    Mti::NETWORK_RESPONSE,
];

/// A fault's filter must be able to match: an MTI that travels, a terminal
/// that exists and uses this link. (Ranges and windows are checked where
/// they are parsed, see `scoped.rs`.)
fn fault_filters(c: &Ctx<'_>, s: &Scenario) -> Result<(), Diagnostic> {
    for l in &s.links {
        let on_link: Vec<String> = s
            .shop
            .terminals
            .iter()
            .filter(|t| t.link == l.id)
            .flat_map(|t| expand_ids(&t.id, t.count))
            .collect();
        for f in &l.faults {
            if let Some(m) = f.scope.mti
                && !MTIS_ON_A_LINK.contains(&m)
            {
                let m = m.to_string();
                return Err(c
                    .field("mti", &m, format!("no frame with MTI {m} travels on a link"))
                    .help("possim's links carry 0200/0210, 0220/0230, 0400/0410 and 0800/0810"));
            }
            if let Some(t) = &f.scope.terminal
                && !on_link.contains(t)
            {
                let names: Vec<&str> = on_link.iter().map(String::as_str).collect();
                let d = c.field(
                    "terminal",
                    t,
                    format!(
                        "a fault on link `{}` names terminal `{t}`, which does not use that link",
                        l.id
                    ),
                );
                return Err(match super::closest(t, &names) {
                    Some(k) => d.help(format!("did you mean `{k}`?")),
                    None => d.help(format!("terminals on `{}`: {}", l.id, names.join(", "))),
                });
            }
        }
    }
    Ok(())
}

/// Attacks must name terminals that exist and can carry them, a cash-out
/// must have loot to spend, and a card device has no direction or MTI.
fn attacks(c: &Ctx<'_>, s: &Scenario) -> Result<(), Diagnostic> {
    let terminals: Vec<(String, &super::TerminalSpec)> = s
        .shop
        .terminals
        .iter()
        .flat_map(|t| expand_ids(&t.id, t.count).into_iter().map(move |id| (id, t)))
        .collect();
    for a in &s.attacks {
        let written = a.kind.written();
        let here = Some(written);
        if a.scope.direction.is_some() || a.scope.mti.is_some() {
            let what = if a.kind.link().is_some() {
                "picks the frames it acts on itself (purchase requests)"
            } else {
                "acts on a card reader or at a counter, not on frames"
            };
            return Err(c
                .at(
                    if a.scope.direction.is_some() { "direction:" } else { "mti:" },
                    here,
                    format!("`{written}` {what}: it takes no `direction` or `mti`"),
                )
                .help("a link fault takes `direction` and `mti`"));
        }
        let real = |id: &str| {
            terminals
                .iter()
                .any(|(t, spec)| t == id && matches!(spec.stack, super::Stack::External { .. }))
        };
        if a.kind.link().is_none() && terminals.iter().any(|(t, _)| real(t)) {
            // A device at a counter or an attacker at a till needs possim's
            // own terminal: a real one's customers are real people.
            match &a.scope.terminal {
                Some(t) if real(t) => {
                    return Err(c.field(
                        "terminal",
                        t,
                        format!("`{written}` acts at the counter of `{t}`, a real terminal (External): it needs an emulated one"),
                    ));
                }
                None => {
                    return Err(c
                        .at(written, None, format!("`{written}` needs a `terminal`: this scenario has real terminals, and it must act at an emulated one"))
                        .help("add terminal: \"ID\" naming an Emulated terminal"));
                }
                Some(_) => {}
            }
        }
        if let Some(link) = a.kind.link() {
            let links: Vec<&str> = s.links.iter().map(|l| l.id.as_str()).collect();
            if !links.contains(&link) {
                let d = c.field(
                    "link",
                    link,
                    format!("`{written}` taps link `{link}`, which this scenario does not have"),
                );
                return Err(match super::closest(link, &links) {
                    Some(k) => d.help(format!("did you mean `{k}`?")),
                    None => d.help(format!("links: {}", links.join(", "))),
                });
            }
            if let Some(t) = &a.scope.terminal
                && let Some((_, spec)) = terminals.iter().find(|(id, _)| id == t)
                && spec.link != link
            {
                return Err(c.field("terminal", t, format!("terminal `{t}` talks over link `{}`, not `{link}`: the attack would never see its frames", spec.link)));
            }
        }
        if let Some(from) = a.scope.from
            && from >= s.duration
        {
            return Err(c.at(
                written,
                None,
                format!("this attack starts at {from}, after the run ends ({})", s.duration),
            ));
        }
        let targets: Vec<&(String, &super::TerminalSpec)> = match &a.scope.terminal {
            Some(t) => {
                let Some(found) = terminals.iter().find(|(id, _)| id == t) else {
                    let names: Vec<&str> = terminals.iter().map(|(id, _)| id.as_str()).collect();
                    let d = c.field(
                        "terminal",
                        t,
                        format!("`{written}` names terminal `{t}`, which this shop does not have"),
                    );
                    return Err(match super::closest(t, &names) {
                        Some(k) => d.help(format!("did you mean `{k}`?")),
                        None => d.help(format!("terminals: {}", names.join(", "))),
                    });
                };
                vec![found]
            }
            None => terminals.iter().collect(),
        };
        let needs = |ok: fn(&super::ReaderSpec) -> bool, what: &str| -> Result<(), Diagnostic> {
            if let Some((id, _)) = targets.iter().find(|(_, t)| !ok(&t.reader)) {
                return Err(c
                    .at(written, None, format!("`{written}` needs {what}, and terminal `{id}` has none"))
                    .help("name a terminal that has one with `terminal: \"...\"`, or give this one the reader"));
            }
            Ok(())
        };
        match &a.kind {
            super::AttackKind::Skimmer { .. } => needs(|r| r.magstripe, "a swipe slot")?,
            super::AttackKind::Shimmer {} => needs(|r| r.chip, "a chip slot")?,
            super::AttackKind::PrePlay { .. } => {
                needs(|r| r.chip, "a chip slot")?;
                let spent = s.attacks.iter().any(
                    |o| matches!(&o.kind, super::AttackKind::CashOut { loot, .. } if loot == "pre_play"),
                );
                if !spent {
                    return Err(c
                        .at(written, None, "pre-play harvests cryptograms for a cash-out's terminal and amount, and no cash-out spends them")
                        .help("add `CashOut(loot: \"pre_play\", terminal: \"...\", amount: \"...\")`"));
                }
            }
            super::AttackKind::InsiderRefund { staff, .. } => {
                let names: Vec<&str> = s.shop.staff.iter().map(|m| m.name.as_str()).collect();
                if !names.contains(&staff.as_str()) {
                    let d = c.field(
                        "staff",
                        staff,
                        format!("the insider `{staff}` is not on the shop's staff"),
                    );
                    return Err(match super::closest(staff, &names) {
                        Some(k) => d.help(format!("did you mean `{k}`?")),
                        None if names.is_empty() => {
                            d.help("add them under `shop: (staff: [(name: \"...\")])`")
                        }
                        None => d.help(format!("staff: {}", names.join(", "))),
                    });
                }
                if s.cardholders.count < 2 {
                    return Err(c.at(written, None, "an insider refunds to a card of their own, taken from the cardholders: there must be at least 2"));
                }
            }
            super::AttackKind::TerminalSwap {}
                if s.attacks
                    .iter()
                    .filter(|o| {
                        matches!(o.kind, super::AttackKind::TerminalSwap {})
                            && o.scope.terminal == a.scope.terminal
                    })
                    .count()
                    > 1 =>
            {
                return Err(c.at(written, None, "a terminal can be swapped only once in a scenario: two swaps of the same terminal would lose its real keys"));
            }
            super::AttackKind::TerminalSwap {} if a.scope.terminal.is_none() => {
                return Err(c.at(
                    written,
                    None,
                    "a terminal swap replaces one terminal: name it with `terminal: \"...\"`",
                ));
            }
            super::AttackKind::Relay { cards, .. } => {
                if u64::from(*cards) >= u64::from(s.cardholders.count) {
                    return Err(c.at(
                        written,
                        None,
                        format!(
                            "a relay cannot reach {cards} of the {} cardholders: leave some",
                            s.cardholders.count
                        ),
                    ));
                }
                if let Some((id, _)) = targets.first().filter(|(_, t)| !t.reader.contactless) {
                    return Err(c.at(written, None, format!("a relay is tapped on a contactless reader, and terminal `{id}` has none")));
                }
            }
            super::AttackKind::StolenCards { cards, tap, .. } => {
                if u64::from(*cards) >= u64::from(s.cardholders.count) {
                    return Err(c.at(written, None, format!("a thief cannot hold {cards} of the {} cardholders' cards: leave some to shop", s.cardholders.count)));
                }
                if *tap
                    && let Some((id, _)) = targets.first().filter(|(_, t)| !t.reader.contactless)
                {
                    return Err(c.at(
                        written,
                        None,
                        format!(
                            "`tap: true` needs a contactless reader, and terminal `{id}` has none"
                        ),
                    ));
                }
            }
            super::AttackKind::PinPadOverlay {}
            | super::AttackKind::RamScraper {}
            | super::AttackKind::TerminalSwap {}
            | super::AttackKind::MitmRead { .. }
            | super::AttackKind::MitmRogueCert { .. }
            | super::AttackKind::MitmTamperAmount { .. }
            | super::AttackKind::MitmInject { .. }
            | super::AttackKind::MitmStripTls { .. }
            | super::AttackKind::Replay { .. } => {}
            super::AttackKind::CashOut { loot, yes_card, .. } => {
                // Where the attacker pays: the named terminal, else the first.
                // A yes-card or a pre-played card goes in the chip slot.
                let chip = *yes_card || loot == "pre_play";
                if *yes_card && loot == "pre_play" {
                    return Err(c.field("loot", loot, "a pre-played card replays a real card's answers; it cannot also be a yes-card")
                        .help("drop `yes_card`, or spend another attack's loot"));
                }
                if let Some((id, t)) = targets.first()
                    && chip
                    && !t.reader.chip
                {
                    return Err(c
                        .at(written, None, format!("this cash-out pays with a chip card, and terminal `{id}` has no chip slot"))
                        .help("name a terminal with a chip reader with `terminal: \"...\"`"));
                }
                if let Some((id, t)) = targets.first()
                    && !chip
                    && !t.reader.magstripe
                {
                    return Err(c
                        .at(written, None, format!("a cash-out pays with copied magstripes, and terminal `{id}` has no swipe slot"))
                        .help("name a terminal with a magstripe reader with `terminal: \"...\"`"));
                }
                let sources: Vec<&str> =
                    s.attacks.iter().filter(|o| o.kind.steals()).map(|o| o.kind.name()).collect();
                if !sources.contains(&loot.as_str()) {
                    let d = c.field("loot", loot, format!("a cash-out spends the loot of `{loot}`, and no such attack steals anything in this scenario"));
                    return Err(match super::closest(loot, &sources) {
                        Some(k) => d.help(format!("did you mean `{k}`?")),
                        None if sources.is_empty() => d.help("add the attack that steals the data: a `Skimmer`, `Shimmer`, `PinPadOverlay`, `RamScraper`, `TerminalSwap` or `MitmRead`"),
                        None => d.help(format!("attacks that steal here: {}", sources.join(", "))),
                    });
                }
            }
        }
    }
    Ok(())
}

fn cardholders(c: &Ctx<'_>, h: &Cardholders) -> Result<(), Diagnostic> {
    for (name, v) in [
        ("chip", h.chip),
        ("contactless", h.contactless),
        ("offline_pin", h.offline_pin),
        ("pin_typo", h.pin_typo),
        ("broken_chip", h.broken_chip),
    ] {
        prob(c, name, v)?;
    }
    if h.count > 1_000_000 {
        return Err(c.at("count:", Some("cardholders:"), "at most 1000000 generated cardholders"));
    }
    if h.balance.0 < 0 {
        return Err(c.at("balance:", Some("cardholders:"), "a balance cannot be negative"));
    }
    if h.count == 0 && h.cards.is_empty() {
        return Err(c.at(
            "cardholders:",
            None,
            "there must be at least one cardholder (`count` or `cards`)",
        ));
    }
    if h.bin.is_empty() || h.bin.len() > 11 || !h.bin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(c.field("bin", &h.bin, "`bin` must be 1 to 11 digits"));
    }
    let mut pans = BTreeSet::new();
    for card in &h.cards {
        if !((12..=19).contains(&card.pan.len()) && luhn_valid(&card.pan)) {
            return Err(c.field(
                "pan",
                &card.pan,
                "a PAN is 12 to 19 digits and passes the Luhn check",
            ));
        }
        if !pans.insert(card.pan.as_str()) {
            return Err(c.field("pan", &card.pan, "this card is listed twice"));
        }
        if !((4..=12).contains(&card.pin.len()) && card.pin.bytes().all(|b| b.is_ascii_digit())) {
            return Err(c.field("pin", &card.pin, "a PIN is 4 to 12 digits"));
        }
        digits(c, "psn", &card.psn, 2)?;
        digits(c, "expiry", &card.expiry, 4)?;
        if !(1..=12)
            .contains(&card.expiry.get(2..).and_then(|m| m.parse::<u32>().ok()).unwrap_or(0))
        {
            return Err(c.field(
                "expiry",
                &card.expiry,
                "`expiry` is YYMM with a month from 01 to 12",
            ));
        }
        if card.balance.is_some_and(|b| b.0 < 0) {
            return Err(c.at("balance:", Some(&card.pan), "a balance cannot be negative"));
        }
    }
    Ok(())
}

/// Encodes a request, a response and a reversal like the ones the terminals
/// and the host send, so a dialect that cannot carry them fails here and not
/// as a silent decline in the middle of a run.
fn dialect_carries_possims_messages(
    spec: &Spec,
) -> Result<(), crate::protocol::iso8583::EncodeError> {
    use crate::protocol::iso8583::Message;
    let mut req = Message::new(Mti::REQUEST);
    req.set(3, "000000")
        .set_amount(3500)
        .set(7, "1124101530")
        .set_stan(1)
        .set(12, "101530")
        .set(13, "1124");
    req.set(22, "051").set(23, "000").set(25, "00").set(35, "4073662585178123=330620110868831000");
    req.set(37, "632809000001").set(41, "TERM0001").set(42, "SHOP00000000001").set(49, "156");
    req.set(52, [0u8; 8]).set(55, [0u8; 100]).set(64, [0u8; 8]);
    spec.encode(&req)?;
    let mut resp = Message::new(Mti::RESPONSE);
    resp.set(3, "000000").set_amount(3500).set(7, "1124101530").set_stan(1).set(37, "632809000001");
    resp.set(38, "000001").set(39, "00").set(41, "TERM0001").set(55, [0u8; 12]).set(64, [0u8; 8]);
    spec.encode(&resp)?;
    let mut rev = Message::new(Mti::REVERSAL);
    rev.set(3, "000000")
        .set_amount(3500)
        .set(7, "1124101530")
        .set_stan(2)
        .set(90, "0".repeat(42))
        .set(128, [0u8; 8]);
    spec.encode(&rev)?;
    // The sign-on, with the device's serial number.
    let mut sign_on = Message::new(Mti::NETWORK);
    sign_on.set(7, "1124101530").set_stan(3).set(41, "TERM0001");
    sign_on.set(62, "1234567890").set(70, "001");
    spec.encode(&sign_on)?;
    Ok(())
}

/// The terminal ids a spec stands for: itself, or prefix + 0001..count.
pub fn expand_ids(id: &str, count: u32) -> Vec<String> {
    if count <= 1 {
        vec![id.to_string()]
    } else {
        (1..=count).map(|i| format!("{id}{i:04}")).collect()
    }
}
