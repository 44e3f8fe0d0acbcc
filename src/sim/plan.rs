//! From a scenario to everything the world is built from: keys (given or
//! derived from the seed), issued cards, terminal and link settings, fault
//! rules. Pure data, computed once before the world starts.

use std::sync::Arc;

use crate::card::{CardData, CardProfile, Cvm};
use crate::host::HostConfig;
use crate::link::{LinkParams, Rule as FrameRule, Scope};
use crate::money::Money;
use crate::protocol::crypto::{CryptoError, TdesKey, derive_icc_master_key};
use crate::protocol::iso8583::Spec;
use crate::protocol::track::luhn_check_digit;
use crate::rng::Stream;
use crate::scenario::{
    Cardholders, Expectation, FaultKind, FaultSpec, MonitorSpec, Scenario, ScopeSpec, Traffic,
    expand_ids,
};
use crate::terminal::TerminalConfig;
use crate::time::{Calendar, DateTime, Duration, SimTime};

/// Why a scenario could not be turned into a world (after validation, only
/// key or crypto problems remain).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A key or card value the crypto refused.
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    /// The dialect could not be loaded.
    #[error("{0}")]
    Dialect(String),
    /// Something else the scenario asks for that cannot be built.
    #[error("{0}")]
    Invalid(String),
}

/// A card as issued: personalisation, behaviour, keys.
#[derive(Debug, Clone)]
pub struct IssuedCard {
    /// Personalisation (PIN included: the cardholder knows it).
    pub data: CardData,
    /// What kind of card.
    pub profile: CardProfile,
    /// Available balance at the start.
    pub balance: Money,
    /// Chance of a PIN typo.
    pub typo: f64,
    /// The chip does not answer.
    pub broken: bool,
    /// ICC master key.
    pub mk: TdesKey,
    /// ATC at the start.
    pub atc: u16,
}

/// A terminal to build.
#[derive(Debug, Clone)]
pub struct TerminalPlan {
    /// Its settings.
    pub config: TerminalConfig,
    /// The link it talks over.
    pub link: String,
    /// Sends a sign-on at start.
    pub sign_on: bool,
    /// A real terminal connects here instead (`Stack::External`): the world
    /// runs no customers or sign-on for it, and its frames come and go on
    /// a socket through this terminal's link.
    pub external: Option<std::net::SocketAddr>,
}

/// A link to build.
#[derive(Debug, Clone)]
pub struct LinkPlan {
    /// Its id.
    pub id: String,
    /// Healthy behaviour.
    pub params: LinkParams,
    /// Faults, in order, with their scopes.
    pub faults: Vec<(FaultKind, Scope)>,
    /// The longest response timeout of its terminals (for `DelayPastTimeout`).
    pub timeout: Duration,
    /// Men in the middle on it: the attack's index, what it does, its scope.
    pub attacks: Vec<(usize, crate::scenario::AttackKind, Scope)>,
    /// The terminals on it with TLS that trust any known authority.
    pub sealed: Vec<String>,
    /// The terminals on it with TLS pinned to the host's certificate.
    pub pinned: Vec<String>,
    /// The terminals on it that fall back to plain TCP when TLS fails.
    pub opportunistic: Vec<String>,
    /// The run's seed (the keys a man in the middle makes up derive from it).
    pub seed: u64,
}

impl LinkPlan {
    /// The rules to install, in order.
    pub fn rules(&self) -> Vec<(Box<dyn FrameRule>, Scope)> {
        use crate::attack::mitm;
        use crate::scenario::AttackKind;
        let mut rules: Vec<(Box<dyn FrameRule>, Scope)> = self
            .faults
            .iter()
            .map(|(k, scope)| (k.rule(self.timeout, self.params.latency), scope.clone()))
            .collect();
        // The man in the middle sits between the faults and the host.
        let windows = |is: fn(&AttackKind) -> bool| -> Vec<(SimTime, Option<SimTime>)> {
            self.attacks
                .iter()
                .filter(|(_, k, _)| is(k))
                .map(|(_, _, scope)| (scope.from.unwrap_or(SimTime(0)), scope.until))
                .collect()
        };
        let rogue = windows(|k| matches!(k, AttackKind::MitmRogueCert { .. }));
        let stripped = windows(|k| matches!(k, AttackKind::MitmStripTls { .. }));
        for (i, kind, scope) in &self.attacks {
            let sealed = mitm::Sealed {
                tls: self.sealed.clone(),
                pinned: self.pinned.clone(),
                rogue: rogue.clone(),
                opportunistic: self.opportunistic.clone(),
                stripped: stripped.clone(),
            };
            let rule: Box<dyn FrameRule> = match kind {
                AttackKind::MitmRead { .. } => Box::new(mitm::Read::new(*i, sealed)),
                AttackKind::MitmTamperAmount { amount, .. } => {
                    Box::new(mitm::TamperAmount::new(*i, sealed, amount.0))
                }
                AttackKind::Replay { after, frames, .. } => {
                    Box::new(mitm::Replay::new(*i, sealed, *after, *frames))
                }
                AttackKind::MitmRogueCert { .. } => Box::new(mitm::RogueCert::new(*i, sealed)),
                AttackKind::MitmStripTls { .. } => Box::new(mitm::StripTls::new(*i, sealed)),
                AttackKind::MitmInject { .. } => {
                    let key = derived_key(self.seed, &format!("mitm/{i}/key"));
                    Box::new(mitm::ForgeApproval::new(*i, sealed, key))
                }
                _ => continue,
            };
            rules.push((rule, scope.clone()));
        }
        rules
    }
}

/// A device serial number as a maker prints it: ten digits, from the seed
/// and what the device is for (a terminal id, or a look-alike swapped in).
pub fn device_serial(seed: u64, what: &str) -> String {
    let n = crate::rng::Stream::derive(seed, &format!("serial/{what}")).below(10_000_000_000);
    format!("{n:010}")
}

/// The link scope of a scenario scope.
pub fn link_scope(s: &ScopeSpec) -> Scope {
    let at = |d: Duration| SimTime(d.micros());
    Scope {
        from: s.from.map(at),
        until: s.until.map(at),
        direction: s.direction.map(Into::into),
        mti: s.mti,
        terminal: s.terminal.clone(),
    }
}

/// An attack to stage.
#[derive(Debug, Clone)]
pub struct AttackPlan {
    /// What it does.
    pub kind: crate::scenario::AttackKind,
    /// When it begins.
    pub from: Duration,
    /// When it ends (None: with the run).
    pub until: Option<Duration>,
    /// The terminals it is fitted to, or (a cash-out) where it pays first,
    /// as indices into [`Plan::terminals`].
    pub terminals: Vec<usize>,
    /// The attacks whose loot a cash-out spends, as indices into [`Plan::attacks`].
    pub sources: Vec<usize>,
    /// Whether it is there in this seed's run (see `chance`).
    pub present: bool,
}

impl AttackPlan {
    /// Its name ("skimmer").
    pub fn name(&self) -> &'static str {
        crate::scenario::Kind::name(&self.kind)
    }
}

/// Everything the world is built from.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Scenario name.
    pub name: String,
    /// The seed in use.
    pub seed: u64,
    /// Virtual duration of trading.
    pub duration: Duration,
    /// How often staff check the terminals for fitted devices.
    pub tamper_check: Option<Duration>,
    /// The calendar start.
    pub start: DateTime,
    /// The dialect.
    pub spec: Arc<Spec>,
    /// The host.
    pub host: HostConfig,
    /// The cardholder population (cards are issued from it as the world is
    /// built, so they are not held twice).
    pub cardholders: Cardholders,
    /// Terminals, in order.
    pub terminals: Vec<TerminalPlan>,
    /// Links.
    pub links: Vec<LinkPlan>,
    /// Shop name and merchant id.
    pub shop: (String, String),
    /// Staff.
    pub staff: Vec<crate::scenario::Staff>,
    /// Traffic model.
    pub traffic: Traffic,
    /// Alert thresholds.
    pub monitor: MonitorSpec,
    /// Expectations.
    pub expect: Vec<Expectation>,
    /// How long after trading (and after a purchase completes) anything can
    /// still happen to it: the longest a stored reversal keeps trying, plus
    /// ten minutes, and at least two hours.
    pub settle_after: Duration,
    /// Every link fault as this seed runs it (ranges drawn), for the journal.
    pub faults: Vec<String>,
    /// Attacks, in the scenario's order.
    pub attacks: Vec<AttackPlan>,
    /// The scenario's lesson key.
    pub lesson: Option<String>,
    /// The terminals are real ones on sockets (`possim host`): the world
    /// runs no traffic, sign-ons, attacks or inspections of its own, and
    /// settlement has only the host's side (see [`Plan::serve_only`]).
    pub external_terminals: bool,
    /// The host is real software on a socket (`possim terminal --connect`):
    /// frames that cross the uplink go out through the bridge, one
    /// connection per terminal, and answers come back through the same
    /// link (see [`Plan::against_remote_host`]).
    pub remote_host: bool,
    /// The scenario file, as given.
    pub file: String,
    /// The scenario's description, for reports.
    pub description: String,
    /// The dialect file, when the dialect is not a built-in one (reports
    /// decode frames with it).
    pub dialect_file: Option<String>,
}

/// A key from the scenario, or one derived from the seed and its name.
fn key_or_derived(given: &Option<String>, seed: u64, name: &str) -> Result<TdesKey, CryptoError> {
    match given {
        Some(hex) => TdesKey::from_hex(hex),
        None => Ok(derived_key(seed, name)),
    }
}

/// A key derived from the seed and its name (its own random stream).
pub(crate) fn derived_key(seed: u64, name: &str) -> TdesKey {
    let mut b = [0u8; 16];
    Stream::derive(seed, &format!("key/{name}")).fill(&mut b);
    TdesKey::new_odd_parity(b)
}

impl Plan {
    /// Builds the plan; `seed` overrides the scenario's.
    pub fn new(s: &Scenario, seed: Option<u64>) -> Result<Self, PlanError> {
        let seed = seed.unwrap_or(s.seed);
        let start = DateTime::parse(&s.start).map_err(PlanError::Invalid)?;
        let calendar = Calendar::new(start);
        let spec = Arc::new(Spec::load(&s.dialect).map_err(|e| PlanError::Dialect(e.to_string()))?);
        let imk = key_or_derived(&s.issuer.keys.imk_ac, seed, "imk_ac")?;
        let cvk = key_or_derived(&s.issuer.keys.cvk, seed, "cvk")?;
        let pvk = key_or_derived(&s.issuer.keys.pvk, seed, "pvk")?;
        let rules = s.issuer.host_rules();
        let mut host = HostConfig {
            spec: spec.clone(),
            imk_ac: imk.clone(),
            cvk: cvk.clone(),
            pvk: pvk.clone(),
            rules,
            pin_try_limit: s.issuer.pin_try_limit,
            calendar,
            issuer_down: s
                .issuer
                .down
                .iter()
                .enumerate()
                .filter(|(i, w)| present(w.chance, seed, &format!("chance/issuer/down/{i}")))
                .map(|(_, w)| (SimTime(w.from.micros()), SimTime(w.until.micros())))
                .collect(),
            reversal_keep: Duration::from_secs(6 * 3600),
        };

        let mut terminals = Vec::new();
        for t in &s.shop.terminals {
            for tid in expand_ids(&t.id, t.count) {
                let tak = key_or_derived(&t.keys.tak, seed, &format!("{tid}/tak"))?;
                let tpk = key_or_derived(&t.keys.tpk, seed, &format!("{tid}/tpk"))?;
                let serial = match (&t.serial, t.count) {
                    (Some(sn), 1) => sn.clone(),
                    (Some(sn), _) => {
                        format!("{sn}{}", tid.get(tid.len().saturating_sub(4)..).unwrap_or(""))
                    }
                    (None, _) => device_serial(seed, &tid),
                };
                terminals.push(TerminalPlan {
                    config: TerminalConfig {
                        tid: tid.clone(),
                        mid: t.merchant_id.clone().unwrap_or_else(|| s.shop.merchant_id.clone()),
                        currency: s.currency.clone(),
                        country: s.country.clone(),
                        spec: spec.clone(),
                        tak,
                        tpk,
                        mac: t.mac,
                        response_timeout: t.response_timeout,
                        on_timeout: t.on_timeout.into(),
                        reversal_attempts: t.reversal_attempts,
                        reversal_retry: t.reversal_retry,
                        reversal_max_attempts: t.reversal_max_attempts,
                        reversals_first: t.reversals_first,
                        chip: t.reader.chip,
                        magstripe: t.reader.magstripe,
                        contactless: t.reader.contactless,
                        contactless_cvm_limit: t.contactless_cvm_limit,
                        floor_limit: t.floor_limit,
                        serial,
                        offline_pin: t.offline_pin,
                        un: t.unpredictable_number.into(),
                        calendar,
                        relay_bound: t.relay_bound,
                    },
                    link: t.link.clone(),
                    sign_on: t.sign_on && t.stack == crate::scenario::Stack::Emulated,
                    external: match &t.stack {
                        crate::scenario::Stack::External { listen } => listen.parse().ok(),
                        crate::scenario::Stack::Emulated => None,
                    },
                });
            }
        }

        let mut links = Vec::new();
        let mut fault_texts = Vec::new();
        for l in &s.links {
            let timeout = terminals
                .iter()
                .filter(|t| t.link == l.id)
                .map(|t| t.config.response_timeout)
                .max()
                .unwrap_or(Duration::from_secs(30));
            // Parameters written as ranges are drawn here, per seed and per
            // fault position: a sweep's seed N and `run --seed N` agree.
            let mut faults = Vec::new();
            for (i, f) in l.faults.iter().enumerate() {
                let mut rng = Stream::derive(seed, &format!("sweep/{}/{i}", l.id));
                let kind = f.kind.drawn(&mut rng);
                let drawn = FaultSpec { kind: kind.clone(), scope: f.scope.clone() };
                let text = ron::to_string(&drawn).unwrap_or_default();
                if !present(f.scope.chance, seed, &format!("chance/link/{}/{i}", l.id)) {
                    fault_texts.push(format!("{}: absent this seed: {text}", l.id));
                    continue;
                }
                fault_texts.push(format!("{}: {text}", l.id));
                faults.push((kind, link_scope(&f.scope)));
            }
            links.push(LinkPlan {
                id: l.id.clone(),
                params: LinkParams {
                    latency: l.latency,
                    jitter: l.jitter,
                    distribution: l.distribution.into(),
                    bandwidth: l.bandwidth,
                    overhead: l.overhead,
                    queue: l.queue,
                },
                faults,
                timeout,
                attacks: s
                    .attacks
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.kind.link() == Some(l.id.as_str()))
                    .filter(|(i, a)| present(a.scope.chance, seed, &format!("chance/attack/{i}")))
                    .map(|(i, a)| {
                        let mut scope = link_scope(&a.scope);
                        // Tampering and replay go for the purchase requests.
                        if matches!(
                            a.kind,
                            crate::scenario::AttackKind::MitmTamperAmount { .. }
                                | crate::scenario::AttackKind::Replay { .. }
                        ) {
                            scope.direction = Some(crate::link::Dir::Up);
                            scope.mti = Some(crate::protocol::iso8583::Mti::REQUEST);
                        }
                        (i, a.kind.clone(), scope)
                    })
                    .collect(),
                sealed: s
                    .shop
                    .terminals
                    .iter()
                    .filter(|t| t.link == l.id && t.tls == crate::scenario::Tls::On)
                    .flat_map(|t| expand_ids(&t.id, t.count))
                    .collect(),
                pinned: s
                    .shop
                    .terminals
                    .iter()
                    .filter(|t| t.link == l.id && t.tls == crate::scenario::Tls::Pinned)
                    .flat_map(|t| expand_ids(&t.id, t.count))
                    .collect(),
                opportunistic: s
                    .shop
                    .terminals
                    .iter()
                    .filter(|t| t.link == l.id && t.tls == crate::scenario::Tls::Opportunistic)
                    .flat_map(|t| expand_ids(&t.id, t.count))
                    .collect(),
                seed,
            });
        }

        // Explicit cards are issued once now, so a bad one fails here and
        // not while the world is built.
        for c in &s.cardholders.cards {
            CardData::issue(&pvk, &cvk, &c.pan, &c.psn, &c.expiry, "201", &c.pin)?;
            derive_icc_master_key(&imk, &c.pan, &c.psn)?;
        }
        let plan_cards = s.cardholders.clone();
        let settle_after = settle_after(&terminals, &links);
        // The host must remember approvals and early reversals for as long
        // as a reversal or a held frame can still arrive.
        host.reversal_keep = host.reversal_keep.max(settle_after);
        let attacks = attack_plans(s, &terminals, seed);
        Ok(Self {
            name: s.name.clone(),
            seed,
            duration: s.duration,
            tamper_check: s.shop.tamper_check,
            external_terminals: false,
            remote_host: false,
            file: s.file.clone(),
            description: s.description.clone(),
            dialect_file: (!Spec::BUILT_IN.contains(&s.dialect.as_str()))
                .then(|| s.dialect.clone()),
            start,
            spec,
            host,
            cardholders: plan_cards,
            terminals,
            links,
            shop: (s.shop.name.clone(), s.shop.merchant_id.clone()),
            staff: s.shop.staff.clone(),
            traffic: s.traffic.clone(),
            monitor: s.monitor.clone(),
            expect: s.expect.clone(),
            settle_after,
            faults: fault_texts,
            attacks,
            lesson: s.lesson.clone(),
        })
    }
}

/// Whether a fault or attack with this `chance` is there in `seed`'s run
/// (drawn from its own stream: one's presence does not move another's).
fn present(chance: Option<crate::scenario::Probability>, seed: u64, name: &str) -> bool {
    chance.is_none_or(|p| Stream::derive(seed, name).chance(p.0))
}

/// Where each attack acts and whose loot a cash-out spends (the scenario was
/// validated: names resolve).
fn attack_plans(s: &Scenario, all: &[TerminalPlan], seed: u64) -> Vec<AttackPlan> {
    use crate::scenario::Kind;
    s.attacks
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let terminals: Vec<usize> = match (&a.scope.terminal, a.kind.link()) {
                (Some(t), _) => all.iter().position(|p| p.config.tid == *t).into_iter().collect(),
                (None, Some(link)) => (0..all.len()).filter(|&i| all[i].link == link).collect(),
                (None, None) if a.kind.is_device() => (0..all.len()).collect(),
                (None, None) => vec![0],
            };
            let sources = match &a.kind {
                crate::scenario::AttackKind::CashOut { loot, .. } => s
                    .attacks
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.kind.steals() && o.kind.name() == loot)
                    .map(|(i, _)| i)
                    .collect(),
                _ => Vec::new(),
            };
            AttackPlan {
                kind: a.kind.clone(),
                from: a.scope.from.unwrap_or(Duration::ZERO),
                until: a.scope.until,
                terminals,
                sources,
                present: present(a.scope.chance, seed, &format!("chance/attack/{i}")),
            }
        })
        .collect()
}

/// How long after trading ends the run waits for everything to settle:
/// every stored reversal's last try, plus the slowest round trip any link's
/// faults can make, plus ten minutes; at least two hours.
fn settle_after(terminals: &[TerminalPlan], links: &[LinkPlan]) -> Duration {
    let slowest_way = links
        .iter()
        .map(|l| {
            let p = &l.params;
            let queue = p
                .bandwidth
                .filter(|&b| b > 0)
                .map_or(0, |b| p.queue.saturating_add(p.overhead).saturating_mul(1_000_000) / b);
            let faults: u64 = l
                .faults
                .iter()
                .map(|(k, _)| k.worst_delay(l.timeout, p.latency).micros())
                .fold(0, u64::saturating_add);
            // A replayed request goes out this much after the original.
            let replays = l
                .attacks
                .iter()
                .map(|(_, k, _)| match k {
                    crate::scenario::AttackKind::Replay { after, .. } => after.micros(),
                    _ => 0,
                })
                .max()
                .unwrap_or(0);
            let faults = faults.saturating_add(replays);
            p.latency
                .micros()
                .saturating_add(p.jitter.micros().saturating_mul(10))
                .saturating_add(queue)
                .saturating_add(faults)
        })
        .max()
        .unwrap_or(0);
    let longest = terminals
        .iter()
        .map(|t| {
            let c = &t.config;
            u64::from(c.reversal_max_attempts)
                .saturating_mul(c.reversal_retry.micros() + c.response_timeout.micros())
        })
        .max()
        .unwrap_or(0);
    Duration(
        longest
            .saturating_add(slowest_way.saturating_mul(2))
            .saturating_add(Duration::from_secs(600).micros())
            .max(Duration::from_secs(7200).micros()),
    )
}

impl Plan {
    /// How many cardholders the world has.
    pub fn card_count(&self) -> usize {
        self.cardholders.cards.len() + self.cardholders.count as usize
    }

    /// Issues every card in cardholder order, handing each to `f`: explicit
    /// cards first, then `count` cards derived from the seed.
    pub fn issue_cards(&self, mut f: impl FnMut(IssuedCard)) -> Result<(), PlanError> {
        for card in self.cards() {
            f(card?);
        }
        Ok(())
    }

    /// The cards [`Plan::issue_cards`] issues, made one at a time as the
    /// iterator is driven. Its size hint is exact, so the world reserves room
    /// for every cardholder at once instead of growing its tables (and
    /// faulting in fresh pages) a doubling at a time. Stop at the first error.
    pub fn cards(&self) -> impl Iterator<Item = Result<IssuedCard, PlanError>> + '_ {
        let (imk, cvk, pvk) = (&self.host.imk_ac, &self.host.cvk, &self.host.pvk);
        let h = &self.cardholders;
        let seed = self.seed;
        let mut pans = std::collections::HashSet::with_capacity(self.card_count());
        pans.extend(h.cards.iter().map(|c| c.pan.clone()));
        let explicit = h.cards.iter().map(move |c| {
            let sc = if c.chip { "201" } else { "101" };
            let data = CardData::issue(pvk, cvk, &c.pan, &c.psn, &c.expiry, sc, &c.pin)?;
            let mk = derive_icc_master_key(imk, &c.pan, &c.psn)?;
            let profile = CardProfile {
                chip: c.chip,
                contactless: c.chip && c.contactless,
                cvm: if c.offline_pin { Cvm::OfflinePin } else { Cvm::OnlinePin },
                pin_try_limit: 3,
                layout: if c.gpo_format1 {
                    crate::card::Layout::Alternate
                } else {
                    crate::card::Layout::Standard
                },
            };
            Ok(IssuedCard {
                data,
                profile,
                balance: c.balance.unwrap_or(h.balance),
                typo: h.pin_typo,
                broken: false,
                mk,
                atc: 1,
            })
        });
        let derived = (0..h.count).map(move |i| {
            let mut r = Stream::derive(seed, &format!("cardholder/{i}"));
            // Validation leaves at least half the number space free, so a
            // fresh number is found in a few draws; the bound is a guard.
            let mut pan = None;
            for _ in 0..1000 {
                let mut body = h.bin.clone();
                while body.len() < 15 {
                    body.push(char::from(b'0' + r.below(10) as u8));
                }
                let candidate = format!("{body}{}", luhn_check_digit(&body));
                if pans.insert(candidate.clone()) {
                    pan = Some(candidate);
                    break;
                }
            }
            let Some(pan) = pan else {
                return Err(PlanError::Invalid(format!(
                    "no free card number under BIN {} for cardholder {i}",
                    h.bin
                )));
            };
            let pin: String = (0..4).map(|_| char::from(b'0' + r.below(10) as u8)).collect();
            // Valid for one to five years after the day starts, whenever it starts.
            let year = (self.start.year.rem_euclid(100) as u64 + 1 + r.below(5)) % 100;
            let expiry = format!("{year:02}{:02}", 1 + r.below(12));
            let chip = r.chance(h.chip);
            let contactless = chip && r.chance(h.contactless);
            let offline = chip && r.chance(h.offline_pin);
            let broken = chip && r.chance(h.broken_chip);
            let atc = 1 + r.below(200) as u16;
            let sc = if chip { "201" } else { "101" };
            let data = CardData::issue(pvk, cvk, &pan, "00", &expiry, sc, &pin)?;
            let mk = derive_icc_master_key(imk, &pan, "00")?;
            let profile = CardProfile {
                chip,
                contactless,
                cvm: if offline { Cvm::OfflinePin } else { Cvm::OnlinePin },
                pin_try_limit: 3,
                layout: crate::card::Layout::Standard,
            };
            Ok(IssuedCard { data, profile, balance: h.balance, typo: h.pin_typo, broken, mk, atc })
        });
        explicit.chain(derived)
    }
}

impl Plan {
    /// The plan of emulated terminals driving a real host: the scenario's
    /// terminals, customers, cards, link faults and attacks, with the
    /// uplink's far end on a socket instead of possim's own host.
    pub fn against_remote_host(&mut self) {
        self.remote_host = true;
    }

    /// The plan of a host that real terminals connect to: the scenario's
    /// keys, cards, accounts, terminals and defences, but no customers,
    /// sign-ons, attacks or tamper inspections of the world's own. Link
    /// faults do not apply either: external frames reach the host directly
    /// (the fault proxy puts faults on real connections).
    pub fn serve_only(&mut self) {
        self.external_terminals = true;
        self.traffic.per_hour = 0.0;
        self.traffic.purchases = Some(0);
        self.attacks.clear();
        self.tamper_check = None;
        for t in &mut self.terminals {
            t.sign_on = false;
            t.external = None;
        }
    }

    /// True when a real terminal takes part (`Stack::External`): the run
    /// must be a real-time one.
    pub fn has_external_terminals(&self) -> bool {
        self.terminals.iter().any(|t| t.external.is_some())
    }
}
