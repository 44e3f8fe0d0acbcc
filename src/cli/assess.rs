//! `possim assess`: a shop profile against the whole attack catalogue, in
//! the owner's language; `--interactive` asks the questions and writes the
//! profile first.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use possim::assess::profile::{QUESTIONS, choices};
use possim::assess::render::{self, Evidence};
use possim::assess::text::{Lang, t};
use possim::assess::{self, Job, Measured, Profile, texts};
use possim::sim::{self, Options, Pacing, Plan};

use super::{Failure, Outcome, pool, print};

#[derive(Debug, clap::Args)]
#[command(after_help = "The profile is a short RON file of answers an owner can give (see
docs/ASSESS.md, and examples/shop-*.ron); a question left out is taken at its riskier answer,
and the report says so. Each attack of the catalogue runs against the shop over --days of its
trade, once per seed; every attack that costs money or copies card data is run again with each
change worth trying, so the loss after a change is measured, not guessed.

Exit codes: 0 assessed, 2 bad profile or command line, 3 I/O failure.")]
pub(crate) struct Args {
    /// The shop profile (RON); with --interactive, where to write it.
    #[arg(value_name = "PROFILE")]
    profile: PathBuf,
    /// Ask the questions in the terminal and write PROFILE, then assess it.
    #[arg(long)]
    interactive: bool,
    /// The report's language: en or zh-CN.
    #[arg(long, default_value = "en", value_parser = parse_lang, value_name = "LANG")]
    lang: Lang,
    /// Runs per attack, each with its own seed (1..=N).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100), value_name = "N")]
    seeds: u64,
    /// Days of trade per run: a month by default. Losses are those of these days,
    /// never extrapolated (the attacks are written for a month).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(7..=31), value_name = "N")]
    days: u32,
    /// Write the assessment as JSON.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write the assessment as one self-contained HTML page.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// For a QA engineer: write each attack's scenario and the journal of
    /// its first run (events and frames) to DIR, and name them in the report.
    #[arg(long, value_name = "DIR")]
    detail: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("{s:?}: expected en or zh-CN"))
}

pub(crate) fn run(args: Args) -> Outcome {
    let lang = args.lang;
    // The catalogue is compiled in and a test reads it; this only guards a
    // broken build from printing an empty report.
    possim::assess::text::load().map_err(|e| {
        Failure::Io(format!("internal error (a defect of possim; please report it): {e}"))
    })?;
    let inputs = [args.profile.as_path()];
    super::distinct_files(
        &inputs,
        &[("--json", args.json.as_deref()), ("--html", args.html.as_deref())],
    )?;
    if args.interactive {
        questionnaire(&args.profile, lang)?;
    }
    let name = args.profile.display().to_string();
    let bytes = possim::file::read_bounded(&args.profile, 1 << 20)
        .map_err(|e| Failure::Io(format!("cannot read {name}: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::Invalid(format!("{name}: not UTF-8 text")))?;
    let profile =
        Profile::parse(&text, &name, lang).map_err(|d| Failure::Invalid(d.to_string()))?;
    // Outputs are opened before hours of runs, so a bad path fails now.
    let json_file = create(args.json.as_deref(), "JSON")?;
    let html_file = create(args.html.as_deref(), "HTML")?;
    if let Some(d) = &args.detail {
        // The evidence files must not land on the profile or the reports.
        for key in texts().attacks.iter().map(|a| a.key.as_str()) {
            for ext in ["ron", "jsonl"] {
                let f = d.join(format!("{key}.{ext}"));
                super::distinct_files(
                    &inputs,
                    &[
                        ("--detail", Some(f.as_path())),
                        ("--json", args.json.as_deref()),
                        ("--html", args.html.as_deref()),
                    ],
                )?;
            }
        }
        std::fs::create_dir_all(d)
            .map_err(|e| Failure::Io(format!("cannot make {}: {e}", d.display())))?;
    }
    let seeds: Vec<u64> = (1..=args.seeds).collect();
    let workers = args.jobs.map_or_else(pool::cores, usize::from);
    let base = assess::base_jobs(&profile, &seeds);
    let bar = bar(args.quiet, lang);
    bar.set_length(base.len() as u64);
    let mut results = run_jobs(&profile, &base, args.days, workers, &bar)?;
    let fixes = assess::fix_jobs(&profile, &seeds, &results);
    bar.set_length((base.len() + fixes.len()) as u64);
    results.extend(run_jobs(&profile, &fixes, args.days, workers, &bar)?);
    bar.finish_and_clear();
    let assessment = assess::assemble(&profile, args.days, &seeds, &results);
    let evidence = match &args.detail {
        Some(dir) => detail(dir, &results)?,
        None => BTreeMap::new(),
    };
    if let Some((f, p)) = json_file {
        let mut v = serde_json::to_value(&assessment).unwrap_or_default();
        if !evidence.is_empty()
            && let Some(o) = v.as_object_mut()
        {
            o.insert("evidence".into(), serde_json::to_value(&evidence).unwrap_or_default());
        }
        write(f, &p, &(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"))?;
    }
    if let Some((f, p)) = html_file {
        write(f, &p, &render::html(&assessment, lang, &evidence))?;
    }
    print(&render::text(&assessment, lang, &evidence))?;
    Ok(ExitCode::SUCCESS)
}

fn bar(quiet: bool, lang: Lang) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(&t("q.progress", lang)) {
        b.set_style(style.progress_chars("=> "));
    }
    b.set_message(t("progress", lang));
    b
}

fn run_jobs(
    profile: &Profile,
    jobs: &[Job],
    days: u32,
    workers: usize,
    bar: &ProgressBar,
) -> Result<Vec<(Job, Measured)>, Failure> {
    let out = pool::parallel(jobs, workers, |_, &job| {
        let r = assess::run_job(profile, job, days);
        bar.inc(1);
        r
    });
    jobs.iter()
        .zip(out)
        .map(|(&j, r)| {
            r.map(|m| (j, m)).map_err(|e| {
                Failure::Io(format!("internal error (a defect of possim; please report it): {e}"))
            })
        })
        .collect()
}

fn create(p: Option<&Path>, what: &str) -> Result<Option<(std::fs::File, PathBuf)>, Failure> {
    let Some(p) = p else { return Ok(None) };
    let f = std::fs::File::create(p)
        .map_err(|e| Failure::Io(format!("cannot write {what} {}: {e}", p.display())))?;
    Ok(Some((f, p.to_path_buf())))
}

fn write(mut f: std::fs::File, p: &Path, body: &str) -> Result<(), Failure> {
    f.write_all(body.as_bytes())
        .and_then(|()| f.flush())
        .map_err(|e| Failure::Io(format!("cannot write {}: {e}", p.display())))
}

/// Writes each attack's scenario (the first seed's run, as measured) and
/// runs it again with a journal: the evidence behind the figures.
fn detail(dir: &Path, results: &[(Job, Measured)]) -> Result<BTreeMap<String, Evidence>, Failure> {
    let mut out = BTreeMap::new();
    for (i, a) in texts().attacks.iter().enumerate() {
        let Some((job, m)) = results.iter().find(|(j, _)| j.attack == i && j.fix.is_none()) else {
            continue;
        };
        let scenario = dir.join(format!("{}.ron", a.key));
        let journal = dir.join(format!("{}.jsonl", a.key));
        std::fs::write(&scenario, &m.scenario)
            .map_err(|e| Failure::Io(format!("cannot write {}: {e}", scenario.display())))?;
        let s = possim::scenario::load(&scenario).map_err(|e| {
            Failure::Io(format!("internal error (a defect of possim; please report it): {e}"))
        })?;
        let plan = Plan::new(&s, Some(job.seed)).map_err(|e| {
            Failure::Io(format!("internal error (a defect of possim; please report it): {e}"))
        })?;
        let j = super::journal_writer(Some(&journal))?;
        let options = Options { apdus: true, frames: true, stay_open: false };
        let mut app = sim::build_app(
            Arc::new(plan),
            j,
            Pacing::Headless { slice: sim::HEADLESS_SLICE },
            options,
        );
        let report = sim::run_to_end(&mut app, &scenario.display().to_string());
        if let Some(e) = &app.world().resource::<sim::Journal>().error {
            return Err(Failure::Io(format!("writing journal {}: {e}", journal.display())));
        }
        out.insert(
            a.key.clone(),
            Evidence {
                scenario: scenario.display().to_string(),
                journal: journal.display().to_string(),
                seed: job.seed,
                alert_event: assess::first_alert(&s, &report).map(|f| f.event),
            },
        );
    }
    Ok(out)
}

/// Asks the profile's questions on the terminal and writes the answers.
fn questionnaire(path: &Path, lang: Lang) -> Result<(), Failure> {
    if path.exists() {
        return Err(Failure::Invalid(
            t("q.exists", lang).replace("{path}", &path.display().to_string()),
        ));
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut err = std::io::stderr();
    let mut out = format!("// {}\nShop(\n", t("q.header", lang));
    // Answers that make a later question meaningless skip it, so the
    // questionnaire never writes a profile that contradicts itself.
    let mut said: BTreeMap<&str, String> = BTreeMap::new();
    let no = |said: &BTreeMap<&str, String>, q: &str| said.get(q).is_some_and(|a| a == "No");
    for &q in QUESTIONS {
        let skip = match q {
            "contactless_limit" => no(&said, "contactless"),
            "fallback" => no(&said, "chip") || no(&said, "magstripe"),
            "refund_check" => said.get("refunds_by").is_some_and(|a| a == "Nobody"),
            _ => false,
        };
        if skip {
            continue;
        }
        let question = texts().questions.get(q).map_or(q, |x| x.get(lang));
        let opts = choices(q);
        let _ = writeln!(err, "\n{question}");
        let answer: Option<String> = loop {
            if opts.is_empty() {
                let _ = write!(err, "  ({}) > ", t("q.value", lang));
            } else {
                for (i, o) in opts.iter().enumerate() {
                    let what = texts().answers.get(*o).map_or("", |x| x.get(lang));
                    let _ = writeln!(err, "  {}. {o} ({what})", i + 1);
                }
                let _ = write!(err, "  ({}) > ", t("q.choose", lang));
            }
            let _ = err.flush();
            let Some(Ok(line)) = lines.next() else { break None };
            let line = line.trim().to_string();
            if line.is_empty() {
                break None;
            }
            if opts.is_empty() {
                if value_ok(q, &line) {
                    break Some(line);
                }
            } else if let Some(o) = line
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|n| opts.get(n))
                .or_else(|| opts.iter().find(|o| o.eq_ignore_ascii_case(&line)))
            {
                break Some((*o).to_string());
            }
            let _ = writeln!(err, "  {}", t("q.again", lang));
        };
        if let Some(a) = &answer {
            said.insert(q, a.clone());
        }
        let _ = writeln!(out, "    // {}", question.replace('\n', " "));
        match answer {
            Some(a) if opts.is_empty() => {
                let v = match q {
                    "terminals" | "customers_per_day" => a,
                    _ => format!("{a:?}"),
                };
                let _ = writeln!(out, "    {q}: {v},");
            }
            Some(a) => {
                let _ = writeln!(out, "    {q}: {a},");
            }
            None if opts.is_empty() => {
                let _ = writeln!(out, "    // {q}: {}", t("q.not_answered", lang));
            }
            None => {
                let _ = writeln!(out, "    {q}: Unknown,");
            }
        }
    }
    out.push_str(")\n");
    // All three card types refused is the one contradiction left to the
    // answers themselves: say so, and write nothing.
    Profile::parse(&out, &path.display().to_string(), lang)
        .map_err(|d| Failure::Invalid(d.to_string()))?;
    std::fs::write(path, &out)
        .map_err(|e| Failure::Io(format!("cannot write {}: {e}", path.display())))?;
    let _ = writeln!(
        err,
        "\n{}\n",
        t("q.written", lang).replace("{path}", &path.display().to_string())
    );
    Ok(())
}

/// Whether a typed value fits its question.
fn value_ok(q: &str, v: &str) -> bool {
    match q {
        "terminals" => v.parse::<u32>().is_ok_and(|n| (1..=20).contains(&n)),
        "customers_per_day" => v.parse::<u32>().is_ok_and(|n| (1..=20_000).contains(&n)),
        "average_amount" => {
            possim::money::Money::parse(v).is_ok_and(|m| m.0 > 0 && m.0 <= 1_000_000)
        }
        "contactless_limit" => {
            possim::money::Money::parse(v).is_ok_and(|m| (0..=10_000_000).contains(&m.0))
        }
        "currency" => v.len() == 3 && v.bytes().all(|b| b.is_ascii_digit()),
        "name" => !v.chars().any(char::is_control) && v.chars().count() <= 60,
        _ => false,
    }
}
