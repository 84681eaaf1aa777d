//! The push-mode load run behind the binary: N terminals, a total punch rate for a duration, then
//! a drain, a CSV of every punch and a summary.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use clock_push::{Pin, PunchState, SerialNumber};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::terminal::{PunchLog, Terminal, TerminalConfig, TerminalStats};

/// Where punching PINs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    List(Vec<Pin>),
    /// Inclusive range of numeric PINs.
    Range(u64, u64),
    /// One source per group of terminals: terminal `i` (from 1) punches PINs of group
    /// `(i - 1) % groups`, as the clocks of several companies each know their own staff.
    Groups(Vec<PinSource>),
}

impl PinSource {
    /// `1-500` for a range, else a comma-separated list; several of them separated by `;` are
    /// groups (`1001-1100;2001-2100`: odd terminals punch the first, even ones the second).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.contains(';') {
            let groups = text
                .split(';')
                .filter(|g| !g.trim().is_empty())
                .map(Self::parse_one)
                .collect::<Result<Vec<_>, _>>()?;
            if groups.is_empty() {
                return Err("no PINs given".to_owned());
            }
            return Ok(PinSource::Groups(groups));
        }
        Self::parse_one(text)
    }

    fn parse_one(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some((a, b)) = text.split_once('-') {
            let parse = |s: &str| {
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{s:?} is not a PIN number"))
            };
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b {
                return Err(format!("empty PIN range {a}-{b}"));
            }
            return Ok(PinSource::Range(a, b));
        }
        let pins = text
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| Pin::parse(p.trim()).map_err(|e| format!("PIN {p:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if pins.is_empty() {
            return Err("no PINs given".to_owned());
        }
        Ok(PinSource::List(pins))
    }

    /// A PIN for terminal number `terminal` (from 0).
    fn pick(&self, terminal: usize, rng: &mut impl Rng) -> Pin {
        match self {
            PinSource::List(pins) => pins[rng.random_range(0..pins.len())].clone(),
            PinSource::Range(a, b) => Pin::parse(&rng.random_range(*a..=*b).to_string())
                .expect("a number of at most 20 digits is a PIN"),
            PinSource::Groups(groups) => groups[terminal % groups.len()].pick(terminal, rng),
        }
    }
}

/// Terminals taken off the network for a while during a run, then put back: they keep their
/// punches and deliver them once back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineWindow {
    /// The first this many terminals (`<prefix>00001` onward).
    pub terminals: usize,
    /// From the start of the run.
    pub after: Duration,
    pub length: Duration,
}

impl OfflineWindow {
    fn offline_at(&self, elapsed: Duration) -> bool {
        elapsed >= self.after && elapsed < self.after + self.length
    }
}

/// A load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub base_url: String,
    pub terminals: usize,
    /// Punches per second over all terminals.
    pub rate: f64,
    pub duration: Duration,
    pub pins: PinSource,
    /// Terminal `i` (from 1) is `<prefix><i:05>`.
    pub serial_prefix: String,
    /// Template for every terminal (serial and base URL are replaced).
    pub terminal: TerminalConfig,
    /// How long to wait after the last punch for the buffers to empty.
    pub drain: Duration,
    pub seed: u64,
    /// Terminals that go off the network for a while, if any.
    pub offline: Option<OfflineWindow>,
}

/// What a load run did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub punches: Vec<PunchLog>,
    pub totals: TerminalStats,
    /// Whether every buffer emptied within the drain time.
    pub drained: bool,
}

impl LoadReport {
    /// One line: the counters a benchmark reads.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        let latencies: Vec<u64> = self
            .punches
            .iter()
            .filter_map(|p| Some(p.acked_at_ms?.saturating_sub(p.punched_at_ms)))
            .collect();
        let max_ack_ms = latencies.iter().max().copied().unwrap_or(0);
        format!(
            "punches={} acknowledged={} unacknowledged={} posts={} failed_posts={} short_acks={} retransmissions={} handshakes={} failed_handshakes={} heartbeats={} commands_answered={} drained={} max_punch_to_ack_ms={}",
            t.punches,
            t.acknowledged,
            t.punches - t.acknowledged.min(t.punches),
            t.posts,
            t.failed_posts,
            t.short_acks,
            t.retransmissions,
            t.handshakes,
            t.failed_handshakes,
            t.heartbeats,
            t.commands_answered,
            self.drained,
            max_ack_ms,
        )
    }
}

fn add(into: &mut TerminalStats, s: &TerminalStats) {
    into.handshakes += s.handshakes;
    into.failed_handshakes += s.failed_handshakes;
    into.punches += s.punches;
    into.acknowledged += s.acknowledged;
    into.posts += s.posts;
    into.failed_posts += s.failed_posts;
    into.short_acks += s.short_acks;
    into.retransmissions += s.retransmissions;
    into.heartbeats += s.heartbeats;
    into.failed_heartbeats += s.failed_heartbeats;
    into.commands_answered += s.commands_answered;
}

/// How many draws a punch gets to find a PIN that has not punched in the same second.
const PIN_DRAWS: usize = 64;

/// Runs the load: punches at `rate` spread round-robin over the terminals, each PIN alternating
/// check-in and check-out, for `duration`; then waits up to `drain` for the buffers to empty.
/// A PIN punches at most once in a second of the clock (the PIN is drawn again, a few times at
/// most), as a person does, so employee and punch time name one punch. With `offline`, those
/// terminals are off the network for that window (during the punching or the drain).
pub async fn run_load(config: LoadConfig) -> Result<LoadReport, String> {
    if config.terminals == 0 {
        return Err("at least one terminal is needed".to_owned());
    }
    if !(config.rate.is_finite() && config.rate > 0.0) {
        return Err("the punch rate must be above 0".to_owned());
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(config.terminals)
        .build()
        .map_err(|e| e.to_string())?;
    let mut terminals = Vec::with_capacity(config.terminals);
    for i in 1..=config.terminals {
        let serial = SerialNumber::parse(&format!("{}{i:05}", config.serial_prefix))
            .map_err(|e| format!("serial prefix: {e}"))?;
        let mut tc = config.terminal.clone();
        tc.serial = serial;
        tc.base_url = config.base_url.trim_end_matches('/').to_owned();
        tc.seed = config.seed.wrapping_add(i as u64);
        terminals.push(Terminal::spawn_with_client(tc, client.clone()));
    }

    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    // Per PIN: its last state and the wall-clock second of its last punch.
    let mut last: HashMap<Pin, (PunchState, i64)> = HashMap::new();
    let start = Instant::now();
    let offline = |elapsed: Duration| {
        let Some(window) = config.offline else {
            return;
        };
        let off = window.offline_at(elapsed);
        for t in terminals.iter().take(window.terminals) {
            if t.is_offline() != off {
                tracing::info!(serial = %t.serial(), offline = off, "terminal network switched");
                t.set_offline(off);
            }
        }
    };
    let mut sent: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let elapsed = start.elapsed().min(config.duration);
        offline(start.elapsed());
        // The small margin keeps float rounding from dropping the last punch of a run.
        let due = (elapsed.as_secs_f64() * config.rate + 1e-6).floor() as u64;
        while sent < due {
            let index = (sent % terminals.len() as u64) as usize;
            let wall = chrono::Local::now().naive_local();
            let second = wall.and_utc().timestamp();
            let mut pin = config.pins.pick(index, &mut rng);
            for _ in 1..PIN_DRAWS {
                if last.get(&pin).is_none_or(|(_, at)| *at != second) {
                    break;
                }
                pin = config.pins.pick(index, &mut rng);
            }
            let state = match last.get(&pin) {
                Some((PunchState::CheckIn, _)) => PunchState::CheckOut,
                _ => PunchState::CheckIn,
            };
            last.insert(pin.clone(), (state, second));
            terminals[index].punch_at(pin, wall, state);
            sent += 1;
        }
        if elapsed >= config.duration {
            break;
        }
    }

    let deadline = Instant::now() + config.drain;
    let drained = loop {
        offline(start.elapsed());
        if terminals.iter().all(|t| t.pending() == 0) {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    for t in &terminals {
        t.set_offline(false);
    }
    let mut report = LoadReport {
        drained,
        ..LoadReport::default()
    };
    for t in terminals {
        let (stats, log) = t.stop().await;
        add(&mut report.totals, &stats);
        report.punches.extend(log);
    }
    report
        .punches
        .sort_by_key(|p| (p.punched_at_ms, p.serial.clone()));
    Ok(report)
}

/// Writes one CSV row per punch: `serial,pin,punch_time,state,punched_at_ms,first_post_ms,
/// acked_at_ms,acked_post_ms` (the last three empty when it never happened).
pub fn write_csv(punches: &[PunchLog], out: impl Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "serial",
        "pin",
        "punch_time",
        "state",
        "punched_at_ms",
        "first_post_ms",
        "acked_at_ms",
        "acked_post_ms",
    ])?;
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    for p in punches {
        w.write_record([
            p.serial.to_string(),
            p.record.pin.to_string(),
            p.record.time.to_string(),
            p.record.state.code().to_string(),
            p.punched_at_ms.to_string(),
            opt(p.first_post_ms),
            opt(p.acked_at_ms),
            opt(p.acked_post_ms),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_sources() {
        assert_eq!(PinSource::parse("1-5"), Ok(PinSource::Range(1, 5)));
        assert_eq!(
            PinSource::parse("7, 008 ,A1"),
            Ok(PinSource::List(vec![
                Pin::parse("7").unwrap(),
                Pin::parse("008").unwrap(),
                Pin::parse("A1").unwrap(),
            ]))
        );
        assert!(PinSource::parse("5-1").is_err());
        assert!(PinSource::parse("").is_err());
        assert!(PinSource::parse("a b").is_err());
        assert!(PinSource::parse(";").is_err());
        assert!(PinSource::parse("1-5;x y").is_err());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            let n: u64 = PinSource::Range(3, 4)
                .pick(0, &mut rng)
                .as_str()
                .parse()
                .unwrap();
            assert!((3..=4).contains(&n));
        }
    }

    #[test]
    fn groups_give_each_terminal_its_own_pins() {
        let groups = PinSource::parse("101-110; 201-210 ;301").unwrap();
        assert_eq!(
            groups,
            PinSource::Groups(vec![
                PinSource::Range(101, 110),
                PinSource::Range(201, 210),
                PinSource::List(vec![Pin::parse("301").unwrap()]),
            ])
        );
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for terminal in 0..9 {
            for _ in 0..20 {
                let n: u64 = groups.pick(terminal, &mut rng).as_str().parse().unwrap();
                assert_eq!(n / 100, terminal as u64 % 3 + 1, "terminal {terminal}: {n}");
            }
        }
    }

    #[test]
    fn offline_windows() {
        let window = OfflineWindow {
            terminals: 1,
            after: Duration::from_secs(20),
            length: Duration::from_secs(20),
        };
        assert!(!window.offline_at(Duration::from_secs(19)));
        assert!(window.offline_at(Duration::from_secs(20)));
        assert!(window.offline_at(Duration::from_millis(39_999)));
        assert!(!window.offline_at(Duration::from_secs(40)));
    }
}
