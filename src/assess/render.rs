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
        "156" | "392" => format!("{sign}¥{grouped}.{cents}"),
        "840" => format!("{sign}${grouped}.{cents}"),
        "978" => format!("{sign}€{grouped}.{cents}"),
        "826" => format!("{sign}£{grouped}.{cents}"),
        other => format!("{sign}{grouped}.{cents} ({other})"),
    }
}

/// A time span in words: days, hours or minutes.
fn span(us: u64, lang: Lang) -> String {
    let s = us / 1_000_000;
    let (key, n) = if s >= 2 * 86_400 {
        ("days", s / 86_400)
    } else if s >= 2 * 3600 {
        ("hours", s / 3600)
    } else {
        ("minutes", (s / 60).max(1))
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
        Verdict::No => 2,
        Verdict::Impossible => 3,
    };
    let mut v: Vec<&AttackResult> = a.attacks.iter().collect();
    v.sort_by(|x, y| rank(x.verdict).cmp(&rank(y.verdict)).then(y.loss.mean.cmp(&x.loss.mean)));
    v
}

/// The lines said about one attack (after its verdict and name).
fn attack_lines(
    a: &AttackResult,
    s: &Assessment,
    lang: Lang,
    evidence: Option<&Evidence>,
) -> Vec<String> {
    let cur = &s.profile.currency;
    let mut out = Vec::new();
    if a.verdict == Verdict::Impossible {
        out.push(t("impossible", lang));
        return out;
    }
    out.push(attack_what(&a.key, lang));
    if a.loss.mean > Money::ZERO || a.loss.high > Money::ZERO {
        out.push(
            t("loss_month", lang)
                .replace("{per}", &per(s.days, lang))
                .replace("{loss}", &money(a.loss.mean, cur))
                .replace("{low}", &money(a.loss.low, cur))
                .replace("{high}", &money(a.loss.high, cur)),
        );
        out.push(t(if a.pays == Payer::Shop { "pays.shop" } else { "pays.customers" }, lang));
    } else {
        out.push(t("no_loss", lang));
    }
    if a.stolen > 0 {
        out.push(
            t("copied", lang)
                .replace("{per}", &per(s.days, lang))
                .replace("{n}", &a.stolen.to_string()),
        );
    }
    let mut warn = match &a.warning {
        Some(w) => {
            let mut l = t("alert_after", lang)
                .replace("{alert}", &alert_name(w.alert, lang))
                .replace("{time}", &span(w.after_us, lang));
            if w.runs < a.runs.len() {
                l += " ";
                l += &t("alert_some", lang)
                    .replace("{k}", &w.runs.to_string())
                    .replace("{n}", &a.runs.len().to_string());
            }
            l
        }
        None => t("alert_never", lang),
    };
    if a.warning.is_some() && super::shop::reaction(&s.profile).is_none() {
        warn += " ";
        warn += &t("alert_unread", lang);
    }
    out.push(warn);
    if a.loss.mean > Money::ZERO {
        match a.best.and_then(|b| a.fixes.iter().find(|f| f.fix == b)) {
            Some(f) => out.push(
                t("best_change", lang)
                    .replace("{per}", &per(s.days, lang))
                    .replace("{fix}", &fix_title(f.fix, lang))
                    .replace("{loss}", &money(f.loss.mean, cur)),
            ),
            None => out.push(t("no_change", lang)),
        }
    }
    if let Some(e) = evidence {
        out.push(
            t("detail.rerun", lang)
                .replace("{cmd}", &format!("possim run {} --seed {}", e.scenario, e.seed)),
        );
        out.push(t("detail.journal", lang).replace("{path}", &e.journal));
        if let Some(event) = e.alert_event {
            out.push(t("detail.alert_event", lang).replace("{event}", &event.to_string()));
        }
    }
    out
}

fn verdict_word(v: Verdict, lang: Lang) -> String {
    t(
        match v {
            Verdict::Yes => "verdict.yes",
            Verdict::Partly => "verdict.partly",
            Verdict::No => "verdict.no",
            Verdict::Impossible => "verdict.impossible",
        },
        lang,
    )
}

fn intro(s: &Assessment, lang: Lang) -> String {
    let p = &s.profile;
    t("intro", lang)
        .replace("{attacks}", &s.attacks.len().to_string())
        .replace("{shop}", &p.name)
        .replace("{terminals}", &p.terminals.to_string())
        .replace("{customers}", &p.customers().to_string())
        .replace("{average}", &money(p.average(), &p.currency))
        .replace("{days}", &s.days.to_string())
        .replace("{seeds}", &s.seeds.len().to_string())
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
        l += "; ";
        l += &t("pci", lang).replace("{req}", &r.pci.join(", "));
    }
    lines.push(l);
    (fix_title(r.fix, lang), lines)
}

/// The report as text for a terminal.
pub fn text(s: &Assessment, lang: Lang, evidence: &BTreeMap<String, Evidence>) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", t("title", lang).replace("{shop}", &s.profile.name));
    let _ = writeln!(o, "{}\n", intro(s, lang));
    if !s.assumed.is_empty() {
        let _ = writeln!(o, "{}", t("assumed", lang));
        for q in &s.assumed {
            let text = texts().questions.get(*q).map_or(*q, |x| x.get(lang));
            let _ = writeln!(o, "  - {q}: {text}");
        }
        o.push('\n');
    }
    let _ = writeln!(o, "{}", t("could_it", lang));
    for a in ordered(s) {
        let _ = writeln!(o, "  {:<7} {}", verdict_word(a.verdict, lang), attack_name(&a.key, lang));
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
    if s.total > Money::ZERO {
        let _ = writeln!(
            o,
            "\n{}",
            t("total", lang)
                .replace("{per}", &per(s.days, lang))
                .replace("{loss}", &money(s.total, &s.profile.currency))
        );
    } else {
        let _ = writeln!(o, "\n{}", t("safe", lang));
    }
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
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
body{{font-family:system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}}\
h1{{font-size:1.5em}} .a{{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;margin:.8em 0}}\
.v{{display:inline-block;min-width:4.5em;font-weight:bold;padding:.1em .5em;border-radius:4px;margin-right:.6em;text-align:center}}\
.yes{{background:#c62828;color:#fff}} .partly{{background:#ef6c00;color:#fff}} .no,.impossible{{background:#2e7d32;color:#fff}}\
.a p{{margin:.3em 0}} ol li{{margin:.6em 0}} .muted{{color:#666}} .total{{font-size:1.2em;font-weight:bold}}\
</style></head><body>\n",
        esc(&t("title", lang).replace("{shop}", &s.profile.name)),
    );
    let _ = writeln!(o, "<h1>{}</h1>", esc(&t("title", lang).replace("{shop}", &s.profile.name)));
    let _ = writeln!(o, "<p>{}</p>", esc(&intro(s, lang)));
    let total = if s.total > Money::ZERO {
        t("total", lang)
            .replace("{per}", &per(s.days, lang))
            .replace("{loss}", &money(s.total, &s.profile.currency))
    } else {
        t("safe", lang)
    };
    let _ = writeln!(o, "<p class=\"total\">{}</p>", esc(&total));
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
    }
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("could_it", lang)));
    for a in ordered(s) {
        let class = match a.verdict {
            Verdict::Yes => "yes",
            Verdict::Partly => "partly",
            Verdict::No => "no",
            Verdict::Impossible => "impossible",
        };
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
    if !s.assumed.is_empty() {
        let _ = writeln!(o, "<h2>{}</h2><ul>", esc(&t("assumed", lang)));
        for q in &s.assumed {
            let text = texts().questions.get(*q).map_or(*q, |x| x.get(lang));
            let _ = writeln!(o, "<li><code>{}</code>: {}</li>", esc(q), esc(text));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</body></html>\n");
    o
}
