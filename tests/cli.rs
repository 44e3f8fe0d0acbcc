//! Runs the `possim` binary as a user would and checks exit codes, stdout
//! and the exact error lines (these are API).

use std::process::{Command, Output};

use possim::protocol::iso8583::Spec;

use crate::util::{Scratch, possim, root, s, vector};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn purchase_hex() -> String {
    s(&vector("iso8583_ascii.json")["messages"][0], "encoded").to_string()
}

#[test]
fn inspect_json_gives_the_vector_fields_and_valid_checks() {
    let out = possim(&[
        "inspect",
        "--keys",
        "tests/vectors/keys.json",
        "--json",
        "--reveal",
        &purchase_hex(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let expected = &vector("iso8583_ascii.json")["messages"][0]["fields"];
    assert_eq!(v["mti"], expected["t"]);
    for (k, val) in expected.as_object().unwrap() {
        if k != "t" {
            assert_eq!(&v["fields"][k], val, "field {k}");
        }
    }
    assert_eq!(v["fields"].as_object().unwrap().len(), expected.as_object().unwrap().len() - 1);
    assert_eq!(
        v["checks"],
        serde_json::json!({"mac": "valid", "pin": "valid", "arqc": "valid", "cvv": "valid"})
    );
}

#[test]
fn inspect_json_masks_card_data_unless_revealed() {
    let out = possim(&["inspect", "--json", &purchase_hex()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = &vector("iso8583_ascii.json")["messages"][0]["fields"];
    // The vector carries its PAN in track 2 (field 35) only.
    let track = expected["35"].as_str().unwrap();
    let (pan, secrets) = track.split_once('=').unwrap();
    assert!(!text.contains(pan), "the full PAN is in the JSON: {text}");
    assert!(!text.contains(secrets), "track 2's secrets are in the JSON: {text}");
    let masked = format!("{}{}{}", &pan[..6], "*".repeat(pan.len() - 10), &pan[pan.len() - 4..]);
    let stars = "*".repeat(secrets.len());
    assert_eq!(v["fields"]["35"], format!("{masked}={stars}").as_str());
    // The chip's own copies of the PAN (5A) and track 2 (57) are masked too.
    for tag in ["5A", "57"] {
        if let Some(t) = v["icc"][tag].as_str() {
            assert!(t.contains('*') && !t.contains(pan), "tag {tag}: {t}");
        }
    }
    // A frame whose chip data carries the PAN (5A) and track 2 (57): field
    // 55's raw hex would hold them, so it is not printed either.
    let spec = Spec::iso87_ascii();
    let mut m = spec.decode(&hex::decode(purchase_hex()).unwrap()).unwrap();
    let bcd = hex::decode(format!("{pan}F")).unwrap_or_else(|_| hex::decode(pan).unwrap());
    let mut icc = m.get(55).unwrap().to_vec();
    icc.extend([0x5A, bcd.len() as u8]);
    icc.extend(&bcd);
    let mut t2 = format!("{pan}D{secrets}");
    if t2.len() % 2 == 1 {
        t2.push('F');
    }
    let t2 = hex::decode(t2).unwrap();
    icc.extend([0x57, t2.len() as u8]);
    icc.extend(&t2);
    m.set(55, icc);
    let framed = hex::encode_upper(spec.encode(&m).unwrap());
    let out = possim(&["inspect", "--json", &framed]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(pan), "the full PAN is in the JSON: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["fields"]["55"].as_str().unwrap().contains("see icc"), "{v}");
    for tag in ["5A", "57"] {
        let t = v["icc"][tag].as_str().unwrap();
        assert!(t.contains('*'), "tag {tag}: {t}");
    }
    let out = possim(&["inspect", "--json", "--reveal", &framed]);
    assert!(stdout(&out).contains(pan), "--reveal shows it whole");
    // --reveal is for --json only.
    let out = possim(&["inspect", "--reveal", &purchase_hex()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn inspect_without_keys_reports_unchecked_and_absent() {
    let resp = s(&vector("iso8583_ascii.json")["messages"][1], "encoded").to_string();
    let out = possim(&["inspect", "--json", &resp]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["checks"],
        serde_json::json!({"mac": "unchecked", "pin": "absent", "arqc": "absent", "cvv": "absent"})
    );
}

#[test]
fn inspect_human_view_masks_the_pan() {
    let out = possim(&["inspect", &purchase_hex()]);
    let text = stdout(&out);
    assert!(text.contains("407366******8123"), "{text}");
    assert!(!text.contains("4073662585178123"), "full PAN leaked:\n{text}");
    assert!(text.contains("9F26   Application Cryptogram"), "{text}");
}

#[test]
fn inspect_detects_a_tampered_amount() {
    let hex = purchase_hex().replacen("303030303030303431393135", "303030303030393431393135", 1);
    let out = possim(&["inspect", "--keys", "tests/vectors/keys.json", "--json", &hex]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["fields"]["4"], "000000941915");
    assert_eq!(v["checks"]["mac"], "invalid");
}

#[test]
fn inspect_reads_framed_binary_files() {
    let scratch = Scratch::new();
    let dir = scratch.dir();
    let wire = hex::decode(s(&vector("iso8583_binary.json")["messages"][0], "encoded")).unwrap();
    let framed = possim::protocol::iso8583::frame(&wire).unwrap();
    let path = dir.join("frame.bin");
    std::fs::write(&path, framed).unwrap();
    let out = possim(&[
        "inspect",
        "--spec",
        "iso87-binary",
        "--framed",
        "--file",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("MTI 0200  financial request  (iso87-binary, 246 bytes)"));
}

#[test]
fn inspect_garbage_exits_2_naming_the_element_and_offset() {
    let out = possim(&["inspect", "30323030414243"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "possim: iso87-ascii: primary bitmap at byte 4: needs 16 bytes, only 3 left\n"
    );

    let bad_amount =
        purchase_hex().replacen("303030303030303431393135", "303030303030303431395831", 1);
    let out = possim(&["inspect", &bad_amount]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "possim: iso87-ascii: field 4 (Amount, Transaction) at byte 26: byte 0x58 at offset 36 is not digits\n"
    );

    let out = possim(&["inspect", "not hex"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "possim: input is not hex: Invalid character 'n' at position 0\n");
}

#[test]
fn inspect_suggests_the_right_dialect_and_framing() {
    let bin = s(&vector("iso8583_binary.json")["messages"][0], "encoded").to_string();
    let out = possim(&["inspect", &bin]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).ends_with("(it decodes under iso87-binary: try --spec iso87-binary)\n"),
        "{}",
        stderr(&out)
    );
    let out = possim(&["inspect", &format!("0166{}", purchase_hex())]);
    assert!(
        stderr(&out).ends_with("(the first two bytes look like a length header: try --framed)\n")
    );
}

#[test]
fn inspect_rejects_a_key_file_with_a_wrong_check_value() {
    let scratch = Scratch::new();
    let dir = scratch.dir();
    let path = dir.join("keys.ron");
    std::fs::write(&path, r#"{"tak": "D5E9AB314C4997F8E07FD9F1806497DA", "kcv": {"tak": "1234"}}"#)
        .unwrap();
    let out = possim(&["inspect", "--keys", path.to_str().unwrap(), &purchase_hex()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("key tak has check value 9E611D, the file says 1234"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn spec_prints_a_dialect_that_loads_back() {
    let out = possim(&["spec", "iso87-binary"]);
    assert_eq!(out.status.code(), Some(0));
    let scratch = Scratch::new();
    let dir = scratch.dir();
    let path = dir.join("mine.ron");
    std::fs::write(&path, stdout(&out)).unwrap();
    let bin = s(&vector("iso8583_binary.json")["messages"][0], "encoded").to_string();
    let out = possim(&["inspect", "--spec", path.to_str().unwrap(), "--json", &bin]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The text of the first fenced block after `marker` in the README.
fn readme_block(marker: &str) -> String {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let at = readme.find(marker).unwrap_or_else(|| panic!("README lost `{marker}`"));
    let rest = &readme[at..];
    let open = rest.find("```").unwrap();
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

#[test]
fn the_readme_quick_start_prints_what_the_readme_shows() {
    let out = possim(&["run", "scenarios/baseline.ron"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = stdout(&out);
    let shown = readme_block("whether every expectation held:");
    assert!(shown.starts_with("Baseline trading day"), "{shown}");
    for line in shown.lines() {
        // Lines the README shortens with "..." are not quoted whole.
        if line.contains("...") || line.trim().is_empty() {
            continue;
        }
        assert!(printed.contains(line), "README shows `{line}`; possim printed:\n{printed}");
    }
}

#[test]
fn the_readme_scenario_runs_and_passes() {
    let scratch = Scratch::new();
    let text = readme_block("A scenario is one RON file");
    assert!(text.starts_with("Scenario("), "{text}");
    let file = scratch.path("readme-scenario.ron");
    std::fs::write(&file, text).unwrap();
    let out = possim(&["run", file.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    // The README says every seed from 1 to 300 passes (measured with a
    // release build); the first hundred here, to keep the suite quick.
    let out = possim(&["sweep", file.to_str().unwrap(), "--seeds", "1..100", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn a_file_that_will_not_load_is_an_error_in_json_and_junit_and_nothing_runs() {
    let scratch = Scratch::new();
    let (json, junit) = (scratch.path("unloaded.json"), scratch.path("unloaded.xml"));
    let missing = scratch.path("no-such-scenario.ron");
    let out = possim(&[
        "run",
        "scenarios/baseline.ron",
        missing.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = v.as_array().unwrap();
    assert_eq!(runs.len(), 1, "only the file that would not load: {v}");
    assert_eq!(runs[0]["passed"], false);
    assert!(runs[0]["error"].as_str().unwrap().contains("cannot read"), "{v}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("errors=\"1\"") && xml.contains("no-such-scenario.ron"), "{xml}");
    // An invalid scenario is exit 2, and recorded the same way.
    let bad = scratch.path("unloaded-bad.ron");
    std::fs::write(&bad, "Scenario(name: \"x\", sede: 1)").unwrap();
    let out = possim(&["run", bad.to_str().unwrap(), "--junit", junit.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("unloaded-bad.ron") && xml.contains("sede"), "{xml}");
}

#[test]
fn run_baseline_passes_and_writes_journal_json_and_junit() {
    let scratch = Scratch::new();
    let (journal, json, junit) =
        (scratch.path("base.jsonl"), scratch.path("base.json"), scratch.path("base.xml"));
    let out = possim(&[
        "run",
        "scenarios/baseline.ron",
        "--journal",
        journal.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("result: PASS (6/6 expectations)"), "{text}");
    assert!(text.contains("PASS NoDoubleCharge"), "{text}");
    let first = std::fs::read_to_string(&journal).unwrap();
    assert!(first.lines().next().unwrap().contains("\"kind\":\"run_started\""));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["expectations"].as_array().unwrap().len(), 6);
    let xml = std::fs::read_to_string(&junit).unwrap();
    // Six expectations, and the one invariant the scenario does not list.
    assert_eq!(xml.matches("<testcase ").count(), 7, "{xml}");
    assert!(xml.contains("invariant LossesAccounted"), "{xml}");
    assert!(!xml.contains("<failure"));
}

/// A scenario whose one expectation fails, with seed 9.
const TOO_STRICT: &str =
    "Scenario(name: \"too strict\", duration: \"1h\", seed: 9, expect: [Never(Approved)])";

#[test]
fn a_failed_expectation_exits_1_and_says_how_to_replay() {
    let scratch = Scratch::new();
    let path = scratch.path("fail.ron");
    std::fs::write(&path, TOO_STRICT).unwrap();
    let junit = scratch.path("fail.xml");
    let out = possim(&["run", path.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("FAIL Never(Approved)"), "{text}");
    assert!(
        text.contains(&format!("replay with: possim run {} --seed 9", path.display())),
        "{text}"
    );
    assert!(std::fs::read_to_string(&junit).unwrap().contains("<failure"));
}

#[test]
fn the_replay_hint_pastes_back_into_a_shell_for_a_file_name_with_spaces_and_quotes() {
    let scratch = Scratch::new();
    let path = scratch.path("it's a $HOME test.ron");
    std::fs::write(&path, TOO_STRICT).unwrap();
    let out = possim(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let hint = text
        .lines()
        .find_map(|l| l.split("replay with: ").nth(1))
        .unwrap_or_else(|| panic!("no replay hint in {text}"));
    // The hint, pasted into a shell as a user would (with the binary under
    // test for `possim`), runs the same file and fails the same way.
    let command = hint.replacen("possim", env!("CARGO_BIN_EXE_possim"), 1);
    let again = Command::new("sh").args(["-c", &command]).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "{command}: {}", stderr(&again));
    assert!(stdout(&again).contains("FAIL Never(Approved)"), "{}", stdout(&again));
}

#[test]
fn an_invalid_scenario_exits_2_with_the_position_and_a_suggestion() {
    let scratch = Scratch::new();
    let path = scratch.path("typo.ron");
    std::fs::write(&path, "Scenario(\n    name: \"typo\",\n    durtion: \"8h\",\n)\n").unwrap();
    for cmd in ["run", "check"] {
        let out = possim(&[cmd, path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!(
                "possim: {}:3:5: unknown field `durtion` in Scenario\n",
                path.display()
            )),
            "{err}"
        );
        assert!(err.contains("3 |     durtion: \"8h\","), "{err}");
        assert!(err.contains("= did you mean `duration`?"), "{err}");
    }
}

#[test]
fn a_missing_scenario_file_exits_3() {
    let out = possim(&["run", "no/such/file.ron"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).starts_with("possim: cannot read no/such/file.ron:"), "{}", stderr(&out));
}

#[test]
fn check_accepts_every_scenario_in_the_catalogue() {
    let files: Vec<String> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| format!("scenarios/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|f| f.ends_with(".ron"))
        .collect();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let out = possim(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches(": ok: ").count(), files.len());
}

#[test]
fn several_scenarios_run_in_parallel_with_a_journal_each() {
    let scratch = Scratch::new();
    let dir = scratch.path("journals");
    let short = scratch.path("short.ron");
    std::fs::write(&short, "Scenario(name: \"short\", duration: \"2h\", expect: [LedgerBalanced])")
        .unwrap();
    let json = scratch.path("many.json");
    let out = possim(&[
        "run",
        "scenarios/baseline.ron",
        short.to_str().unwrap(),
        "--journal",
        dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.join("baseline.jsonl").exists() && dir.join("short.jsonl").exists());
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 2);
    assert!(stdout(&out).is_empty(), "--quiet prints only failures");
}

#[test]
fn the_seed_flag_changes_the_day_and_is_reported() {
    let scratch = Scratch::new();
    let json = scratch.path("seed.json");
    let out = possim(&[
        "run",
        "scenarios/baseline.ron",
        "--seed",
        "1234",
        "--json",
        json.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["seed"], 1234);
}

#[test]
fn hostile_scenarios_are_refused_with_a_position_not_run() {
    let scratch = Scratch::new();
    let cases: [(&str, &str); 6] = [
        (
            "Scenario(name: \"x\", traffic: (per_hour: 1e300))",
            "`per_hour` must be more than 0 and at most 36000",
        ),
        (
            "Scenario(name: \"x\", shop: (terminals: [(id: \"ABCD\", count: 10000)]))",
            "`count` is at most 9999",
        ),
        ("Scenario(name: \"x\", start: \"2026-02-30\")", "expected a date like"),
        (
            "Scenario(name: \"x\", cardholders: (cards: [(pan: \"4073662585178123\", pin: \"1234\", expiry: \"2613\")]))",
            "`expiry` is YYMM with a month from 01 to 12",
        ),
        (
            "Scenario(name: \"x\", cardholders: (balance: \"-5.00\"))",
            "a balance cannot be negative",
        ),
        (
            "Scenario(name: \"x\", links: [(id: \"uplink\", bandwidth: 0)])",
            "`bandwidth` must be more than 0",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = scratch.path(&format!("hostile{i}.ron"));
        std::fs::write(&path, text).unwrap();
        let out = possim(&["run", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{text}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(want) && err.contains(&format!("{}:1:", path.display())),
            "{text}\n{err}"
        );
    }
    let path = scratch.path("latin1.ron");
    std::fs::write(&path, b"Scenario(\n  name: \"caf\xe9\",\n)").unwrap();
    let out = possim(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("{}:2:13: not UTF-8", path.display())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_dialect_file_is_found_next_to_the_scenario() {
    let scratch = Scratch::new();
    let dir = scratch.path("dialects");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let dialect = possim(&["spec", "iso87-binary"]);
    std::fs::write(dir.join("sub/mine.ron"), stdout(&dialect)).unwrap();
    std::fs::write(
        dir.join("sub/s.ron"),
        "Scenario(name: \"own dialect\", duration: \"1h\", dialect: \"mine.ron\")",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["check", dir.join("sub/s.ron").to_str().unwrap()])
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = possim(&["spec", "no/such/dialect.ron"]);
    assert_eq!(out.status.code(), Some(3), "an unreadable dialect is an I/O failure");
}

#[test]
fn html_report_decodes_frames_with_the_scenarios_own_dialect_file() {
    let scratch = Scratch::new();
    let dir = scratch.path("html-dialect");
    std::fs::create_dir_all(&dir).unwrap();
    // The built-in ASCII layout under another name: found by its file, not its name.
    let spec = stdout(&possim(&["spec", "iso87-ascii"]));
    assert!(spec.contains("name: \"iso87-ascii\""), "{spec}");
    std::fs::write(
        dir.join("shop.ron"),
        spec.replace("name: \"iso87-ascii\"", "name: \"shopdialect\""),
    )
    .unwrap();
    std::fs::write(
        dir.join("s.ron"),
        "Scenario(name: \"own dialect\", seed: 2, duration: \"20m\", dialect: \"shop.ron\", traffic: (per_hour: 30))",
    )
    .unwrap();
    let (html, journal) = (dir.join("s.html"), dir.join("s.jsonl"));
    let out = possim(&[
        "run",
        dir.join("s.ron").to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "-q",
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<details><summary>") && page.contains("MTI 0200"), "frames decoded");
    assert!(!page.contains("frames are not decoded"));
    // Replayed where the dialect file is gone: the page says why frames are not decoded.
    std::fs::remove_file(dir.join("shop.ron")).unwrap();
    let again = dir.join("again.html");
    let out =
        possim(&["replay", journal.to_str().unwrap(), "--html", again.to_str().unwrap(), "-q"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let page = std::fs::read_to_string(&again).unwrap();
    assert!(page.contains("frames are not decoded"), "the page says why");
}

#[test]
fn outputs_never_overwrite_an_input_or_each_other() {
    let scratch = Scratch::new();
    let file = scratch.path("clobber.ron");
    std::fs::write(&file, "Scenario(name: \"c\", duration: \"10m\")").unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    let out = possim(&["run", file.to_str().unwrap(), "--json", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before, "the scenario is untouched");
    let j = scratch.path("clobber.out");
    let out = possim(&[
        "run",
        file.to_str().unwrap(),
        "--journal",
        j.to_str().unwrap(),
        "--html",
        j.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--journal and --html both name"), "{}", stderr(&out));
    // Devices may be named as often as wanted.
    let out = possim(&[
        "run",
        file.to_str().unwrap(),
        "--json",
        "/dev/null",
        "--junit",
        "/dev/null",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn sweep_passes_a_sound_scenario_over_many_seeds_and_writes_junit() {
    let scratch = Scratch::new();
    let junit = scratch.path("sweep.xml");
    let out = possim(&[
        "sweep",
        "scenarios/chaos-resend.ron",
        "--seeds",
        "1..4",
        "--jobs",
        "2",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("sweep: 4 runs (1 file(s), seeds 1..4), 4 passed, 0 failed"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert!(!xml.contains("<failure"));
}

#[test]
fn sweep_lists_each_failing_seed_with_the_line_that_replays_it_and_shards_merge() {
    let scratch = Scratch::new();
    // A terminal with the resend-as-new bug double-charges under loss.
    let text = r#"Scenario(name: "buggy", duration: "1h",
        shop: (terminals: [(id: "T", count: 2, on_timeout: ResendNewStan)]),
        links: [(faults: [Loss(p: (0.2, 0.4), direction: Down, mti: "0210")])],
        traffic: (per_hour: 60), expect: [NoDoubleCharge])"#;
    let file = scratch.path("buggy.ron");
    std::fs::write(&file, text).unwrap();
    let f = file.to_str().unwrap();
    let (a, b) = (scratch.path("shard1.json"), scratch.path("shard2.json"));
    let one =
        possim(&["sweep", f, "--seeds", "1..6", "--shard", "1/2", "--json", a.to_str().unwrap()]);
    assert_eq!(one.status.code(), Some(1), "{}", stderr(&one));
    let text1 = stdout(&one);
    assert!(text1.contains(&format!("replay: possim run {f} --seed 1")), "{text1}");
    assert!(!text1.contains("seed 2\n"), "seed 2 belongs to shard 2/2: {text1}");
    let two =
        possim(&["sweep", f, "--seeds", "1..6", "--shard", "2/2", "--json", b.to_str().unwrap()]);
    assert_eq!(two.status.code(), Some(1));
    // Replaying a failing seed with `run` fails the same way.
    let replay = possim(&["run", f, "--seed", "1"]);
    assert_eq!(replay.status.code(), Some(1), "{}", stdout(&replay));
    let merged = scratch.path("merged.json");
    let m = possim(&[
        "sweep",
        "--merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--json",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(m.status.code(), Some(1), "{}", stderr(&m));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    assert_eq!(v["runs"], 6);
    let seeds: Vec<u64> =
        v["results"].as_array().unwrap().iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, vec![1, 2, 3, 4, 5, 6], "merged in order");
    // One shard alone is not the whole sweep.
    let partial = possim(&["sweep", "--merge", a.to_str().unwrap()]);
    assert_eq!(partial.status.code(), Some(2));
    assert!(stderr(&partial).contains("shards missing: 2/2"), "{}", stderr(&partial));
}

#[test]
fn sweep_refuses_an_invalid_scenario_and_bad_shards_before_running_anything() {
    let scratch = Scratch::new();
    let bad = scratch.path("bad.ron");
    std::fs::write(&bad, r#"Scenario(name: "x", links: [(faults: [Loss(p: 1.5)])])"#).unwrap();
    let out = possim(&["sweep", "scenarios/baseline.ron", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("between 0.0 and 1.0"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("sweep:"), "nothing ran");
    for shard in ["3/2", "0/0", "1/0", "x"] {
        let out = possim(&["sweep", "scenarios/baseline.ron", "--shard", shard]);
        assert_eq!(out.status.code(), Some(2), "{shard}");
        assert!(stderr(&out).contains("a shard is I/N"), "{shard}: {}", stderr(&out));
    }
    let out = possim(&["sweep", "scenarios/baseline.ron", "--seeds", "9..3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is empty"));
}

#[test]
fn issue_8_a_run_that_cannot_write_its_journal_fails_every_output_and_leaves_no_partial_journal() {
    let scratch = Scratch::new();
    // See: issue 8, 5d. /dev/full accepts the open and fails every write.
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let (json, junit) = (scratch.path("io.json"), scratch.path("io.xml"));
    let out = possim(&[
        "run",
        "scenarios/baseline.ron",
        "--journal",
        "/dev/full",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("writing journal /dev/full"), "{}", stderr(&out));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["passed"], false, "{v}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<error"), "{xml}");
    // Only a regular file cut short is removed; the device stays.
    assert!(std::path::Path::new("/dev/full").exists());
}

#[test]
fn issue_8_a_dialect_that_is_a_device_is_refused_at_once() {
    let scratch = Scratch::new();
    // See: issue 8, 4d: /dev/zero used to be read without limit.
    let s = scratch.path("zero.ron");
    std::fs::write(&s, r#"Scenario(name: "x", dialect: "/dev/zero")"#).unwrap();
    let out = possim(&["check", s.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "a file that cannot be read is I/O: {}", stderr(&out));
    assert!(stderr(&out).contains("not a regular file"), "{}", stderr(&out));
    let out = possim(&["inspect", "--file", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn issue_8_a_fifo_named_as_a_scenario_is_refused_without_hanging() {
    let scratch = Scratch::new();
    // See: issue 8, 4d: opening a FIFO for reading waits for a writer.
    let fifo = scratch.path("scenario.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return;
    }
    let out = possim(&["check", fifo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("not a regular file"), "{}", stderr(&out));
}

#[test]
fn list_of_examples_shows_its_scenarios_and_names_the_other_files() {
    let scratch = Scratch::new();
    let out = possim(&["list", "examples"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("host.ron") && text.contains("gui-20-terminals.ron"), "{text}");
    assert!(text.contains("not scenarios: purchase-and-reversal.ron (Script)"), "{text}");
    // A misspelt scenario is still an error, not skipped as another kind.
    let dir = scratch.path("list-misspelt");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("x.ron"), "Scenaro(name: \"x\")").unwrap();
    let out = possim(&["list", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}

#[test]
fn list_prints_the_catalogue_with_lesson_titles_in_both_languages() {
    let out = possim(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let files: Vec<_> = std::fs::read_dir(root().join("scenarios")).unwrap().collect();
    assert_eq!(text.lines().count(), files.len(), "one line per file: {text}");
    assert!(
        text.contains("skimmer-magstripe.ron") && text.contains("A skimmer on the card reader")
    );
    let zh = stdout(&possim(&["list", "--lang", "zh-CN"]));
    assert!(zh.contains("读卡器上的侧录器"), "{zh}");
    let json: serde_json::Value =
        serde_json::from_slice(&possim(&["list", "--json"]).stdout).unwrap();
    let skim = json.as_array().unwrap().iter().find(|r| r["lesson"] == "skimming").unwrap();
    assert_eq!(skim["attacks"], serde_json::json!(["skimmer", "cash_out"]));
    let bad = possim(&["list", "--lang", "fr"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_failing_attack_scenario_prints_its_lesson_after_the_summary() {
    let scratch = Scratch::new();
    let text = std::fs::read_to_string(root().join("scenarios/skimmer-magstripe.ron"))
        .unwrap()
        .replace("RefuseFallbackForChipCards,", "");
    let path = scratch.path("skim-off.ron");
    std::fs::write(&path, text).unwrap();
    let out = possim(&["run", path.to_str().unwrap(), "--lang", "zh-CN"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let shown = stdout(&out);
    let summary_end = shown.find("result: FAIL").expect("a failing summary");
    let lesson = shown.find("案例讲解: 读卡器上的侧录器").expect("the lesson in Chinese");
    assert!(lesson > summary_end, "{shown}");
    assert!(shown.contains("店家该怎么做"));
    // A passing run keeps quiet about it unless asked.
    let pass = stdout(&possim(&["run", "scenarios/skimmer-magstripe.ron"]));
    assert!(!pass.contains("Lesson:"), "{pass}");
    let asked = stdout(&possim(&["run", "scenarios/skimmer-magstripe.ron", "--lesson"]));
    assert!(asked.contains("Lesson: A skimmer on the card reader"), "{asked}");
}

fn binary_purchase_hex() -> String {
    s(&vector("iso8583_binary.json")["messages"][0], "encoded").to_string()
}

#[test]
fn inspect_detect_finds_the_framing_and_dialect_of_a_capture() {
    let ascii = crate::util::unhex(&purchase_hex());
    let binary = crate::util::unhex(&binary_purchase_hex());
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // PROTOCOL.md §1: 2-byte big-endian length, the ASCII dialect.
        (
            [&(ascii.len() as u16).to_be_bytes()[..], &ascii].concat(),
            "2-byte big-endian length, no TPDU, iso87-ascii",
        ),
        // 4 ASCII digits, a TPDU, the binary dialect.
        (
            [format!("{:04}", binary.len() + 5).as_bytes(), &[0x60, 0, 1, 0, 0], &binary].concat(),
            "4 ASCII digits length, TPDU, iso87-binary",
        ),
        // Little-endian, no TPDU.
        (
            [&(binary.len() as u16).to_le_bytes()[..], &binary].concat(),
            "2-byte little-endian length, no TPDU, iso87-binary",
        ),
        // Bare.
        (ascii.clone(), "no length header, no TPDU, iso87-ascii"),
    ];
    for (bytes, want) in cases {
        let out = possim(&["inspect", "--detect", &hex::encode(&bytes)]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{want}: {text}{}", stderr(&out));
        let clean = text.split("does not:").next().unwrap();
        assert!(clean.contains(want), "{want}: {text}");
        assert!(clean.contains("MTI 0200"), "{text}");
        // Each combination that fails says where.
        assert!(text.contains("announces") || text.contains("not digits"), "{text}");
    }
}

#[test]
fn inspect_detect_on_garbage_says_where_each_combination_fails_and_exits_2() {
    let out = possim(&["inspect", "--detect", "--json", "0102030405060708090a"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let attempts = v["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 16, "4 headers x TPDU or not x 2 dialects");
    assert!(attempts.iter().all(|a| a["failure"].as_str().is_some_and(|f| !f.is_empty())), "{v}");
}

#[test]
fn diff_names_the_first_event_where_two_journals_part_field_by_field() {
    let scratch = Scratch::new();
    let (a, b, c) =
        (scratch.path("diff-a.jsonl"), scratch.path("diff-b.jsonl"), scratch.path("diff-c.jsonl"));
    let short = scratch.path("diff.ron");
    std::fs::write(
        &short,
        "Scenario(name: \"short\", seed: 3, duration: \"1h\", traffic: (per_hour: 30))",
    )
    .unwrap();
    for j in [&a, &b] {
        let out = possim(&["run", short.to_str().unwrap(), "--journal", j.to_str().unwrap(), "-q"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    // Same scenario, same seed: the same journal.
    let same = possim(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0));
    assert!(stdout(&same).starts_with("the same: "), "{}", stdout(&same));
    // The same scenario from another path is the same run.
    let (moved, d) = (scratch.path("diff-moved.ron"), scratch.path("diff-d.jsonl"));
    std::fs::copy(&short, &moved).unwrap();
    let out = possim(&["run", moved.to_str().unwrap(), "--journal", d.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let same = possim(&["diff", a.to_str().unwrap(), d.to_str().unwrap()]);
    assert!(stdout(&same).starts_with("the same: "), "{}", stdout(&same));
    // Another expectation: named inside run_started's monitor setup.
    let base = std::fs::read_to_string(&short).unwrap();
    let base = base.trim_end().trim_end_matches(')');
    std::fs::write(&moved, format!("{base}), expect: [NoDoubleCharge])")).unwrap();
    let out = possim(&["run", moved.to_str().unwrap(), "--journal", d.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let other = stdout(&possim(&["diff", a.to_str().unwrap(), d.to_str().unwrap()]));
    assert!(other.contains("they part at line 1") && other.contains("monitor.expect:"), "{other}");
    // One purchase request with another amount: named, with its field.
    let text = std::fs::read_to_string(&a).unwrap();
    let mut changed = false;
    let edited: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if !changed && v["kind"] == "frame_sent" && v["mti"] == "0200" {
                let mut m = Spec::iso87_ascii()
                    .decode(&crate::util::unhex(v["bytes"].as_str().unwrap()))
                    .unwrap();
                m.set(4, "000000009999");
                v["bytes"] = hex::encode_upper(Spec::iso87_ascii().encode(&m).unwrap()).into();
                changed = true;
            }
            v.to_string()
        })
        .collect();
    std::fs::write(&c, edited.join("\n") + "\n").unwrap();
    let out = possim(&["diff", a.to_str().unwrap(), c.to_str().unwrap()]);
    let t = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("frame_sent")
            && t.contains("field 4 (Amount, Transaction):")
            && t.contains("-> 000000009999"),
        "{t}"
    );
    assert!(!t.contains("4073"), "no card numbers, no frame hex: {t}");
    // A journal cut short: B ended.
    std::fs::write(&c, text.lines().take(5).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let out = possim(&["diff", a.to_str().unwrap(), c.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Differ"]["line"], 6);
    assert!(v["Differ"]["b"].is_null());
    // A hand-edited line: its file and line, exit 2.
    std::fs::write(&c, text.lines().take(3).collect::<Vec<_>>().join("\n") + "\n{not json\n")
        .unwrap();
    let out = possim(&["diff", a.to_str().unwrap(), c.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("{}:4:", c.display())), "{}", stderr(&out));
}

/// TCP payloads in a pcap (one per delivered frame), and the Ethernet
/// packets in all.
pub(crate) fn pcap_payloads(bytes: &[u8]) -> (Vec<Vec<u8>>, usize) {
    assert_eq!(&bytes[..4], &0xa1b2_c3d4u32.to_le_bytes(), "pcap magic");
    let (mut at, mut payloads, mut packets) = (24, Vec::new(), 0);
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let p = &bytes[at + 16..at + 16 + len];
        packets += 1;
        let tcp = &p[14 + 20..];
        let data = &tcp[usize::from(tcp[12] >> 4) * 4..];
        if !data.is_empty() {
            payloads.push(data.to_vec());
        }
        at += 16 + len;
    }
    assert_eq!(at, bytes.len(), "whole records");
    (payloads, packets)
}

#[test]
fn run_pcap_holds_every_delivered_frame_as_it_arrived_and_wireshark_decodes_it() {
    let scratch = Scratch::new();
    let (pcap, json) = (scratch.path("faulty.pcap"), scratch.path("faulty.json"));
    let text = "Scenario(name: \"faulty\", seed: 9, duration: \"2h\", traffic: (per_hour: 60),
        links: [(id: \"uplink\", faults: [Loss(p: 0.05), Duplicate(p: 0.05), Corrupt(p: 0.03)])])";
    let file = scratch.path("faulty.ron");
    std::fs::write(&file, text).unwrap();
    let out = possim(&[
        "run",
        file.to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "-q",
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (payloads, packets) = pcap_payloads(&std::fs::read(&pcap).unwrap());
    // Lost frames are absent, duplicates there twice: one payload per delivery.
    assert_eq!(payloads.len() as u64, report["counts"]["frames_delivered"].as_u64().unwrap());
    assert!(
        report["faults"]["loss"].as_u64().unwrap() > 0
            && report["faults"]["duplicate"].as_u64().unwrap() > 0
    );
    // Each payload is one framed message (PROTOCOL.md §1); some were corrupted on the way.
    let spec = Spec::iso87_ascii();
    let undecodable = payloads
        .iter()
        .filter(|p| {
            let n = usize::from(u16::from_be_bytes([p[0], p[1]]));
            assert_eq!(n + 2, p.len());
            spec.decode(&p[2..]).is_err()
        })
        .count();
    assert!(packets > payloads.len(), "handshakes too");
    assert!(undecodable > 0, "the corrupted frames appear as they travelled");
    // Wireshark's dissector, where tshark is installed.
    let tshark = Command::new("tshark").arg("-v").output();
    if !tshark.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped the tshark check: tshark is not installed");
        return;
    }
    let clean = scratch.path("clean.pcap");
    let out = possim(&["run", "scenarios/baseline.ron", "--pcap", clean.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let decoded = Command::new("tshark")
        .args([
            "-r",
            clean.to_str().unwrap(),
            "-d",
            "tcp.port==8583,iso8583",
            "-o",
            "iso8583.len_endian:Big endian",
            "-V",
        ])
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&decoded.stdout);
    let messages = v.matches("ISO 8583-1:").count();
    let (clean_payloads, _) = pcap_payloads(&std::fs::read(&clean).unwrap());
    assert_eq!(messages, clean_payloads.len(), "every message decoded");
    assert!(v.contains("MTI: 0200") && v.contains("MTI: 0210") && v.contains("Bit 41: TERM0001"));
    assert!(!v.contains("Malformed"), "no malformed packets");
}

#[test]
fn a_pcap_that_cannot_be_written_fails_before_the_run_with_exit_3() {
    let out =
        possim(&["run", "scenarios/bench-million.ron", "--pcap", "/no/such/dir/x.pcap", "-q"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("cannot write pcap /no/such/dir/x.pcap"), "{}", stderr(&out));
}

#[test]
fn a_sweep_writes_a_pcap_for_each_failing_seed() {
    let scratch = Scratch::new();
    let dir = scratch.path("sweep-pcaps");
    let _ = std::fs::remove_dir_all(&dir);
    let file = scratch.path("lossy.ron");
    std::fs::write(
        &file,
        "Scenario(name: \"lossy\", duration: \"1h\", traffic: (per_hour: 30),
            links: [(id: \"uplink\", faults: [Loss(p: 0.6)])], expect: [Never(Timeout)])",
    )
    .unwrap();
    let out = possim(&[
        "sweep",
        file.to_str().unwrap(),
        "--seeds",
        "1..3",
        "--pcap",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    for seed in 1..=3 {
        let p = dir.join(format!("lossy-seed{seed}.pcap"));
        let (payloads, _) = pcap_payloads(&std::fs::read(&p).unwrap());
        assert!(!payloads.is_empty(), "{}", p.display());
    }
}

#[test]
fn replay_rebuilds_the_runs_own_reports_from_the_journal_and_names_a_wrong_line() {
    let scratch = Scratch::new();
    let (journal, json, junit) = (
        scratch.path("replay.jsonl"),
        scratch.path("replay-run.json"),
        scratch.path("replay-run.xml"),
    );
    let (json2, junit2) = (scratch.path("replay-again.json"), scratch.path("replay-again.xml"));
    let file = crate::util::root().join("scenarios/packet-loss-double-charge.ron");
    let out = possim(&[
        "run",
        file.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let run_summary = stdout(&out);
    // Elsewhere, without the scenario file: the journal carries it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["replay", journal.to_str().unwrap(), "--json", json2.to_str().unwrap()])
        .args(["--junit", junit2.to_str().unwrap()])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(run_summary.starts_with(&stdout(&out)), "{}\n---\n{}", run_summary, stdout(&out));
    assert_eq!(std::fs::read(&json).unwrap(), std::fs::read(&json2).unwrap());
    assert_eq!(std::fs::read(&junit).unwrap(), std::fs::read(&junit2).unwrap());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json2).unwrap()).unwrap();
    assert_eq!(report["invariants"].as_array().unwrap().len(), 4, "{report}");
    assert_eq!(report["coverage"][0]["name"], "loss");
    assert!(report["coverage"][0]["fired"].as_u64().unwrap() > 0);

    let text = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let bad = scratch.path("replay-bad.jsonl");
    let expect_line = |content: String, line: usize, what: &str| {
        std::fs::write(&bad, content).unwrap();
        let out = possim(&["replay", bad.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let e = stderr(&out);
        assert!(e.contains(&format!("{}:{line}: ", bad.display())) && e.contains(what), "{e}");
    };
    // Cut in the middle of a line, and cleanly between two.
    let cut = &text[..text.len() / 2];
    expect_line(cut.to_string(), cut.matches('\n').count() + 1, "not a journal event");
    let mut half = text.lines().take(300).collect::<Vec<_>>().join("\n");
    half.push('\n');
    expect_line(half, 300, "before run_finished");
    // An alert edited, an alert deleted, a decision that no longer raises its alert.
    let at = lines.iter().position(|l| l.contains("\"kind\":\"alert\"")).unwrap();
    let mut edited = lines.clone();
    let changed = lines[at].replace("\"detail\":\"", "\"detail\":\"X");
    edited[at] = &changed;
    expect_line(edited.join("\n") + "\n", at + 1, "raise the alert Duplicates (3 duplicate");
    let mut deleted = lines.clone();
    deleted.remove(at);
    expect_line(deleted.join("\n") + "\n", at + 1, "where event");
    expect_line("{\"seq\":1}\n".into(), 1, "not a journal event");
    // A journal of another version of possim (a field it lacks): said so.
    let old = lines[0].replace("\"mode\":\"run\",", "");
    assert_ne!(old, lines[0]);
    expect_line(old.clone() + "\n", 1, "another version of possim");
    // Past the first line, no such hint.
    let mut twice = lines.clone();
    twice[1] = &old;
    let out = {
        std::fs::write(&bad, twice.join("\n") + "\n").unwrap();
        possim(&["replay", bad.to_str().unwrap()])
    };
    assert!(
        stderr(&out).contains(":2: ") && !stderr(&out).contains("another version"),
        "{}",
        stderr(&out)
    );
    // A receipt turned from approved to declined: well-formed, but not what
    // the run wrote. The digest on the last line says so.
    let at = lines.iter().position(|l| l.contains("\"outcome\":\"approved\"")).unwrap();
    let mut edited = lines.clone();
    let changed = lines[at].replace("\"outcome\":\"approved\"", "\"outcome\":\"declined\"");
    edited[at] = &changed;
    expect_line(edited.join("\n") + "\n", lines.len(), "changed after the run");
    // A settlement that says balanced with totals that differ: that line.
    let at = lines.iter().position(|l| l.contains("\"kind\":\"settlement\"")).unwrap();
    let mut edited = lines.clone();
    let changed = lines[at].replacen("\"purchases\":", "\"purchases\":1", 1);
    edited[at] = &changed;
    expect_line(edited.join("\n") + "\n", at + 1, "totals differ");
    // A ledger that says it does not balance when its two sides agree.
    let at = lines.iter().position(|l| l.contains("\"kind\":\"ledger\"")).unwrap();
    let mut edited = lines.clone();
    let changed = lines[at].replace("\"balanced\":true", "\"balanced\":false");
    assert_ne!(changed, lines[at]);
    edited[at] = &changed;
    expect_line(edited.join("\n") + "\n", at + 1, "ledger says balanced: false");
    // Its own output named as the journal: refused, the journal untouched.
    let out = possim(&["replay", journal.to_str().unwrap(), "--html", journal.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is an input of this command"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), text);
    // A journal that is not one leaves an earlier page as it was.
    let page = scratch.path("replay-page.html");
    std::fs::write(&page, "earlier").unwrap();
    let out = possim(&["replay", bad.to_str().unwrap(), "--html", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&page).unwrap(), "earlier");
    // A journal that cannot be read: exit 3.
    let out = possim(&["replay", scratch.path("no-such-journal.jsonl").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn html_report_is_self_contained_masked_linked_and_renders_in_headless_chromium() {
    let scratch = Scratch::new();
    let (html, journal, again) = (
        scratch.path("forged.html"),
        scratch.path("forged.jsonl"),
        scratch.path("forged-again.html"),
    );
    let file = crate::util::root().join("scenarios/mitm-forged-approval.ron");
    let out = possim(&[
        "run",
        file.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    // The replayed journal makes the same page.
    let out =
        possim(&["replay", journal.to_str().unwrap(), "--html", again.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(&again).unwrap() == page,
        "replay --html differs from run --html"
    );
    // Self-contained: no scripts, no fetches, nothing outside the file.
    for banned in ["<script", "src=", "<link", "@import", "url("] {
        assert!(!page.contains(banned), "{banned}");
    }
    assert_eq!(page.matches("http").count(), page.matches("http://www.w3.org/2000/svg").count());
    // The parts a reader looks for.
    for part in [
        "<svg id=timeline",
        "lang=en",
        "lang=zh-CN",
        "id=expectations",
        "id=invariants",
        "id=terminals",
        "id=events",
        "<details><summary>",
        "mitm_inject (TERM0001, TERM0002)",
    ] {
        assert!(page.contains(part), "{part}");
    }
    // Every link to an event lands on a listed event.
    let ids: std::collections::BTreeSet<&str> =
        page.split("<tr id=").skip(1).filter_map(|s| s.split('>').next()).collect();
    let links: Vec<&str> =
        page.split("href='#").skip(1).filter_map(|s| s.split('\'').next()).collect();
    assert!(links.len() > 10, "{}", links.len());
    for l in &links {
        assert!(ids.contains(l), "dead link #{l}");
    }
    // Card data masked in every decoded frame: track 2 and the PAN field.
    for line in page.lines().filter(|l| l.starts_with("   2  ") || l.starts_with("  35  ")) {
        assert!(line.contains("******"), "{line}");
    }
    // A forged approval is drawn as a loss.
    assert!(page.contains("of goods on a forged approval"));
    // The terminals' table counts purchases as the report does: a PIN retry
    // completes a purchase again, and only its last outcome counts.
    let report = possim(&[
        "replay",
        journal.to_str().unwrap(),
        "--json",
        scratch.path("forged.json").to_str().unwrap(),
    ]);
    assert_eq!(report.status.code(), Some(0));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.path("forged.json")).unwrap())
            .unwrap();
    let cell = |row: &str, k: usize| -> u64 {
        row.split("<td class=n>").nth(k).and_then(|c| c.split('<').next()).unwrap().parse().unwrap()
    };
    let rows: Vec<&str> = page.lines().filter(|l| l.starts_with("<tr><td>TERM")).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let sum = |k: usize| rows.iter().map(|r| cell(r, k)).sum::<u64>();
    assert_eq!(sum(1), report["counts"]["purchases"].as_u64().unwrap());
    assert_eq!(sum(3), report["counts"]["declined"].as_u64().unwrap());
    assert!(report["counts"]["attempts"].as_u64() > report["counts"]["purchases"].as_u64());

    // Headless Chromium: the timeline is in the DOM and the console is silent.
    let Ok(chromium) = std::process::Command::new("chromium")
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr"])
        .args(["--v=0", "--dump-dom", &format!("file://{}", html.display())])
        .output()
    else {
        eprintln!(
            "skipped the Chromium check: chromium is not installed (apt-get install chromium)"
        );
        return;
    };
    let dom = String::from_utf8_lossy(&chromium.stdout);
    let log = String::from_utf8_lossy(&chromium.stderr);
    assert!(dom.contains("<svg id=\"timeline\""), "{log}");
    assert!(dom.contains("<rect"), "the timeline has bars");
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "{console:?}");
}

#[test]
fn html_report_escapes_what_the_scenario_says() {
    let scratch = Scratch::new();
    let (file, html) = (scratch.path("hostile-name.ron"), scratch.path("hostile-name.html"));
    std::fs::write(
        &file,
        "Scenario(name: \"<img src=x onerror=alert(1)> & co\", seed: 3, duration: \"20m\",
          traffic: (per_hour: 30), shop: (terminals: [(id: \"T<b>1\")]))",
    )
    .unwrap();
    let out = possim(&["run", file.to_str().unwrap(), "--html", html.to_str().unwrap(), "-q"]);
    let page = std::fs::read_to_string(&html).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert!(!page.contains("<img") && !page.contains("<b>1"), "unescaped text");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt; &amp; co"));
}
