//! `possim assess` as an owner and a QA engineer use it: a well-defended
//! shop where every attack fails, a weak one where the expected attacks
//! cost money, recommendations whose "loss after" is a real rerun, both
//! languages complete, and hostile profiles refused with their position.

use std::process::{Command, Stdio};
use std::sync::OnceLock;

use possim::assess::profile::{Fix, Profile, QUESTIONS, Watch};
use possim::assess::text::Lang;
use possim::assess::{self, Job, shop, texts};
use possim::scenario::AlertKind;

use crate::util::{Scratch, possim, root};

fn profile(name: &str) -> Profile {
    let path = root().join("examples").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    Profile::parse(&text, name, Lang::En).unwrap_or_else(|d| panic!("{d}"))
}

/// One assessment of a profile, run once per test binary: (JSON, English text).
fn assessed(name: &'static str) -> &'static (serde_json::Value, String) {
    static WEAK: OnceLock<(serde_json::Value, String)> = OnceLock::new();
    static STRONG: OnceLock<(serde_json::Value, String)> = OnceLock::new();
    let cell = if name == "shop-weak.ron" { &WEAK } else { &STRONG };
    cell.get_or_init(|| {
        let scratch = Scratch::new();
        let dir = scratch.dir();
        let json = dir.join("a.json");
        let out = possim(&[
            "assess",
            &format!("examples/{name}"),
            "--seeds",
            "2",
            "--days",
            "10",
            "-q",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        (v, String::from_utf8(out.stdout).unwrap())
    })
}

fn attack<'a>(v: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    v["attacks"].as_array().unwrap().iter().find(|a| a["key"] == key).unwrap()
}

fn cents(m: &serde_json::Value) -> i64 {
    possim::money::Money::parse(m.as_str().unwrap()).unwrap().0
}

#[test]
fn a_well_defended_shop_sees_every_attack_fail_and_is_told_so() {
    let (v, text) = assessed("shop-strong.ron");
    let attacks = v["attacks"].as_array().unwrap();
    assert_eq!(attacks.len(), texts().attacks.len());
    for a in attacks {
        // No money in any run. A shim found only one check in ten, or a
        // keypad overlay found the next morning, may still have copied
        // something: the report says so (DATA), it does not call it safe.
        assert!(
            ["no", "impossible", "data_only"].contains(&a["verdict"].as_str().unwrap()),
            "{} works against the well-defended shop: {a}",
            a["key"]
        );
        assert_eq!(cents(&a["loss"]["high"]), 0, "{}", a["key"]);
    }
    assert!(v["ranking"].as_array().unwrap().is_empty());
    assert_eq!(cents(&v["total"]), 0);
    let data = attacks.iter().filter(|a| a["verdict"] == "data_only").count();
    if data == 0 {
        assert!(text.contains("Every attack possim tried failed against this shop."), "{text}");
    } else {
        let said = format!("No attack took money in these runs; {data} of them copied card data");
        assert!(text.contains(&said), "{text}");
    }
    assert!(text.contains("nothing urgent to change"), "{text}");
    // No swipe slot: the skimmer is impossible there, and said to be.
    assert_eq!(attack(v, "skimmer")["verdict"], "impossible");
    assert!(text.contains("not possible here"), "{text}");
}

#[test]
fn a_weak_shop_loses_money_to_the_attacks_its_answers_invite() {
    let (v, text) = assessed("shop-weak.ron");
    // Swiped chip cards accepted, no shield, nobody looking: the skimmer.
    // The factory password and anyone refunding: the insider.
    // Plain TCP and no MAC keys: the amount changed on the line.
    for key in ["skimmer", "insider_refund", "mitm_tamper_amount"] {
        let a = attack(v, key);
        assert_eq!(a["verdict"], "yes", "{key}: {a}");
        assert!(cents(&a["loss"]["low"]) > 0, "{key}: {a}");
    }
    assert!(cents(&v["total"]) > 0);
    assert!(text.contains("YES"));
    assert!(text.contains("What to change first"));
    // Every unanswered question would be listed; this profile answers all.
    assert!(v["assumed"].as_array().unwrap().is_empty());
    // Ranked by money saved, most first, each with its advice.
    let ranking = v["ranking"].as_array().unwrap();
    assert!(!ranking.is_empty());
    let saved: Vec<i64> = ranking.iter().map(|r| cents(&r["saved"])).collect();
    assert!(saved.windows(2).all(|w| w[0] >= w[1]), "{saved:?}");
    let inspect = ranking.iter().find(|r| r["fix"] == "InspectDaily").unwrap();
    assert_eq!(inspect["pci"], serde_json::json!(["9.5.1.2", "9.5.1.3"]));
    assert!(text.contains("PCI DSS v4.0 requirements 9.5.1.2, 9.5.1.3"), "{text}");
    // Data copied without money spent is not called safe.
    for key in ["mitm_read", "pin_pad_overlay"] {
        assert_eq!(attack(v, key)["verdict"], "data_only", "{key}");
    }
    assert!(text.contains("DATA    Eavesdropper on the line to the bank"), "{text}");
}

#[test]
fn every_loss_after_a_change_is_a_rerun_and_never_above_the_loss_before() {
    let (v, _) = assessed("shop-weak.ron");
    let seeds: Vec<u64> =
        v["seeds"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    let mut checked = 0;
    for a in v["attacks"].as_array().unwrap() {
        let before = cents(&a["loss"]["mean"]);
        if let Some(best) = a["best"].as_str() {
            let f = a["fixes"].as_array().unwrap().iter().find(|f| f["fix"] == best).unwrap();
            let after = cents(&f["loss"]["mean"]);
            assert!(after <= before, "{}: {best} {after} > {before}", a["key"]);
            let runs: Vec<u64> =
                f["runs"].as_array().unwrap().iter().map(|r| r["seed"].as_u64().unwrap()).collect();
            assert_eq!(runs, seeds, "{}: {best} was rerun for every seed", a["key"]);
            checked += 1;
        } else if before > 0 {
            // No change helped: each one tried was rerun and none lowered it.
            for f in a["fixes"].as_array().unwrap() {
                assert!(cents(&f["loss"]["mean"]) >= before, "{}: {f}", a["key"]);
            }
        }
    }
    assert!(checked >= 3, "{checked}");
    // And one of them, run again here: the figure is that of a run of the
    // shop with the change made (its scenario differs from the shop's own
    // in the change, and nowhere else), not an estimate.
    let weak = profile("shop-weak.ron");
    let a = attack(v, "insider_refund");
    let best = a["best"].as_str().unwrap();
    assert_eq!(best, "RefundNeedsSale");
    let fix = Fix::ALL.iter().copied().find(|f| format!("{f:?}") == best).unwrap();
    let index = texts().attacks.iter().position(|t| t.key == "insider_refund").unwrap();
    let f = a["fixes"].as_array().unwrap().iter().find(|f| f["fix"] == best).unwrap();
    for (i, &seed) in seeds.iter().enumerate() {
        let base = assess::run_job(&weak, Job { attack: index, fix: None, seed }, 10).unwrap();
        let m = assess::run_job(&weak, Job { attack: index, fix: Some(fix), seed }, 10).unwrap();
        assert_eq!(m.loss.to_string(), f["runs"][i]["loss"].as_str().unwrap());
        assert_eq!(base.loss.to_string(), a["runs"][i]["loss"].as_str().unwrap());
        let changed: Vec<(&str, &str)> =
            base.scenario.lines().zip(m.scenario.lines()).filter(|(x, y)| x != y).collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(
            changed[0].1.contains("RefundsNeedASale") && !changed[0].0.contains("RefundsNeedASale")
        );
    }
}

#[test]
fn a_shop_that_reads_its_alerts_stops_the_attack_a_day_after_the_first_one() {
    let mut p = profile("shop-weak.ron");
    let index = texts().attacks.iter().position(|t| t.key == "insider_refund").unwrap();
    let job = Job { attack: index, fix: None, seed: 1 };
    let unread = assess::run_job(&p, job, 10).unwrap();
    p.alerts_watched = Watch::Daily;
    let read = assess::run_job(&p, job, 10).unwrap();
    let first = read.alert.expect("a refund to a card that bought nothing here");
    assert_eq!(first.alert, AlertKind::RefundWithoutSale);
    let after = first.after_us;
    assert_eq!(unread.alert, read.alert, "the same run up to the alert");
    let day = 86_400_000_000;
    assert_eq!(read.stopped_at_us, Some(day + after + day), "started on day 1, acted a day later");
    assert!(read.scenario.contains("until: \""), "{}", read.scenario);
    assert!(read.loss < unread.loss, "{} vs {}", read.loss, unread.loss);
    assert_eq!(unread.stopped_at_us, None);
}

#[test]
fn every_attack_builds_a_valid_scenario_for_any_shop_and_any_change() {
    let mut shops = vec![profile("shop-weak.ron"), profile("shop-strong.ron"), Profile::default()];
    let base = shops.clone();
    for p in &base {
        shops.extend(Fix::ALL.iter().filter_map(|f| f.apply(p)));
    }
    for p in &shops {
        for a in &texts().attacks {
            if !shop::possible(p, a) {
                continue;
            }
            for days in [7, 30] {
                for cut in [None, Some(possim::time::Duration::from_secs(86_400 + 3600))] {
                    let text = shop::scenario(p, Some(a), days, cut, 1);
                    possim::scenario::parse(&text, "assess.ron").unwrap_or_else(|d| {
                        panic!("{} ({days} days, cut {cut:?}): {d}\n{text}", a.key)
                    });
                }
            }
        }
    }
}

fn alert_key(k: AlertKind) -> &'static str {
    // Exhaustive: a new alert kind fails to compile here until it has words.
    match k {
        AlertKind::LinkDown => "LinkDown",
        AlertKind::SecurityViolations => "SecurityViolations",
        AlertKind::FormatErrors => "FormatErrors",
        AlertKind::Duplicates => "Duplicates",
        AlertKind::AtcReplay => "AtcReplay",
        AlertKind::ReversalAbandoned => "ReversalAbandoned",
        AlertKind::PinBlocked => "PinBlocked",
        AlertKind::RefundVelocity => "RefundVelocity",
        AlertKind::LoginLockout => "LoginLockout",
        AlertKind::UnexpectedEgress => "UnexpectedEgress",
        AlertKind::CvmMismatch => "CvmMismatch",
        AlertKind::CardVelocity => "CardVelocity",
        AlertKind::CertificateMismatch => "CertificateMismatch",
        AlertKind::UnPattern => "UnPattern",
        AlertKind::TamperDetected => "TamperDetected",
        AlertKind::RefundWithoutSale => "RefundWithoutSale",
        AlertKind::UnknownSerial => "UnknownSerial",
    }
}

#[test]
fn both_languages_have_every_attack_change_alert_question_and_word() {
    let t = possim::assess::text::load().expect("assets/assess.ron reads");
    for a in &t.attacks {
        for lang in [Lang::En, Lang::ZhCn] {
            assert!(!a.name.get(lang).is_empty() && !a.what.get(lang).is_empty(), "{}", a.key);
        }
        assert!(a.name.zh_cn.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{}", a.key);
        assert!(root().join("scenarios").join(&a.catalogue).exists(), "{}", a.catalogue);
    }
    for f in Fix::ALL {
        let x = t.fixes.get(f).unwrap_or_else(|| panic!("{f:?} has no words"));
        assert!(!x.title.en.is_empty() && !x.title.zh_cn.is_empty());
        assert!(t.advice.contains_key(&x.advice));
    }
    for k in [
        AlertKind::LinkDown,
        AlertKind::SecurityViolations,
        AlertKind::FormatErrors,
        AlertKind::Duplicates,
        AlertKind::AtcReplay,
        AlertKind::ReversalAbandoned,
        AlertKind::PinBlocked,
        AlertKind::RefundVelocity,
        AlertKind::LoginLockout,
        AlertKind::UnexpectedEgress,
        AlertKind::CvmMismatch,
        AlertKind::CardVelocity,
        AlertKind::CertificateMismatch,
        AlertKind::UnPattern,
        AlertKind::TamperDetected,
        AlertKind::RefundWithoutSale,
        AlertKind::UnknownSerial,
    ] {
        assert!(t.alerts.contains_key(alert_key(k)), "{k:?}");
    }
    for q in QUESTIONS {
        assert!(t.questions.contains_key(*q), "{q}");
    }
    // Every word the code asks for is there in both languages: the keys
    // the code names (`t("...")`, and the ones it composes) are all in the file.
    let mut used: Vec<String> = Vec::new();
    for file in ["src/assess/render.rs", "src/assess/profile.rs", "src/cli/assess.rs"] {
        let src = std::fs::read_to_string(root().join(file)).unwrap();
        for (i, _) in src.match_indices("t(\"") {
            let before = src[..i].chars().last().unwrap_or(' ');
            if before.is_alphanumeric() || before == '_' {
                continue;
            }
            let rest = &src[i + 3..];
            used.push(rest[..rest.find('"').unwrap()].to_string());
        }
        // Keys handed to a helper that looks them up.
        for (i, _) in src.match_indices("\"err.") {
            let rest = &src[i + 1..];
            used.push(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    for v in [
        "verdict.yes",
        "verdict.partly",
        "verdict.no",
        "verdict.impossible",
        "pays.shop",
        "pays.elsewhere",
        "pays.here",
        "verdict.data_only",
        "pci.many",
        "n_terminals.one",
        "n_seeds.one",
        "per.month",
        "per.days",
        "days.one",
        "hours.one",
        "minutes.one",
    ] {
        used.push(v.to_string());
    }
    assert!(used.len() > 40, "{used:?}");
    for key in &used {
        let tr = t.ui.get(key).unwrap_or_else(|| panic!("`{key}` has no words"));
        assert!(!tr.en.is_empty() && !tr.zh_cn.is_empty(), "{key}");
    }
    for (lang, code) in [("en", "en"), ("zh-CN", "zh")] {
        let scratch = Scratch::new();
        let dir = scratch.dir();
        let html = dir.join("a.html");
        let json = dir.join("a.json");
        let out = possim(&[
            "assess",
            "examples/shop-weak.ron",
            "--seeds",
            "1",
            "--days",
            "7",
            "-q",
            "--lang",
            lang,
            "--html",
            html.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0));
        let weak: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert!(!weak["ranking"].as_array().unwrap().is_empty());
        let text = String::from_utf8(out.stdout).unwrap();
        let page = std::fs::read_to_string(&html).unwrap();
        for a in &t.attacks {
            let name = if code == "zh" { &a.name.zh_cn } else { &a.name.en };
            assert!(text.contains(name.as_str()), "{lang}: {name}");
            assert!(page.contains(&name.replace('"', "&quot;")), "{lang} page: {name}");
        }
        for r in weak["ranking"].as_array().unwrap() {
            let fix =
                Fix::ALL.iter().find(|f| format!("{f:?}") == r["fix"].as_str().unwrap()).unwrap();
            let title = &t.fixes[fix].title;
            let title = if code == "zh" { &title.zh_cn } else { &title.en };
            assert!(text.contains(title.as_str()), "{lang}: {title}");
        }
        for r in ["verdict.yes", "loss_month", "best_change", "{", "}"] {
            assert!(!text.contains(r), "{lang}: {r} in {text}");
        }
        assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("<link"));
        assert!(
            page.contains(&format!("<html lang=\"{}\"", if code == "zh" { "zh-CN" } else { "en" }))
        );
    }
}

#[test]
fn a_misspelt_answer_is_located_with_the_valid_answers_in_the_owners_language() {
    let scratch = Scratch::new();
    let dir = scratch.dir();
    let p = dir.join("bad.ron");
    std::fs::write(&p, "Shop(\n    name: \"X\",\n    readers_inspected: Dayly,\n)\n").unwrap();
    let out = possim(&["assess", p.to_str().unwrap(), "--lang", "zh-CN"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bad.ron:3:24: 无法识别的回答 `Dayly`（问题 `readers_inspected`）"),
        "{err}"
    );
    assert!(
        err.contains("`Daily`")
            && err.contains("EveryShift, Daily, Weekly, Monthly, Never, Unknown"),
        "{err}"
    );
    std::fs::write(&p, "Shop(\n    pin_pad_shielded: Maybe,\n)\n").unwrap();
    let out = possim(&["assess", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.ron:2:23: unknown answer `Maybe` to `pin_pad_shielded`"), "{err}");
    assert!(err.contains("valid answers: Yes, No, Unknown"), "{err}");
    std::fs::write(&p, "Shop(\n    readers_inspect: Daily,\n)\n").unwrap();
    let err = String::from_utf8(possim(&["assess", p.to_str().unwrap()]).stderr).unwrap();
    assert!(err.contains("bad.ron:2:5: unknown question `readers_inspect`"), "{err}");
    assert!(err.contains("did you mean `readers_inspected`?"), "{err}");
}

#[test]
fn a_profile_that_contradicts_itself_is_explained_not_resolved() {
    let scratch = Scratch::new();
    let dir = scratch.dir();
    let p = dir.join("c.ron");
    let cases = [
        (
            "Shop(\n    contactless: No,\n    contactless_limit: \"300.00\",\n)\n",
            "c.ron:3:5: a no-PIN limit for taps is given, but `contactless` says the shop takes no tapped cards",
        ),
        (
            "Shop(\n    magstripe: No,\n    fallback: Yes,\n)\n",
            "c.ron:3:5: `fallback: Yes` means swiping a chip card",
        ),
        (
            "Shop(\n    refunds_by: Nobody,\n    refund_check: OriginalSale,\n)\n",
            "c.ron:3:5: a refund check is given, but `refunds_by: Nobody`",
        ),
        (
            "Shop(\n    chip: No,\n    contactless: No,\n    magstripe: No,\n)\n",
            "c.ron:4:5: the shop takes no chip, tapped or swiped cards",
        ),
        ("Shop(\n    terminals: 0,\n)\n", "c.ron:2:5: `terminals` is a number from 1 to 20"),
    ];
    for (text, want) in cases {
        std::fs::write(&p, text).unwrap();
        let out = possim(&["assess", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(want), "{err}");
    }
    let out = possim(&["assess", "no/such/profile.ron"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn the_questionnaire_writes_a_profile_that_assesses() {
    let scratch = Scratch::new();
    let dir = scratch.dir();
    let p = dir.join("mine.ron");
    let _ = std::fs::remove_file(&p);
    // name, currency (skip), terminals, customers, average, then choices
    // by number (a wrong one is asked again), Enter for "I don't know".
    let answers = "Noodle Bar\n\n1\n80\n32.50\n3\n3\n1\n9\n2\n1\n2\n\n2\n1\n2\n2\n2\n1\n2\n\n1\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args([
            "assess",
            "--interactive",
            p.to_str().unwrap(),
            "--lang",
            "zh-CN",
            "--seeds",
            "1",
            "--days",
            "7",
            "-q",
        ])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(answers.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("终端是从哪里来的？"), "asked in Chinese: {err}");
    assert!(err.contains("不是可选的回答"), "a wrong answer is asked again: {err}");
    let written = std::fs::read_to_string(&p).unwrap();
    let profile =
        Profile::parse(&written, "mine.ron", Lang::En).unwrap_or_else(|d| panic!("{d}\n{written}"));
    assert_eq!(profile.name, "Noodle Bar");
    assert_eq!(profile.customers_per_day, Some(80));
    assert_eq!(format!("{:?}", profile.terminal_from), "Marketplace");
    assert_eq!(format!("{:?}", profile.contactless), "No");
    assert_eq!(profile.contactless_limit, None, "not asked when taps are off");
    assert_eq!(format!("{:?}", profile.pin_pad_shielded), "Unknown");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Noodle Bar：刷卡收款安全吗？"), "{text}");
    assert!(text.contains("pin_pad_shielded"), "the unanswered question is listed: {text}");
    // It never overwrites a profile.
    let again = possim(&["assess", "--interactive", p.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn detail_writes_the_scenario_and_journal_behind_each_figure() {
    let scratch = Scratch::new();
    let dir = scratch.dir();
    let assessment = dir.join("assess.json");
    let out = possim(&[
        "assess",
        "examples/shop-weak.ron",
        "--seeds",
        "1",
        "--days",
        "7",
        "-q",
        "--detail",
        dir.to_str().unwrap(),
        "--json",
        assessment.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let scenario = dir.join("insider_refund.ron");
    let shown = format!("rerun: possim run {} --seed 1", scenario.display());
    assert!(text.contains(&shown), "{text}");
    // The scenario written is the one measured: possim run gives the same loss.
    let json = dir.join("run.json");
    let run = possim(&[
        "run",
        scenario.to_str().unwrap(),
        "--seed",
        "1",
        "-q",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(run.status.code().is_some());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&assessment).unwrap()).unwrap();
    let measured = &attack(&v, "insider_refund")["runs"][0]["loss"];
    assert_eq!(report["fraud_loss"], *measured);
    assert!(cents(measured) > 0);
    assert_eq!(v["evidence"]["insider_refund"]["seed"], 1);
    let journal = std::fs::read_to_string(dir.join("insider_refund.jsonl")).unwrap();
    assert!(journal.lines().any(|l| l.contains("\"kind\":\"insider_refund\"")));
    assert!(journal.lines().any(|l| l.contains("\"kind\":\"frame_sent\"")));
    // The alert event named is the journal's own.
    let event = v["evidence"]["insider_refund"]["alert_event"].as_u64().unwrap();
    let shown = format!("alert at event #{event}");
    assert!(text.contains(&shown), "{text}");
    let line = journal.lines().find(|l| l.starts_with(&format!("{{\"seq\":{event},"))).unwrap();
    assert!(line.contains("\"kind\":\"alert\""), "{line}");
}
