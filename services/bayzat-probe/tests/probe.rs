//! The probe against the simulator: each answer the simulator can give where bayzat-api.md
//! marks the real service UNKNOWN, and the conclusion the probe draws from it. The simulator's
//! ledger and counters show what the probe really sent and created.

mod common;

use bayzat_probe::{
    run, Check, ContractVerdict, ProbeOptions, Report, SentPunch, Status, DUPLICATE_PATTERN,
    RATE_LIMIT_DELAY,
};
use bayzat_sim::{Contract, EmptyRecords, Faults, KeySpec, RetryAfterHeaders, RunningSim};
use common::*;
use regex::Regex;

fn status(report: &Report, check: Check) -> Status {
    report
        .finding(check)
        .unwrap_or_else(|| panic!("no {check:?} finding:\n{}", report.render()))
        .status
}

fn detail(report: &Report, check: Check) -> &str {
    &report.finding(check).unwrap().detail
}

fn punch(emp: &str, time: &str) -> SentPunch {
    SentPunch {
        emp_id: emp.to_owned(),
        kind: "checkIn".to_owned(),
        time: time.to_owned(),
    }
}

/// Every request the simulator saw, as the probe counts them: counted ones, 429s and 401s.
fn requests_seen(sim: &RunningSim) -> u32 {
    let stats = sim.stats();
    let per_key: u64 = stats
        .keys
        .values()
        .map(|k| k.requests + k.rate_limited)
        .sum();
    u32::try_from(per_key + stats.unauthorized).unwrap()
}

#[tokio::test]
async fn the_documented_contract_needs_nothing_and_costs_one_punch() {
    let sim = sim(vec![key(KEY), key(OTHER)]).await;
    let report = run(&options(&sim)).await;

    for check in [
        Check::EmptyRecords,
        Check::WrongKey,
        Check::RateLimit,
        Check::RetryAfter,
        Check::WaitAfter429,
        Check::Pace,
        Check::KeyScope,
        Check::Duplicate,
        Check::UnknownEmployee,
    ] {
        assert_eq!(status(&report, check), Status::Ok, "{}", report.render());
    }
    assert_eq!(report.verdict, ContractVerdict::Matches);
    assert_eq!(report.exit_code(), 0);
    assert!(report.configure.is_empty());
    assert!(detail(&report, Check::RetryAfter).contains("Retry-After-Ms"));

    // One punch, the one the report names, and nothing else.
    assert_eq!(report.punches_created, vec![punch(EMP, TIME)]);
    assert!(report.punches_uncertain.is_empty());
    let ledger = sim.ledger(KEY).unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (
            ledger[0].emp_id.as_str(),
            ledger[0].kind.as_str(),
            ledger[0].time.as_str()
        ),
        (EMP, "checkIn", TIME)
    );
    assert!(sim.ledger(OTHER).unwrap().is_empty());

    let stats = sim.stats();
    let k = &stats.keys[KEY];
    assert_eq!(k.rate_limited, 1, "one 429, provoked on purpose");
    assert_eq!(k.bad_requests_by_reason["duplicate"], 1);
    assert_eq!(k.bad_requests_by_reason["unknown_employee"], 1);
    assert_eq!(stats.unauthorized, 1, "one made-up key");
    assert_eq!(report.requests, requests_seen(&sim));
    assert!(report
        .render()
        .contains("Punches created: 1 (empId 1001 checkIn at"));
    sim.stop().await;
}

#[tokio::test]
async fn without_an_employee_or_second_key_nothing_is_created_and_that_is_said() {
    let sim = sim(vec![key(KEY)]).await;
    let mut o = options(&sim);
    o.employee = None;
    o.second_key = None;
    let report = run(&o).await;

    assert_eq!(status(&report, Check::Duplicate), Status::NotChecked);
    assert!(detail(&report, Check::Duplicate).contains("--employee"));
    assert_eq!(status(&report, Check::KeyScope), Status::NotChecked);
    assert!(detail(&report, Check::KeyScope).contains("--second-key"));
    // The unknown-employee refusal needs no employee of the sandbox.
    assert_eq!(status(&report, Check::UnknownEmployee), Status::Ok);
    assert_eq!(report.exit_code(), 0);
    assert!(report.punches_created.is_empty());
    assert!(sim.ledger(KEY).unwrap().is_empty());
    assert!(report.render().contains("Punches created: 0."));
    assert_eq!(report.requests, requests_seen(&sim));
    sim.stop().await;
}

#[tokio::test]
async fn a_duplicate_worded_otherwise_needs_a_pattern_and_the_proposed_one_works() {
    let sim = sim_answering(Contract {
        no_reason: true,
        duplicate_message: Some("Attendance for {empId} at {time} was submitted before".into()),
        ..Contract::default()
    })
    .await;
    let report = run(&options(&sim)).await;
    assert_eq!(
        status(&report, Check::Duplicate),
        Status::Configure,
        "{}",
        report.render()
    );
    assert_eq!(report.verdict, ContractVerdict::NeedsConfiguration);
    assert_eq!(report.exit_code(), 1);
    let proposal = &report.setting(DUPLICATE_PATTERN).unwrap().value;
    assert!(report.render().contains(DUPLICATE_PATTERN));

    // Judged again with the proposed pattern (and a time not used yet), the contract matches.
    let mut o = options(&sim);
    o.time = time("2026-03-01 08:05:00");
    o.assumptions.duplicate_pattern = Regex::new(proposal).unwrap();
    let again = run(&o).await;
    assert_eq!(
        status(&again, Check::Duplicate),
        Status::Ok,
        "{}",
        again.render()
    );
    // Without a reason, the unknown employee is still recognised by the message's wording.
    assert_eq!(status(&again, Check::UnknownEmployee), Status::Ok);
    assert_eq!(again.exit_code(), 0, "{}", again.render());
    assert_eq!(sim.ledger(KEY).unwrap().len(), 2, "one punch per run");
    sim.stop().await;
}

#[tokio::test]
async fn a_pattern_that_also_matches_other_refusals_is_replaced() {
    let sim = sim_answering(Contract {
        no_reason: true,
        ..Contract::default()
    })
    .await;
    let mut o = options(&sim);
    // Matches the duplicate refusal ("duplicate punch: empId …") and the unknown employee's.
    o.assumptions.duplicate_pattern = pattern("(?i)empid");
    let report = run(&o).await;
    assert_eq!(status(&report, Check::Duplicate), Status::Ok);
    assert_eq!(
        status(&report, Check::UnknownEmployee),
        Status::Configure,
        "{}",
        report.render()
    );
    assert_eq!(report.exit_code(), 1);
    let proposal = pattern(&report.setting(DUPLICATE_PATTERN).unwrap().value);
    assert!(!proposal.is_match(detail(&report, Check::UnknownEmployee)));

    let mut o = options(&sim);
    o.time = time("2026-03-01 08:05:00");
    o.assumptions.duplicate_pattern = proposal;
    let again = run(&o).await;
    assert_eq!(status(&again, Check::Duplicate), Status::Ok);
    assert_eq!(
        status(&again, Check::UnknownEmployee),
        Status::Ok,
        "{}",
        again.render()
    );
    assert_eq!(again.exit_code(), 0);
    sim.stop().await;
}

#[tokio::test]
async fn a_429_without_retry_after_ms_is_coped_with() {
    let seconds_only = async {
        let sim = sim_answering(Contract {
            retry_after: RetryAfterHeaders::Seconds,
            ..Contract::default()
        })
        .await;
        let report = run(&options(&sim)).await;
        sim.stop().await;
        report
    };
    let neither = async {
        let sim = sim_answering(Contract {
            retry_after: RetryAfterHeaders::None,
            ..Contract::default()
        })
        .await;
        let report = run(&options(&sim)).await;
        sim.stop().await;
        report
    };
    let (seconds_only, neither) = tokio::join!(seconds_only, neither);

    assert_eq!(status(&seconds_only, Check::RetryAfter), Status::Differs);
    assert!(detail(&seconds_only, Check::RetryAfter).contains("Retry-After: 1"));
    assert_eq!(status(&neither, Check::RetryAfter), Status::Differs);
    assert!(detail(&neither, Check::RetryAfter).contains("neither"));
    for report in [&seconds_only, &neither] {
        // sync-service's wait after a 429 (the header's, or its own interval) is long enough.
        assert_eq!(
            status(report, Check::WaitAfter429),
            Status::Ok,
            "{}",
            report.render()
        );
        assert_eq!(status(report, Check::Pace), Status::Ok);
        assert_eq!(report.exit_code(), 0, "{}", report.render());
    }
}

#[tokio::test]
async fn a_longer_window_needs_a_longer_delay_and_the_proposed_one_holds() {
    // Twice the configured delay: with Retry-After-Ms the window is read from it; without
    // either header the probe searches for it.
    let window_ms = 2 * WINDOW_MS;
    let probe = |headers| async move {
        let sim = sim(vec![key(KEY).with_interval_ms(window_ms)]).await;
        sim.set_contract(
            KEY,
            Contract {
                retry_after: headers,
                ..Contract::default()
            },
        );
        let mut o = options(&sim);
        o.second_key = None;
        let report = run(&o).await;
        let delay: f64 = report
            .setting(RATE_LIMIT_DELAY)
            .unwrap_or_else(|| panic!("no delay proposed:\n{}", report.render()))
            .value
            .parse()
            .unwrap();

        let mut o = options(&sim);
        o.second_key = None;
        o.time = time("2026-03-01 08:05:00");
        o.assumptions.rate_limit_delay = std::time::Duration::from_secs_f64(delay);
        let again = run(&o).await;
        sim.stop().await;
        (report, delay, again)
    };
    let (exact, searched) = tokio::join!(
        probe(RetryAfterHeaders::Both),
        probe(RetryAfterHeaders::None)
    );
    let window = window_ms as f64 / 1000.0;
    for (report, delay, again) in [&exact, &searched] {
        assert_eq!(status(report, Check::Pace), Status::Configure);
        assert_eq!(report.exit_code(), 1);
        // Measured from the probe's side, so within the jitter the margin is there for.
        assert!(
            *delay >= window - 0.05 && *delay <= window * 1.4,
            "{delay}\n{}",
            report.render()
        );
        assert_eq!(status(again, Check::Pace), Status::Ok, "{}", again.render());
        assert_eq!(again.exit_code(), 0, "{}", again.render());
    }
}

#[tokio::test]
async fn a_limit_shared_across_keys_needs_the_delay_multiplied() {
    let sim = sim_answering(Contract {
        shared_rate_limit: true,
        ..Contract::default()
    })
    .await;
    let report = run(&options(&sim)).await;
    assert_eq!(
        status(&report, Check::KeyScope),
        Status::Configure,
        "{}",
        report.render()
    );
    let setting = report.setting(RATE_LIMIT_DELAY).unwrap();
    assert_eq!(setting.value, "0.3 × the number of companies");
    assert_eq!(report.exit_code(), 1);
    // The probe's own pacing kept the other checks clean.
    assert_eq!(status(&report, Check::Pace), Status::Ok);
    assert_eq!(status(&report, Check::Duplicate), Status::Ok);
    assert_eq!(sim.stats().keys[OTHER].rate_limited, 1);
    sim.stop().await;
}

#[tokio::test]
async fn the_answer_to_an_empty_request_decides_the_connection_test() {
    let refused = async {
        let sim = sim_answering(Contract {
            empty_records: EmptyRecords::Refuse,
            ..Contract::default()
        })
        .await;
        let mut o = options(&sim);
        o.employee = None;
        let report = run(&o).await;
        sim.stop().await;
        report
    };
    let failing = async {
        let sim = sim_answering(Contract {
            empty_records: EmptyRecords::ServerError,
            ..Contract::default()
        })
        .await;
        let mut o = options(&sim);
        o.employee = None;
        let report = run(&o).await;
        sim.stop().await;
        report
    };
    let (refused, failing) = tokio::join!(refused, failing);

    assert_eq!(status(&refused, Check::EmptyRecords), Status::Differs);
    assert!(detail(&refused, Check::EmptyRecords).starts_with("answered 400"));
    assert_eq!(refused.exit_code(), 0, "{}", refused.render());

    assert_eq!(
        status(&failing, Check::EmptyRecords),
        Status::Configure,
        "{}",
        failing.render()
    );
    assert_eq!(failing.setting("test_connection").unwrap().value, "false");
    assert_eq!(failing.exit_code(), 1);
    // The other checks still ran.
    assert_eq!(status(&failing, Check::Pace), Status::Ok);
}

#[tokio::test]
async fn a_duplicate_that_is_stored_again_cannot_be_configured_away() {
    let sim = sim_answering(Contract {
        accept_duplicates: true,
        ..Contract::default()
    })
    .await;
    let report = run(&options(&sim)).await;
    assert_eq!(status(&report, Check::Duplicate), Status::Unsupported);
    assert_eq!(report.verdict, ContractVerdict::Unsupported);
    assert_eq!(report.exit_code(), 3);
    assert_eq!(
        report.punches_created,
        vec![punch(EMP, TIME), punch(EMP, TIME)]
    );
    assert_eq!(sim.ledger(KEY).unwrap().len(), 2);
    sim.stop().await;
}

#[tokio::test]
async fn an_unknown_employee_that_is_accepted_cannot_be_configured_away() {
    let sim = sim(vec![key(KEY)]).await;
    let mut o = options(&sim);
    o.second_key = None;
    o.employee = None;
    // As a service that does not check empIds would: the key knows the probe's "unknown" one.
    sim.put_key(KeySpec::new(KEY, [o.unknown_employee.as_str()]).with_interval_ms(WINDOW_MS));
    let report = run(&o).await;
    assert_eq!(status(&report, Check::UnknownEmployee), Status::Unsupported);
    assert_eq!(report.exit_code(), 3);
    assert_eq!(report.punches_created.len(), 1);
    assert_eq!(sim.ledger(KEY).unwrap().len(), 1);
    sim.stop().await;
}

#[tokio::test]
async fn a_punch_without_a_usable_answer_is_reported_as_possibly_created() {
    let sim = sim(vec![key(KEY)]).await;
    sim.set_faults(
        KEY,
        Faults {
            p_accept_then_500: 1.0,
            ..Faults::default()
        },
    )
    .unwrap();
    let mut o = options(&sim);
    o.second_key = None;
    let report = run(&o).await;
    assert_eq!(status(&report, Check::Duplicate), Status::NotChecked);
    assert!(detail(&report, Check::Duplicate).contains("500"));
    assert!(report.punches_created.is_empty());
    assert_eq!(report.punches_uncertain, vec![punch(EMP, TIME)]);
    // It was stored: the report was right to say so.
    assert_eq!(sim.ledger(KEY).unwrap().len(), 1);
    assert!(report.render().contains("may have been created"));
    sim.stop().await;
}

#[tokio::test]
async fn a_service_that_cannot_be_probed_stops_the_probe() {
    let sim = sim(vec![key(KEY)]).await;

    let mut o = options(&sim);
    o.key = "not-a-sandbox-key".into();
    let wrong_key = run(&o).await;
    assert_eq!(wrong_key.verdict, ContractVerdict::NotProbed);
    assert_eq!(wrong_key.exit_code(), 4);
    assert!(wrong_key
        .stopped
        .as_deref()
        .unwrap()
        .contains("key was refused"));
    assert!(wrong_key.findings.is_empty());

    let mut o = options(&sim);
    o.api_url = format!("{}/not-attendance", sim.base_url());
    let wrong_path = run(&o).await;
    assert_eq!(wrong_path.exit_code(), 4);
    assert!(wrong_path.stopped.as_deref().unwrap().contains("404"));

    // Nothing reached a key, let alone its ledger.
    assert!(sim.ledger(KEY).unwrap().is_empty());
    assert_eq!(sim.stats().keys[KEY].requests, 0);
    let url = format!("{}/attendance", sim.base_url());
    sim.stop().await;

    let mut o = ProbeOptions::new(url, KEY);
    o.assumptions = assumptions();
    let unreachable = run(&o).await;
    assert_eq!(unreachable.exit_code(), 4);
    assert!(
        unreachable
            .stopped
            .as_deref()
            .unwrap()
            .contains("no answer"),
        "{:?}",
        unreachable.stopped
    );
    assert_eq!(unreachable.requests, 1);
}
