//! A simulated terminal against a small push server built on `clock-push`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDate;
use clock_push::{AttLogRecord, CommandId, DeviceCommand, Pin, PunchState, SerialNumber};
use clock_sim::{Terminal, TerminalConfig};
use common::{eventually, PushServer, UploadAnswer, WAIT};

fn pin(p: &str) -> Pin {
    Pin::parse(p).unwrap()
}

fn config(server: &PushServer, serial: &str) -> TerminalConfig {
    let mut c = TerminalConfig::new(SerialNumber::parse(serial).unwrap(), server.base_url());
    c.backoff_initial = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(100);
    c.heartbeat_interval = Duration::from_secs(3600);
    c.request_timeout = Duration::from_secs(5);
    c
}

fn wall(h: u32, m: u32, s: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap()
        .and_hms_opt(h, m, s)
        .unwrap()
}

/// Punches (PIN, hour) at 08:00 onward, one minute apart.
fn punches(n: usize) -> Vec<(Pin, chrono::NaiveDateTime, PunchState)> {
    (0..n)
        .map(|i| {
            let state = if i % 2 == 0 {
                PunchState::CheckIn
            } else {
                PunchState::CheckOut
            };
            (pin(&(i + 1).to_string()), wall(8, i as u32, 0), state)
        })
        .collect()
}

fn counts(records: &[AttLogRecord]) -> HashMap<AttLogRecord, usize> {
    let mut map = HashMap::new();
    for r in records {
        *map.entry(r.clone()).or_insert(0) += 1;
    }
    map
}

#[tokio::test]
async fn handshakes_then_uploads_in_batches() {
    let server = PushServer::start().await;
    let mut c = config(&server, "BATCH0001");
    c.batch_size = 3;
    let terminal = Terminal::spawn(c);
    let sent = terminal.punch_many(punches(7));

    eventually("all punches acknowledged", WAIT, || async {
        terminal.pending() == 0
    })
    .await;
    server.with(|s| assert_eq!(s.handshakes, vec!["BATCH0001"]));
    let sizes: Vec<usize> = server.with(|s| s.acked.iter().map(Vec::len).collect());
    assert_eq!(sizes, vec![3, 3, 1]);
    assert_eq!(server.acked_records(), sent);
    let stats = terminal.stats();
    assert_eq!(
        (stats.handshakes, stats.posts, stats.failed_posts),
        (1, 3, 0)
    );
    assert_eq!(stats.acknowledged, 7);
    // Every punch carries the start of the upload that first sent it and its acknowledgement.
    for p in terminal.log() {
        let first = p.first_post_ms.expect("posted");
        assert!(first >= p.punched_at_ms);
        assert!(p.acked_at_ms.expect("acknowledged") >= first);
    }
    terminal.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn refused_batches_are_sent_again_until_acknowledged() {
    let server = PushServer::start().await;
    server.refuse_next(2, UploadAnswer::Error);
    let mut c = config(&server, "RETRY0001");
    c.batch_size = 10;
    let terminal = Terminal::spawn(c);
    let sent = terminal.punch_many(punches(4));

    eventually("the batch acknowledged", WAIT, || async {
        terminal.pending() == 0
    })
    .await;
    // The same four lines went three times; only the last was acknowledged.
    let uploads = server.with(|s| s.uploads.clone());
    assert_eq!(uploads.len(), 3);
    assert!(uploads.iter().all(|u| *u == sent));
    assert_eq!(server.acked_records(), sent);
    assert_eq!(terminal.stats().failed_posts, 2);

    // An error status is no acknowledgement either.
    server.refuse_next(1, UploadAnswer::Unavailable);
    let more = terminal.punch_many(vec![(pin("99"), wall(12, 0, 0), PunchState::BreakOut)]);
    eventually("the second batch acknowledged", WAIT, || async {
        terminal.pending() == 0
    })
    .await;
    assert_eq!(server.with(|s| s.uploads.len()), 5);
    assert_eq!(server.acked_records()[4..], more[..]);
    assert_eq!(terminal.stats().failed_posts, 3);
    terminal.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn the_buffer_outlives_a_server_that_is_down_and_is_delivered_once() {
    let server = PushServer::start().await;
    let addr = server.addr;
    let seen = server.seen.clone();
    let mut c = config(&server, "DOWN00001");
    c.batch_size = 2;
    let terminal = Terminal::spawn(c);
    let before = terminal.punch_many(punches(3));
    eventually("the first punches acknowledged", WAIT, || async {
        terminal.pending() == 0
    })
    .await;

    server.stop().await;
    let during = terminal.punch_many(
        (0..5)
            .map(|i| (pin(&format!("5{i}")), wall(13, i, 0), PunchState::CheckOut))
            .collect::<Vec<_>>(),
    );
    eventually("uploads failing while the server is down", WAIT, || async {
        terminal.stats().failed_posts >= 3
    })
    .await;
    assert_eq!(terminal.pending(), 5);

    let server = PushServer::start_on(&addr.to_string(), seen).await;
    eventually("the buffer delivered", WAIT, || async {
        terminal.pending() == 0
    })
    .await;
    let mut all = before.clone();
    all.extend(during.clone());
    let received = server.acked_records();
    assert_eq!(received, all, "every punch once, in punch order");
    assert!(counts(&received).values().all(|&n| n == 1));
    // No upload reached the server while it was down: everything it saw, it acknowledged.
    server.with(|s| assert_eq!(s.uploads, s.acked));
    terminal.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn acknowledged_batches_can_be_sent_twice_on_purpose() {
    let server = PushServer::start().await;
    let mut c = config(&server, "DUPES0001");
    c.batch_size = 1;
    c.retransmit_ratio = 1.0;
    let terminal = Terminal::spawn(c);
    let sent = terminal.punch_many(punches(3));
    eventually("every batch sent twice", WAIT, || async {
        terminal.pending() == 0 && server.with(|s| s.acked.len()) == 6
    })
    .await;
    let received = counts(&server.acked_records());
    assert_eq!(received.len(), 3);
    for r in &sent {
        assert_eq!(received[r], 2);
    }
    let stats = terminal.stats();
    assert_eq!((stats.posts, stats.retransmissions), (3, 3));
    terminal.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn skew_is_added_to_the_terminal_clock() {
    let server = PushServer::start().await;
    let mut c = config(&server, "SKEW00001");
    c.skew_secs = -90;
    let terminal = Terminal::spawn(c);
    terminal.punch_at(pin("7"), wall(9, 0, 0), PunchState::CheckIn);
    let now = terminal.punch(pin("8"), PunchState::CheckOut);
    eventually("punches acknowledged", WAIT, || async {
        terminal.pending() == 0
    })
    .await;
    let received = server.acked_records();
    assert_eq!(received[0].time.to_string(), "2026-03-01 08:58:30");
    assert_eq!(received[1], now);
    // The clock-read punch is the machine's time less 90 s.
    let machine = chrono::Local::now().naive_local();
    let lag = machine - now.time.as_naive();
    assert!(lag >= chrono::Duration::seconds(90), "{lag}");
    terminal.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn heartbeats_answer_commands_without_running_them() {
    let server = PushServer::start().await;
    server.queue(DeviceCommand {
        id: CommandId(41),
        command: "DATA UPDATE USERINFO PIN=1\tName=Ali".into(),
    });
    server.queue(DeviceCommand {
        id: CommandId(42),
        command: "REBOOT".into(),
    });
    let mut c = config(&server, "BEAT00001");
    c.heartbeat_interval = Duration::from_millis(20);
    let terminal = Terminal::spawn(c);
    eventually("both commands answered", WAIT, || async {
        server.with(|s| s.results.len()) == 2
    })
    .await;
    let results = server.with(|s| s.results.clone());
    assert_eq!(results[0].id, CommandId(41));
    assert_eq!(results[0].command, "DATA");
    assert_eq!(results[1].id, CommandId(42));
    assert!(results.iter().all(|r| r.return_code == 0));
    eventually("heartbeats keep coming", WAIT, || async {
        server.with(|s| s.polls) >= 3
    })
    .await;
    assert_eq!(terminal.stats().commands_answered, 2);
    terminal.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_load_run_delivers_everything_and_logs_every_punch() {
    use clock_sim::{run_load, write_csv, LoadConfig, PinSource};

    let server = PushServer::start().await;
    let mut template = config(&server, "PLACEHOLDER");
    template.batch_size = 5;
    let report = run_load(LoadConfig {
        base_url: server.base_url(),
        terminals: 3,
        rate: 300.0,
        duration: Duration::from_millis(200),
        pins: PinSource::parse("1-20").unwrap(),
        serial_prefix: "LOAD".into(),
        terminal: template,
        drain: WAIT,
        seed: 7,
        offline: None,
    })
    .await
    .unwrap();
    assert!(report.drained);
    assert_eq!(report.punches.len(), 60);
    assert_eq!(report.totals.punches, 60);
    assert_eq!(report.totals.acknowledged, 60);
    assert_eq!(report.totals.handshakes, 3);
    let mut handshakes = server.with(|s| s.handshakes.clone());
    handshakes.sort();
    assert_eq!(handshakes, vec!["LOAD00001", "LOAD00002", "LOAD00003"]);
    assert_eq!(
        counts(&server.acked_records()),
        counts(
            &report
                .punches
                .iter()
                .map(|p| p.record.clone())
                .collect::<Vec<_>>()
        )
    );
    assert!(report
        .summary()
        .starts_with("punches=60 acknowledged=60 unacknowledged=0 "));

    let mut csv = Vec::new();
    write_csv(&report.punches, &mut csv).unwrap();
    let text = String::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("serial,pin,punch_time,state,punched_at_ms,first_post_ms,acked_at_ms,acked_post_ms")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 60);
    for row in rows {
        let punched: u64 = row[4].parse().unwrap();
        let first_post: u64 = row[5].parse().unwrap();
        let acked: u64 = row[6].parse().unwrap();
        let acked_post: u64 = row[7].parse().unwrap();
        assert!(
            punched <= first_post && first_post <= acked_post && acked_post <= acked,
            "{row:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn an_offline_terminal_reaches_nothing_and_delivers_once_back() {
    let server = PushServer::start().await;
    let terminal = Terminal::spawn(config(&server, "CABLE0001"));
    let before = terminal.punch_many(punches(2));
    eventually("the first punches acknowledged", WAIT, || async {
        terminal.pending() == 0
    })
    .await;
    let uploads_before = server.with(|s| s.uploads.len());

    terminal.set_offline(true);
    let during = terminal.punch_many(
        (0..3)
            .map(|i| (pin(&format!("7{i}")), wall(14, i, 0), PunchState::CheckIn))
            .collect::<Vec<_>>(),
    );
    eventually("uploads failing while off the network", WAIT, || async {
        terminal.stats().failed_posts >= 3
    })
    .await;
    assert_eq!(terminal.pending(), 3);
    // Nothing left the terminal meanwhile.
    assert_eq!(server.with(|s| s.uploads.len()), uploads_before);

    terminal.set_offline(false);
    eventually("the buffer delivered", WAIT, || async {
        terminal.pending() == 0
    })
    .await;
    let mut all = before;
    all.extend(during);
    assert_eq!(
        server.acked_records(),
        all,
        "every punch once, in punch order"
    );
    // The punches made offline name both the failed first attempt and the upload that landed.
    for p in terminal.log().iter().skip(2) {
        let first = p.first_post_ms.expect("attempted");
        let landed = p.acked_post_ms.expect("acknowledged");
        assert!(first < landed && landed <= p.acked_at_ms.unwrap(), "{p:?}");
    }
    terminal.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_load_run_gives_terminals_their_groups_and_takes_one_offline() {
    use clock_sim::{run_load, LoadConfig, OfflineWindow, PinSource};

    let server = PushServer::start().await;
    let template = config(&server, "PLACEHOLDER");
    let report = run_load(LoadConfig {
        base_url: server.base_url(),
        terminals: 4,
        rate: 100.0,
        duration: Duration::from_millis(600),
        pins: PinSource::parse("100-199;200-299").unwrap(),
        serial_prefix: "GRP".into(),
        terminal: template,
        drain: WAIT,
        seed: 3,
        offline: Some(OfflineWindow {
            terminals: 1,
            after: Duration::from_millis(100),
            length: Duration::from_millis(300),
        }),
    })
    .await
    .unwrap();
    assert!(report.drained);
    assert_eq!(report.totals.acknowledged, 60);
    assert!(
        report.totals.failed_posts > 0,
        "the offline terminal failed some"
    );
    let mut seen = std::collections::HashSet::new();
    for p in &report.punches {
        let terminal: usize = p.serial.as_str()[3..].parse().unwrap();
        let pin: u64 = p.record.pin.as_str().parse().unwrap();
        // Odd terminals punch the first group, even ones the second.
        assert_eq!(pin / 100, if terminal % 2 == 1 { 1 } else { 2 }, "{p:?}");
        // Employee and time name one punch.
        assert!(seen.insert((pin, p.record.time.to_string())), "{p:?}");
    }
    // Only the first terminal's uploads failed, and its punches all landed in the end.
    let first: Vec<_> = report
        .punches
        .iter()
        .filter(|p| p.serial.as_str() == "GRP00001")
        .collect();
    assert!(first.iter().any(|p| p.first_post_ms < p.acked_post_ms));
    assert!(report
        .punches
        .iter()
        .filter(|p| p.serial.as_str() != "GRP00001")
        .all(|p| p.first_post_ms == p.acked_post_ms));
    assert_eq!(
        counts(&server.acked_records()).len(),
        report.punches.len(),
        "every punch reached the server"
    );
    server.stop().await;
}
