//! JUnit XML: one test suite per scenario, one test case per expectation,
//! the evidence as the failure message (what CI systems show); the
//! invariants the scenario does not list as cases of their own, and how often
//! each fault and attack acted as properties.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::RunReport;

/// JUnit XML for a set of runs.
pub fn junit_xml(runs: &[RunReport]) -> String {
    junit_xml_with_errors(runs, &[])
}

/// JUnit XML for a set of runs and the runs (file, error) that could not
/// finish: each of those is a suite with one errored case.
pub fn junit_xml_with_errors(runs: &[RunReport], errors: &[(String, String)]) -> String {
    let mut report = Report::new("possim");
    for (file, error) in errors {
        let mut suite = TestSuite::new(file.clone());
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(error.clone());
        let mut case = TestCase::new("run", status);
        case.set_classname(file.clone());
        suite.add_test_case(case);
        report.add_test_suite(suite);
    }
    for run in runs {
        let mut suite = TestSuite::new(format!("{} ({})", run.scenario, run.file));
        for e in &run.expectations {
            let status = if e.passed {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(e.evidence.clone());
                s.set_description(format!(
                    "{}\nevents: {:?}\nreplay: {}",
                    e.evidence,
                    e.events,
                    run.replay_hint()
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
        // The invariants the scenario does not list: a violation is shown
        // (skipped, with the evidence), never passed, and fails nothing the
        // scenario did not ask for.
        for i in run.invariants.iter().filter(|i| !i.required) {
            let status = if i.held {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::skipped();
                s.set_message(if i.evaluated {
                    format!("VIOLATED (not required by this scenario): {}", i.evidence)
                } else {
                    i.evidence.clone()
                });
                s.set_description(format!(
                    "{}\nevents: {:?}\nreplay: {}",
                    i.evidence,
                    i.events,
                    run.replay_hint()
                ));
                s
            };
            let mut case = TestCase::new(format!("invariant {}", i.invariant), status);
            case.set_classname(run.file.clone());
            if i.held {
                case.set_system_out(i.evidence.clone());
            }
            suite.add_test_case(case);
        }
        for c in run.coverage.iter().filter(|c| c.present) {
            let name = match c.what {
                "attack" => format!("fired.attack.{}.{}", c.index, c.name),
                _ => format!("fired.{}.{}", c.what, c.name),
            };
            suite.add_property(Property::new(name, c.fired.to_string()));
        }
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_default()
}
