//! The lessons scenarios point at (`lesson: "skimming"`), in English and
//! Simplified Chinese: what happened, why it worked or failed, what a small
//! shop does about it. They are data (`assets/lessons.ron`), compiled in so
//! the binary carries them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// A language lessons are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Lang {
    /// Reads "en" or "zh-CN" (as `--lang` takes it).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Self::En),
            "zh-CN" | "zh-cn" | "zh" => Some(Self::ZhCn),
            _ => None,
        }
    }
}

/// One lesson in one language.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    /// A short title.
    pub title: String,
    /// What happened in the scenario.
    pub happened: String,
    /// Why it worked or failed.
    pub why: String,
    /// What a small shop does about it.
    pub defend: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Translations {
    en: Lesson,
    #[serde(rename = "zh_CN")]
    zh_cn: Lesson,
}

const LESSONS: &str = include_str!("../assets/lessons.ron");

fn all() -> &'static BTreeMap<String, Translations> {
    static ALL: OnceLock<BTreeMap<String, Translations>> = OnceLock::new();
    // The file is part of the build and a test parses it: it cannot fail here
    // unless the test fails too.
    ALL.get_or_init(|| ron::from_str(LESSONS).unwrap_or_default())
}

/// The lesson `key` in `lang`, if there is one.
pub fn lesson(key: &str, lang: Lang) -> Option<&'static Lesson> {
    all().get(key).map(|t| match lang {
        Lang::En => &t.en,
        Lang::ZhCn => &t.zh_cn,
    })
}

/// Every lesson key.
pub fn keys() -> impl Iterator<Item = &'static str> {
    all().keys().map(String::as_str)
}

/// The lesson as a block of text for a terminal.
pub fn render(l: &Lesson, lang: Lang) -> String {
    let (head, h, w, d) = match lang {
        Lang::En => ("Lesson", "What happened", "Why", "What a shop does about it"),
        Lang::ZhCn => ("案例讲解", "发生了什么", "为什么", "店家该怎么做"),
    };
    format!("{head}: {}\n  {h}: {}\n  {w}: {}\n  {d}: {}\n", l.title, l.happened, l.why, l.defend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lessons_file_parses_and_every_lesson_has_both_languages() {
        let parsed: BTreeMap<String, Translations> =
            ron::from_str(LESSONS).expect("assets/lessons.ron parses");
        assert!(parsed.len() >= 5);
        for (k, t) in &parsed {
            for l in [&t.en, &t.zh_cn] {
                assert!(
                    !l.title.is_empty()
                        && !l.happened.is_empty()
                        && !l.why.is_empty()
                        && !l.defend.is_empty(),
                    "{k}"
                );
            }
            assert!(
                t.zh_cn.happened.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{k}"
            );
        }
    }
}
