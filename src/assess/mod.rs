//! `possim assess`: "could this happen to my shop, and what would it cost?"
//! The owner describes the shop ([`Profile`]); possim builds it as a
//! scenario ([`shop`]), runs every attack of the catalogue against it over
//! several seeds and a month of its trade, and for each attack that costs
//! money reruns it with each change worth trying ([`Fix`]): the loss after
//! a change is always measured, never guessed.
//!
//! The runs are independent jobs ([`Job`], [`run_job`]) so the binary can
//! spread them over cores; [`assemble`] turns their results into the
//! [`Assessment`] the reports render ([`render`]).

pub mod profile;
pub mod render;
pub mod shop;
pub mod text;

use std::sync::Arc;

use serde::Serialize;

pub use profile::{Fix, Profile};
pub use text::{AttackTemplate, Lang, texts};

use crate::money::Money;
use crate::report::RunReport;
use crate::scenario::{AlertKind, Diagnostic, Scenario};
use crate::sim::{self, Options, Pacing, Plan};
use crate::time::Duration;

/// The days simulated by default: a month of the shop's trade.
pub const MONTH_DAYS: u32 = 30;

/// Why a run of the assessment could not be made. Only a defect of
/// possim's own templates can cause one (a test builds every attack
/// against a weak and a strong profile).
#[derive(Debug, thiserror::Error)]
pub enum AssessError {
    /// The generated scenario did not validate.
    #[error("the scenario built for attack `{attack}` does not validate: {diag}")]
    Scenario {
        /// The attack.
        attack: String,
        /// What `possim check` said.
        diag: Box<Diagnostic>,
    },
    /// The generated scenario could not be planned.
    #[error("the scenario built for attack `{attack}` cannot run: {message}")]
    Plan {
        /// The attack.
        attack: String,
        /// Why.
        message: String,
    },
}

/// One run to make: an attack (its index in [`texts`]), with one change
/// made to the profile or none, with one seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Index of the attack in the catalogue.
    pub attack: usize,
    /// The change made to the shop, if any.
    pub fix: Option<Fix>,
    /// The seed.
    pub seed: u64,
}

/// What one job measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Measured {
    /// The seed.
    pub seed: u64,
    /// Money the attack took over the simulated days.
    pub loss: Money,
    /// Cards (or PINs) the attackers held at the end.
    pub stolen: u64,
    /// The first alert the attack provoked.
    pub alert: Option<FirstAlert>,
    /// When the shop acted on that alert and the attack stopped (the run
    /// whose loss is reported), if anyone reads the alerts.
    pub stopped_at_us: Option<u64>,
    /// The scenario text of the run whose loss is reported.
    #[serde(skip)]
    pub scenario: String,
}

/// The first alert an attack provoked in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FirstAlert {
    /// Its kind.
    pub alert: AlertKind,
    /// How long after the attack began, microseconds.
    pub after_us: u64,
    /// Its journal event id (the run's journal with `--detail`).
    pub event: u64,
}

/// Builds, checks and runs one scenario text.
fn run_text(text: &str, key: &str, seed: u64) -> Result<(Scenario, RunReport), AssessError> {
    let name = format!("assess-{key}.ron");
    let s = crate::scenario::parse(text, &name)
        .map_err(|d| AssessError::Scenario { attack: key.into(), diag: Box::new(d) })?;
    let plan = Plan::new(&s, Some(seed))
        .map_err(|e| AssessError::Plan { attack: key.into(), message: e.to_string() })?;
    let options = Options { apdus: false, frames: false, stay_open: false };
    let mut app = sim::build_app(
        Arc::new(plan),
        None,
        Pacing::Headless { slice: sim::HEADLESS_SLICE },
        options,
    );
    let report = sim::run_to_end(&mut app, &name);
    Ok((s, report))
}

/// The first alert the scenario's attacks should provoke, at or after the
/// earliest of them began: (kind, microseconds after that start, event id).
pub fn first_alert(s: &Scenario, r: &RunReport) -> Option<FirstAlert> {
    let kinds: Vec<AlertKind> =
        s.attacks.iter().flat_map(|a| a.kind.alerts().iter().copied()).collect();
    let start = s.attacks.iter().map(|a| a.scope.from.map_or(0, |d| d.micros())).min()?;
    r.alerts
        .iter()
        .filter(|a| kinds.contains(&a.alert) && a.t_us >= start)
        .min_by_key(|a| a.t_us)
        .map(|a| FirstAlert { alert: a.alert, after_us: a.t_us - start, event: a.event })
}

/// Runs one job: the shop (with the job's change), the attack, the seed;
/// and, when someone in the shop reads the alerts and one fired, the same
/// run again with the attack stopped when the shop would have acted.
pub fn run_job(profile: &Profile, job: Job, days: u32) -> Result<Measured, AssessError> {
    let all = texts();
    let Some(attack) = all.attacks.get(job.attack) else {
        return Err(AssessError::Plan {
            attack: job.attack.to_string(),
            message: "no such attack".into(),
        });
    };
    let p = match job.fix {
        Some(f) => f.apply(profile).ok_or_else(|| AssessError::Plan {
            attack: attack.key.clone(),
            message: format!("the shop already does `{}`", f.key()),
        })?,
        None => profile.clone(),
    };
    let text = shop::scenario(&p, Some(attack), days, None, job.seed);
    let (s, r) = run_text(&text, &attack.key, job.seed)?;
    let alert = first_alert(&s, &r);
    let start = s.attacks.iter().map(|a| a.scope.from.map_or(0, |d| d.micros())).min().unwrap_or(0);
    let end = u64::from(days) * 86_400_000_000;
    let cut = match (alert, shop::reaction(&p)) {
        (Some(first), Some(react)) => {
            Some(start + first.after_us + react.micros()).filter(|&c| c < end)
        }
        _ => None,
    };
    let Some(cut) = cut else {
        return Ok(Measured {
            seed: job.seed,
            loss: r.fraud_loss,
            stolen: r.loot.len() as u64,
            alert,
            stopped_at_us: None,
            scenario: text,
        });
    };
    let text = shop::scenario(&p, Some(attack), days, Some(Duration(cut)), job.seed);
    let (_, r2) = run_text(&text, &attack.key, job.seed)?;
    Ok(Measured {
        seed: job.seed,
        loss: r2.fraud_loss,
        stolen: r2.loot.len() as u64,
        alert,
        stopped_at_us: Some(cut),
        scenario: text,
    })
}

/// The first round of jobs: every attack possible here, every seed.
pub fn base_jobs(profile: &Profile, seeds: &[u64]) -> Vec<Job> {
    let mut v = Vec::new();
    for (i, a) in texts().attacks.iter().enumerate() {
        if shop::possible(profile, a) {
            v.extend(seeds.iter().map(|&seed| Job { attack: i, fix: None, seed }));
        }
    }
    v
}

/// The second round: each change worth trying against each attack that
/// cost money or copied card data in the first, every seed.
pub fn fix_jobs(profile: &Profile, seeds: &[u64], base: &[(Job, Measured)]) -> Vec<Job> {
    let mut v = Vec::new();
    for (i, a) in texts().attacks.iter().enumerate() {
        let harmful =
            base.iter().any(|(j, m)| j.attack == i && (m.loss > Money::ZERO || m.stolen > 0));
        if !harmful {
            continue;
        }
        for &f in &a.fixes {
            if f.apply(profile).is_some() {
                v.extend(seeds.iter().map(|&seed| Job { attack: i, fix: Some(f), seed }));
            }
        }
    }
    v
}

/// Would the attack work here?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// It cost money in every run.
    Yes,
    /// It cost money in some runs.
    Partly,
    /// It cost no money here, but card data or PINs were copied: they may
    /// be spent later, elsewhere, or by a thief better equipped.
    DataOnly,
    /// It cost nothing and copied nothing.
    No,
    /// The shop's readers make it impossible (not run).
    Impossible,
}

/// Money over the simulated days (a month by default; never extrapolated:
/// the attacks are written for a month, so a shorter run is a shorter
/// attack): the mean over the seeds, the lowest and the highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Loss {
    /// The mean over the seeds.
    pub mean: Money,
    /// The lowest seed.
    pub low: Money,
    /// The highest seed.
    pub high: Money,
}

impl Loss {
    fn of(losses: &[Money]) -> Self {
        if losses.is_empty() {
            return Self::default();
        }
        let sum: i128 = losses.iter().map(|m| i128::from(m.0)).sum();
        Self {
            mean: Money((sum / losses.len() as i128) as i64),
            low: losses.iter().copied().min().unwrap_or_default(),
            high: losses.iter().copied().max().unwrap_or_default(),
        }
    }
}

/// The first warning, over the seeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The alert that fired first (in most runs).
    pub alert: AlertKind,
    /// The median time from the attack's start to it (over the runs in
    /// which it was the first), microseconds.
    pub after_us: u64,
    /// Runs in which an alert fired.
    pub runs: usize,
    /// Runs in which this alert was the first.
    pub first_in: usize,
}

/// One change rerun against one attack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixResult {
    /// The change.
    pub fix: Fix,
    /// The loss with it over the simulated days.
    pub loss: Loss,
    /// Cards the attackers held at the end with it (mean over the seeds).
    pub stolen: u64,
    /// Each seed's run.
    pub runs: Vec<Measured>,
}

/// One attack against the shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttackResult {
    /// Its key ("skimmer").
    pub key: String,
    /// The catalogue scenario it comes from.
    pub catalogue: String,
    /// Would it work here.
    pub verdict: Verdict,
    /// Who bears the loss.
    pub pays: text::Payer,
    /// The loss over the simulated days.
    pub loss: Loss,
    /// Cards the attackers held at the end (mean over the seeds).
    pub stolen: u64,
    /// The first warning, if any alert fired.
    pub warning: Option<Warning>,
    /// Each change tried, cheapest first.
    pub fixes: Vec<FixResult>,
    /// The change that helps most (lowest loss after it; the cheaper on a
    /// tie), if one lowers the loss at all.
    pub best: Option<Fix>,
    /// Each seed's run.
    pub runs: Vec<Measured>,
}

/// One change, over every attack it was tried against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ranked {
    /// The change.
    pub fix: Fix,
    /// Money it saves over the simulated days, summed over the attacks (measured by rerun).
    pub saved: Money,
    /// The attacks it lowers the loss of.
    pub attacks: Vec<String>,
    /// The advice it follows.
    pub advice: text::Advice,
    /// PCI DSS v4.0 requirements it corresponds to.
    pub pci: Vec<String>,
}

/// The whole assessment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// The profile assessed.
    pub profile: Profile,
    /// The questions left unanswered (the riskier answer was taken).
    pub assumed: Vec<&'static str>,
    /// Days of trade simulated per run.
    pub days: u32,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Every attack of the catalogue, in catalogue order.
    pub attacks: Vec<AttackResult>,
    /// The changes, most money saved first.
    pub ranking: Vec<Ranked>,
    /// All attacks' expected losses added up: what a month with every one
    /// of them would cost (not the chance of any).
    pub total: Money,
    /// Of that, what the shop itself pays (goods without payment, refunds).
    pub total_shop: Money,
}

/// Turns the jobs' results into the assessment.
pub fn assemble(
    profile: &Profile,
    days: u32,
    seeds: &[u64],
    results: &[(Job, Measured)],
) -> Assessment {
    let all = texts();
    let mut attacks = Vec::new();
    for (i, a) in all.attacks.iter().enumerate() {
        let runs: Vec<Measured> = results
            .iter()
            .filter(|(j, _)| j.attack == i && j.fix.is_none())
            .map(|(_, m)| m.clone())
            .collect();
        let losses: Vec<Money> = runs.iter().map(|m| m.loss).collect();
        let costly = losses.iter().filter(|l| **l > Money::ZERO).count();
        let verdict = if !shop::possible(profile, a) {
            Verdict::Impossible
        } else if costly == 0 && runs.iter().any(|m| m.stolen > 0) {
            Verdict::DataOnly
        } else if costly == 0 {
            Verdict::No
        } else if costly == runs.len() {
            Verdict::Yes
        } else {
            Verdict::Partly
        };
        let loss = Loss::of(&losses);
        let stolen: u64 = runs.iter().map(|m| m.stolen).sum::<u64>() / runs.len().max(1) as u64;
        let warning = warning(&runs);
        let mut fixes = Vec::new();
        for &f in &a.fixes {
            let fr: Vec<Measured> = results
                .iter()
                .filter(|(j, _)| j.attack == i && j.fix == Some(f))
                .map(|(_, m)| m.clone())
                .collect();
            if fr.is_empty() {
                continue;
            }
            let l: Vec<Money> = fr.iter().map(|m| m.loss).collect();
            let stolen = fr.iter().map(|m| m.stolen).sum::<u64>() / fr.len() as u64;
            fixes.push(FixResult { fix: f, loss: Loss::of(&l), stolen, runs: fr });
        }
        fixes.sort_by_key(|f| f.fix);
        // Money first, then the cards still copied: a change that stops the
        // copying is worth naming even where nothing was spent.
        let best = fixes
            .iter()
            .filter(|f| (f.loss.mean, f.stolen) < (loss.mean, stolen))
            .min_by_key(|f| (f.loss.mean, f.stolen, f.fix))
            .map(|f| f.fix);
        attacks.push(AttackResult {
            key: a.key.clone(),
            catalogue: a.catalogue.clone(),
            verdict,
            pays: a.pays,
            loss,
            stolen,
            warning,
            fixes,
            best,
            runs,
        });
    }
    let mut ranking: Vec<Ranked> = Vec::new();
    for &f in Fix::ALL {
        let mut saved = Money::ZERO;
        let mut names = Vec::new();
        for a in &attacks {
            if let Some(fr) = a.fixes.iter().find(|x| x.fix == f)
                && fr.loss.mean < a.loss.mean
            {
                saved = saved.saturating_add(a.loss.mean.saturating_sub(fr.loss.mean));
                names.push(a.key.clone());
            }
        }
        if saved > Money::ZERO {
            let t = all.fixes.get(&f);
            ranking.push(Ranked {
                fix: f,
                saved,
                attacks: names,
                advice: t.map_or(text::Advice::Provider, |t| t.advice),
                pci: t.map(|t| t.pci.clone()).unwrap_or_default(),
            });
        }
    }
    ranking.sort_by(|a, b| b.saved.cmp(&a.saved).then(a.fix.cmp(&b.fix)));
    let total = attacks.iter().fold(Money::ZERO, |acc, a| acc.saturating_add(a.loss.mean));
    let total_shop = attacks
        .iter()
        .filter(|a| a.pays == text::Payer::Shop)
        .fold(Money::ZERO, |acc, a| acc.saturating_add(a.loss.mean));
    Assessment {
        profile: profile.clone(),
        assumed: profile.assumed(),
        days,
        seeds: seeds.to_vec(),
        attacks,
        ranking,
        total,
        total_shop,
    }
}

/// The first warning over the runs: the most common first alert, and the
/// median time to it.
fn warning(runs: &[Measured]) -> Option<Warning> {
    let fired: Vec<(AlertKind, u64)> =
        runs.iter().filter_map(|m| m.alert.map(|a| (a.alert, a.after_us))).collect();
    let mut kinds: Vec<AlertKind> = fired.iter().map(|(k, _)| *k).collect();
    kinds.sort();
    kinds.dedup();
    let alert = kinds
        .into_iter()
        .max_by_key(|k| (fired.iter().filter(|(x, _)| x == k).count(), std::cmp::Reverse(*k)))?;
    let mut times: Vec<u64> = fired.iter().filter(|(k, _)| *k == alert).map(|(_, t)| *t).collect();
    times.sort_unstable();
    let after_us = times.get(times.len() / 2).copied().unwrap_or_default();
    Some(Warning { alert, after_us, runs: fired.len(), first_in: times.len() })
}
