//! The trainer view, looked at: screenshots of two scenarios at two
//! moments in both languages, taken under Xvfb with software rendering.
//! Each must exist and not be blank, the moments must differ, and the
//! Chinese labels must be drawn with CJK glyphs where the English ones are
//! Latin letters. The window needs a binary built with `--features gui`:
//! `.ci/run` builds one and names it in `POSSIM_GUI_BIN`; without it (or
//! without `xvfb-run`) the test says so and checks nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Scratch, root};

/// A grey image: (width, height, luma per pixel).
struct Grey {
    w: usize,
    h: usize,
    px: Vec<u8>,
    colours: usize,
}

fn load(path: &Path) -> Grey {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let step = info.color_type.samples();
    let mut colours = std::collections::BTreeSet::new();
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|c| {
            colours.insert((c[0], c[1 % step], c[2 % step]));
            ((u32::from(c[0]) * 3 + u32::from(c[1 % step]) * 6 + u32::from(c[2 % step])) / 10) as u8
        })
        .collect();
    Grey { w, h, px, colours: colours.len() }
}

/// The share of each text line's ink that lies in its top third, and in
/// its middle third, for the labels in a region: Latin lower case keeps
/// most of its ink below the ascenders; CJK glyphs fill the whole square;
/// the hollow box of a missing glyph has little ink in its middle.
fn ink_shares(g: &Grey, x0: usize, x1: usize, y0: usize, y1: usize) -> (f64, f64) {
    let ink = |x: usize, y: usize| g.px[y * g.w + x] > 110;
    let rows: Vec<usize> = (y0..y1).map(|y| (x0..x1).filter(|&x| ink(x, y)).count()).collect();
    let mut lines: Vec<Vec<usize>> = Vec::new();
    let mut cur = Vec::new();
    for (i, &r) in rows.iter().enumerate() {
        if r > 0 {
            cur.push(i);
        } else if !cur.is_empty() {
            lines.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    let shares: Vec<(f64, f64)> = lines
        .iter()
        .filter(|l| l.len() >= 6)
        .map(|l| {
            let total = l.iter().map(|&i| rows[i]).sum::<usize>().max(1) as f64;
            let third = l.len() / 3;
            let top: usize = l[..third].iter().map(|&i| rows[i]).sum();
            let middle: usize = l[third..2 * third].iter().map(|&i| rows[i]).sum();
            (top as f64 / total, middle as f64 / total)
        })
        .collect();
    assert!(!shares.is_empty(), "no text lines found");
    let n = shares.len() as f64;
    (shares.iter().map(|s| s.0).sum::<f64>() / n, shares.iter().map(|s| s.1).sum::<f64>() / n)
}

fn shoot(scenario: &str, at: &str, lang: &str, out: &Path) -> bool {
    shoot_with(scenario, at, lang, out, &[])
}

fn shoot_with(scenario: &str, at: &str, lang: &str, out: &Path, extra: &[&str]) -> bool {
    let bin = std::env::var("POSSIM_GUI_BIN").unwrap_or_default();
    let status = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(root().join(bin))
        .args(["gui", scenario, "--lang", lang, "--screenshot"])
        .arg(out)
        .args(["--at", at])
        .args(extra)
        .current_dir(root())
        .status();
    match status {
        Ok(s) => {
            assert!(s.success(), "possim gui {scenario} --at {at} --lang {lang}: {s}");
            true
        }
        Err(_) => false,
    }
}

#[test]
fn screenshots_are_drawn_differ_by_moment_and_speak_chinese_in_cjk() {
    if std::env::var_os("POSSIM_GUI_BIN").is_none() {
        eprintln!(
            "POSSIM_GUI_BIN is not set (a possim built with --features gui): the trainer view's screenshots were not checked"
        );
        return;
    }
    if Command::new("xvfb-run").arg("--help").output().is_err() {
        eprintln!("xvfb-run is not installed: the trainer view's screenshots were not checked");
        return;
    }
    let dir: PathBuf = root().join("target").join("gui-shots");
    std::fs::create_dir_all(&dir).unwrap();
    for scenario in ["scenarios/skimmer-magstripe.ron", "scenarios/mitm-amount-tamper.ron"] {
        let stem = Path::new(scenario).file_stem().unwrap().to_string_lossy().into_owned();
        let mut shots = std::collections::BTreeMap::new();
        for at in ["1h30m", "7h"] {
            for lang in ["en", "zh-CN"] {
                let out = dir.join(format!("{stem}-{at}-{lang}.png"));
                let _ = std::fs::remove_file(&out);
                assert!(shoot(scenario, at, lang, &out));
                let g = load(&out);
                assert_eq!((g.w, g.h), (1280, 800), "{}", out.display());
                // Not blank: many colours, and a good share of the window
                // is not the background.
                let lit = g.px.iter().filter(|&&p| p > 60).count();
                assert!(g.colours > 50, "{}: {} colours", out.display(), g.colours);
                assert!(lit * 20 > g.px.len(), "{}: {lit} lit pixels", out.display());
                shots.insert((at, lang), g);
            }
        }
        for lang in ["en", "zh-CN"] {
            let (a, b) = (&shots[&("1h30m", lang)], &shots[&("7h", lang)]);
            let changed = a.px.iter().zip(&b.px).filter(|(x, y)| x.abs_diff(**y) > 30).count();
            assert!(
                changed > 2000,
                "{stem} {lang}: only {changed} pixels differ between 1h30m and 7h"
            );
        }
        for at in ["1h30m", "7h"] {
            // The counters' labels, right panel: "approved", "declined", ...
            // against their Chinese labels.
            let (en, _) = ink_shares(&shots[&(at, "en")], 912, 1052, 28, 146);
            let (zh, zh_middle) = ink_shares(&shots[&(at, "zh-CN")], 912, 1052, 28, 146);
            eprintln!(
                "{stem} {at}: label ink in the top third: en {en:.2}, zh-CN {zh:.2}; zh-CN in the middle third {zh_middle:.2}"
            );
            assert!(
                zh > en + 0.08 && zh_middle > 0.25,
                "{stem} {at}: top-third ink {zh:.2} (zh-CN) against {en:.2} (en), middle {zh_middle:.2}: CJK glyphs fill the square"
            );
        }
    }
}

/// Pixels that differ clearly between two shots of one size, inside a region.
fn changed(a: &Grey, b: &Grey, x0: usize, x1: usize, y0: usize, y1: usize) -> usize {
    (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| y * a.w + x))
        .filter(|&i| a.px[i].abs_diff(b.px[i]) > 30)
        .count()
}

/// The comparison, the inspector and the exercises, drawn at the same
/// moment as the plain view: each must change the part of the window it
/// lives in (the numbers' third column, the inspector over the floor, the
/// exercise card) and leave a window that is not blank.
#[test]
fn the_comparison_the_inspector_and_the_exercises_are_drawn() {
    if std::env::var_os("POSSIM_GUI_BIN").is_none()
        || Command::new("xvfb-run").arg("--help").output().is_err()
    {
        eprintln!("POSSIM_GUI_BIN or xvfb-run missing: the trainer view's panels were not checked");
        return;
    }
    let dir: PathBuf = root().join("target").join("gui-shots");
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = "scenarios/insider-refund.ron";
    let mut shots = std::collections::BTreeMap::new();
    for (name, extra) in [
        ("plain", &[][..]),
        ("compare", &["--compare", "refund_sale"][..]),
        ("inspect", &["--inspect-last"][..]),
        ("stop", &["--exercise", "stop", "--compare", "refund_sale"][..]),
        ("spot", &["--exercise", "spot"][..]),
    ] {
        let out = dir.join(format!("insider-refund-6h-{name}.png"));
        let _ = std::fs::remove_file(&out);
        assert!(shoot_with(scenario, "6h", "en", &out, extra), "{name}");
        let g = load(&out);
        assert_eq!((g.w, g.h), (1280, 800));
        assert!(g.colours > 50, "{name}: {} colours", g.colours);
        shots.insert(name, g);
    }
    let plain = &shots["plain"];
    // The third column of numbers, at the right edge of the right panel.
    let c = changed(plain, &shots["compare"], 1090, 1270, 30, 200);
    assert!(c > 500, "the comparison's column: {c} pixels changed");
    // The inspector opens over the left of the floor.
    let c = changed(plain, &shots["inspect"], 240, 740, 80, 400);
    assert!(c > 3000, "the inspector: {c} pixels changed");
    // The exercise card, over the floor's top left.
    for name in ["stop", "spot"] {
        let c = changed(plain, &shots[name], 250, 540, 45, 180);
        assert!(c > 1500, "the {name} exercise card: {c} pixels changed");
    }
}

#[test]
fn a_bad_scenario_opens_no_window_and_no_display_names_xvfb_run() {
    let Some(bin) = std::env::var_os("POSSIM_GUI_BIN") else {
        eprintln!("POSSIM_GUI_BIN is not set: the trainer view's errors were not checked");
        return;
    };
    let scratch = Scratch::new();
    let dir = scratch.dir();
    let bad = dir.join("bad.ron");
    std::fs::write(&bad, "Scenario(\n    name: \"x\",\n    durtion: \"8h\",\n)\n").unwrap();
    let out = Command::new(root().join(&bin))
        .args(["gui"])
        .arg(&bad)
        .env("DISPLAY", ":99")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.ron:3:5: unknown field `durtion`"), "the same error as check: {err}");
    let out = Command::new(root().join(&bin))
        .args(["gui", "scenarios/baseline.ron"])
        .current_dir(root())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("xvfb-run -a possim gui"), "{err}");
    // A display that is named but not there: the same, not a backtrace.
    let out = Command::new(root().join(&bin))
        .args(["gui", "scenarios/baseline.ron"])
        .current_dir(root())
        .env("DISPLAY", ":87")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(":87") && err.contains("xvfb-run -a possim gui"), "{err}");
}
