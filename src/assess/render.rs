//! The assessment for the owner: plain language first, in English or
//! Simplified Chinese, figures in the shop's currency; as text for a
//! terminal and as one self-contained HTML page a trainer can hand over.
//! With detail, each attack also names the scenario file and journal that
//! back its figures, for a QA engineer.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::text::{Lang, Payer, t, texts};
use super::{Assessment, AttackResult, Verdict};
use crate::money::Money;

/// Where the evidence of one attack was written (`--detail DIR`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    /// The scenario file of the first seed's run.
    pub scenario: String,
    /// Its journal (events and frames).
    pub journal: String,
    /// The seed.
    pub seed: u64,
    /// The journal event of the first alert the attack provoked, if one fired.
    pub alert_event: Option<u64>,
}

/// Money as the owner reads it: the currency's sign and grouped digits.
pub fn money(m: Money, currency: &str) -> String {
    let s = format!("{}", Money(m.0.abs()));
    let (whole, cents) = s.split_once('.').unwrap_or((&s, "00"));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if m.0 < 0 { "-" } else { "" };
    match currency {
        "156" => format!("{sign}¥{grouped}.{cents}"),
        "840" => format!("{sign}${grouped}.{cents}"),
        "978" => format!("{sign}€{grouped}.{cents}"),
        "826" => format!("{sign}£{grouped}.{cents}"),
        other => format!("{sign}{grouped}.{cents} ({other})"),
    }
}

/// A time span in words: days, hours or minutes.
fn span(us: u64, lang: Lang) -> String {
    let s = us / 1_000_000;
    if s < 60 {
        return t("under_minute", lang);
    }
    let (key, n) = if s >= 2 * 86_400 {
        ("days", s / 86_400)
    } else if s >= 2 * 3600 {
        ("hours", s / 3600)
    } else {
        ("minutes", s / 60)
    };
    let key = if n == 1 { format!("{key}.one") } else { key.to_string() };
    t(&key, lang).replace("{n}", &n.to_string())
}

/// "a month" for the default 30 days, else "over N days".
fn per(days: u32, lang: Lang) -> String {
    if days == super::MONTH_DAYS {
        t("per.month", lang)
    } else {
        t("per.days", lang).replace("{n}", &days.to_string())
    }
}

/// Fills placeholders, the shop's own name last (a name may hold braces).
fn fill(template: &str, values: &[(&str, String)], name: &str) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out.replace("{shop}", name)
}

fn attack_name(key: &str, lang: Lang) -> String {
    texts()
        .attacks
        .iter()
        .find(|a| a.key == key)
        .map_or_else(|| key.to_string(), |a| a.name.get(lang).to_string())
}

fn attack_what(key: &str, lang: Lang) -> String {
    texts()
        .attacks
        .iter()
        .find(|a| a.key == key)
        .map_or_else(String::new, |a| a.what.get(lang).to_string())
}

fn fix_title(f: super::Fix, lang: Lang) -> String {
    texts().fixes.get(&f).map_or_else(|| f.key().to_string(), |x| x.title.get(lang).to_string())
}

fn alert_name(a: crate::scenario::AlertKind, lang: Lang) -> String {
    let k = format!("{a:?}");
    texts().alerts.get(&k).map_or(k, |x| x.get(lang).to_string())
}

/// The order the owner reads the attacks in: what works here first, the
/// costliest first.
fn ordered(a: &Assessment) -> Vec<&AttackResult> {
    let rank = |v: Verdict| match v {
        Verdict::Yes => 0,
        Verdict::Partly => 1,
        Verdict::DataOnly => 2,
        Verdict::No => 3,
        Verdict::Impossible => 4,
    };
    let mut v: Vec<&AttackResult> = a.attacks.iter().collect();
    v.sort_by(|x, y| {
        rank(x.verdict)
            .cmp(&rank(y.verdict))
            .then(y.loss.mean.cmp(&x.loss.mean))
            .then(y.stolen.cmp(&x.stolen))
    });
    v
}

/// Who bears an attack's loss, in words: the shop; the customers' banks
/// when the copies are spent at other shops; or the customers' banks and
/// then the shop through chargebacks when it happens at this till.
fn payer(a: &AttackResult, lang: Lang) -> String {
    let away = texts().attacks.iter().any(|x| x.key == a.key && x.away());
    t(
        match (a.pays, away) {
            (Payer::Shop, _) => "pays.shop",
            (Payer::Customers, true) => "pays.elsewhere",
            (Payer::Customers, false) => "pays.here",
        },
        lang,
    )
}

/// The lines said about one attack (after its verdict and name).
fn attack_lines(
    a: &AttackResult,
    s: &Assessment,
    lang: Lang,
    evidence: Option<&Evidence>,
) -> Vec<String> {
    let cur = &s.profile.currency;
    let p = per(s.days, lang);
    let mut out = Vec::new();
    if a.verdict == Verdict::Impossible {
        out.push(t("impossible", lang));
        return out;
    }
    out.push(attack_what(&a.key, lang));
    if a.loss.high > Money::ZERO {
        out.push(
            t("loss_month", lang)
                .replace("{per}", &p)
                .replace("{loss}", &money(a.loss.mean, cur))
                .replace("{low}", &money(a.loss.low, cur))
                .replace("{high}", &money(a.loss.high, cur)),
        );
        out.push(payer(a, lang));
        if a.stolen > 0 {
            out.push(t("copied", lang).replace("{per}", &p).replace("{n}", &a.stolen.to_string()));
        }
    } else if a.verdict == Verdict::DataOnly {
        out.push(t("data_only", lang).replace("{per}", &p).replace("{n}", &a.stolen.to_string()));
    } else {
        out.push(t("no_loss", lang));
    }
    let mut warn = match &a.warning {
        Some(w) => {
            let mut l = t("alert_after", lang)
                .replace("{alert}", &alert_name(w.alert, lang))
                .replace("{time}", &span(w.after_us, lang));
            if w.first_in < a.runs.len() {
                l += &t("alert_some", lang)
                    .replace("{k}", &w.first_in.to_string())
                    .replace("{n}", &a.runs.len().to_string());
            }
            l
        }
        None => t("alert_never", lang),
    };
    if a.warning.is_some() && super::shop::reaction(&s.profile).is_none() {
        warn += &t("alert_unread", lang);
    }
    out.push(warn);
    if a.loss.mean > Money::ZERO || a.stolen > 0 {
        match a.best.and_then(|b| a.fixes.iter().find(|f| f.fix == b)) {
            // Where nothing was spent, what the change is worth is the cards
            // it keeps out of the thieves' hands.
            Some(f) if a.loss.mean == Money::ZERO => out.push(
                t("best_change_data", lang)
                    .replace("{fix}", &fix_title(f.fix, lang))
                    .replace("{n}", &f.stolen.to_string()),
            ),
            Some(f) => {
                let mut l = t("best_change", lang)
                    .replace("{per}", &p)
                    .replace("{fix}", &fix_title(f.fix, lang))
                    .replace("{loss}", &money(f.loss.mean, cur));
                if f.stolen > 0 {
                    l += &t("still_copied", lang).replace("{n}", &f.stolen.to_string());
                }
                out.push(l);
            }
            None => out.push(t("no_change", lang)),
        }
    }
    if let Some(e) = evidence {
        out.push(
            t("detail.rerun", lang)
                .replace("{cmd}", &crate::report::rerun_command(&e.scenario, e.seed)),
        );
        out.push(t("detail.journal", lang).replace("{path}", &e.journal));
        if let Some(event) = e.alert_event {
            out.push(t("detail.alert_event", lang).replace("{event}", &event.to_string()));
        }
    }
    out
}

fn verdict_word(v: Verdict, lang: Lang) -> String {
    t(verdict_key(v), lang)
}

fn verdict_key(v: Verdict) -> &'static str {
    match v {
        Verdict::Yes => "verdict.yes",
        Verdict::Partly => "verdict.partly",
        Verdict::DataOnly => "verdict.data_only",
        Verdict::No => "verdict.no",
        Verdict::Impossible => "verdict.impossible",
    }
}

fn intro(s: &Assessment, lang: Lang) -> String {
    let p = &s.profile;
    let possible = s.attacks.iter().filter(|a| a.verdict != Verdict::Impossible).count();
    let terminals = if p.terminals == 1 { "n_terminals.one" } else { "n_terminals" };
    let seeds = if s.seeds.len() == 1 { "n_seeds.one" } else { "n_seeds" };
    fill(
        &t("intro", lang),
        &[
            ("attacks", possible.to_string()),
            ("terminals", t(terminals, lang).replace("{n}", &p.terminals.to_string())),
            ("customers", p.customers().to_string()),
            ("average", money(p.average(), &p.currency)),
            ("days", s.days.to_string()),
            ("seeds", t(seeds, lang).replace("{n}", &s.seeds.len().to_string())),
        ],
        &p.name,
    )
}

/// The closing line: what all of it would cost, or that nothing worked.
fn closing(s: &Assessment, lang: Lang) -> String {
    let cur = &s.profile.currency;
    if s.total > Money::ZERO {
        return t("total", lang)
            .replace("{per}", &per(s.days, lang))
            .replace("{loss}", &money(s.total, cur))
            .replace("{till}", &money(s.total_shop, cur));
    }
    let data = s.attacks.iter().filter(|a| a.verdict == Verdict::DataOnly).count();
    if data > 0 {
        return t("safe_money", lang).replace("{n}", &data.to_string());
    }
    t("safe", lang)
}

/// A verdict padded to 8 display cells (a CJK character takes two).
fn padded(word: &str) -> String {
    let width: usize = word.chars().map(|c| if c >= '\u{2e80}' { 2 } else { 1 }).sum();
    format!("{word}{}", " ".repeat(8usize.saturating_sub(width)))
}

fn assumed_lines(s: &Assessment, lang: Lang) -> Vec<String> {
    s.assumed
        .iter()
        .map(|q| format!("{q}: {}", texts().questions.get(*q).map_or(*q, |x| x.get(lang))))
        .collect()
}

fn ranked_lines(r: &super::Ranked, s: &Assessment, lang: Lang) -> (String, Vec<String>) {
    let names: Vec<String> = r.attacks.iter().map(|k| attack_name(k, lang)).collect();
    let sep = if lang == Lang::ZhCn { "、" } else { ", " };
    let mut lines = vec![
        t("saves", lang)
            .replace("{per}", &per(s.days, lang))
            .replace("{saved}", &money(r.saved, &s.profile.currency))
            .replace("{attacks}", &names.join(sep)),
    ];
    let advice =
        texts().advice.get(&r.advice).map_or_else(String::new, |a| a.get(lang).to_string());
    let mut l = t("follows", lang).replace("{advice}", &advice);
    if !r.pci.is_empty() {
        l += if lang == Lang::ZhCn { "；" } else { "; " };
        let key = if r.pci.len() == 1 { "pci" } else { "pci.many" };
        l += &t(key, lang).replace("{req}", &r.pci.join(", "));
    }
    lines.push(l);
    (fix_title(r.fix, lang), lines)
}

/// The report as text for a terminal.
pub fn text(s: &Assessment, lang: Lang, evidence: &BTreeMap<String, Evidence>) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", fill(&t("title", lang), &[], &s.profile.name));
    let _ = writeln!(o, "{}\n", intro(s, lang));
    if !s.assumed.is_empty() {
        let _ = writeln!(o, "{}", t("assumed", lang));
        for l in assumed_lines(s, lang) {
            let _ = writeln!(o, "  - {l}");
        }
        o.push('\n');
    }
    let _ = writeln!(o, "{}", t("could_it", lang));
    for a in ordered(s) {
        let _ = writeln!(
            o,
            "  {}{}",
            padded(&verdict_word(a.verdict, lang)),
            attack_name(&a.key, lang)
        );
        for l in attack_lines(a, s, lang, evidence.get(&a.key)) {
            let _ = writeln!(o, "          {l}");
        }
    }
    o.push('\n');
    let _ = writeln!(o, "{}", t("summary", lang));
    if s.ranking.is_empty() {
        let _ = writeln!(o, "  {}", t("nothing_to_change", lang));
    }
    for (i, r) in s.ranking.iter().enumerate() {
        let (title, lines) = ranked_lines(r, s, lang);
        let _ = writeln!(o, "  {}. {title}", i + 1);
        for l in lines {
            let _ = writeln!(o, "     {l}");
        }
    }
    if s.ranking.len() > 1 {
        let _ = writeln!(o, "  ({})", t("overlap", lang));
    }
    let _ = writeln!(o, "\n{}", closing(s, lang));
    o
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The report as one self-contained HTML page (no scripts, no external
/// resources).
pub fn html(s: &Assessment, lang: Lang, evidence: &BTreeMap<String, Evidence>) -> String {
    let mut o = String::new();
    let code = if lang == Lang::ZhCn { "zh-CN" } else { "en" };
    let title = esc(&fill(&t("title", lang), &[], &s.profile.name));
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>\
body{{font-family:system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}}\
h1{{font-size:1.5em}} .a{{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;margin:.8em 0}}\
.v{{display:inline-block;min-width:4.5em;font-weight:bold;padding:.1em .5em;border-radius:4px;margin-right:.6em;text-align:center}}\
.yes{{background:#c62828;color:#fff}} .partly{{background:#ef6c00;color:#fff}} .data_only{{background:#f9a825;color:#222}}\
.no,.impossible{{background:#2e7d32;color:#fff}} .a p{{margin:.3em 0}} ol li{{margin:.6em 0}} .muted{{color:#666}}\
.total{{font-size:1.2em;font-weight:bold}}\
</style></head><body>\n"
    );
    let _ = writeln!(o, "<h1>{title}</h1>");
    let _ = writeln!(o, "<p>{}</p>", esc(&intro(s, lang)));
    if !s.assumed.is_empty() {
        let _ = writeln!(o, "<p>{}</p><ul>", esc(&t("assumed", lang)));
        for l in assumed_lines(s, lang) {
            let _ = writeln!(o, "<li>{}</li>", esc(&l));
        }
        o.push_str("</ul>\n");
    }
    let _ = writeln!(o, "<p class=\"total\">{}</p>", esc(&closing(s, lang)));
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("summary", lang)));
    if s.ranking.is_empty() {
        let _ = writeln!(o, "<p>{}</p>", esc(&t("nothing_to_change", lang)));
    } else {
        o.push_str("<ol>\n");
        for r in &s.ranking {
            let (title, lines) = ranked_lines(r, s, lang);
            let _ = write!(o, "<li><b>{}</b>", esc(&title));
            for l in lines {
                let _ = write!(o, "<br><span class=\"muted\">{}</span>", esc(&l));
            }
            o.push_str("</li>\n");
        }
        o.push_str("</ol>\n");
        if s.ranking.len() > 1 {
            let _ = writeln!(o, "<p class=\"muted\">{}</p>", esc(&t("overlap", lang)));
        }
    }
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("could_it", lang)));
    for a in ordered(s) {
        let class = verdict_key(a.verdict).trim_start_matches("verdict.");
        let _ = write!(
            o,
            "<div class=\"a\" id=\"{}\"><p><span class=\"v {class}\">{}</span><b>{}</b></p>",
            esc(&a.key),
            esc(&verdict_word(a.verdict, lang)),
            esc(&attack_name(&a.key, lang))
        );
        for l in attack_lines(a, s, lang, evidence.get(&a.key)) {
            let _ = write!(o, "<p>{}</p>", esc(&l));
        }
        o.push_str("</div>\n");
    }
    o.push_str("</body></html>\n");
    o
}
