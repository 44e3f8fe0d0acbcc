//! JUnit XML: one test suite per scenario, one test case per expectation,
//! the evidence as the failure message (what CI systems show).

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::RunReport;

/// JUnit XML for a set of runs.
pub fn junit_xml(runs: &[RunReport]) -> String {
    let mut report = Report::new("possim");
    for run in runs {
        let mut suite = TestSuite::new(format!("{} ({})", run.scenario, run.file));
        for e in &run.expectations {
            let status = if e.passed {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(e.evidence.clone());
                s.set_description(format!(
                    "{}\nevents: {:?}\nreplay: possim run {} --seed {}",
                    e.evidence, e.events, run.file, run.seed
                ));
                s
            };
            let mut case = TestCase::new(e.expectation.clone(), status);
            case.set_classname(run.file.clone());
            if e.passed {
                case.set_system_out(e.evidence.clone());
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_default()
}
