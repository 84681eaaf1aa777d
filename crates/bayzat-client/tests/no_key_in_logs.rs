//! Every log line the client and its HTTP stack write, at trace level, while it sends, is refused,
//! fails and tests connections, and none of them contains the key. One test in its own binary,
//! because it installs the process-wide subscriber (and the bridge from the `log` crate, which
//! reqwest and hyper log through).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bayzat_client::{ConnectionTest, Reply};
use bayzat_sim::{Faults, KeySpec};
use common::{client, client_with_timeout, closed_port_url, record, sim};
use domain::PunchType::CheckIn;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const SECRET: &str = "s3cret-KEY-7f3a9c2e";
/// A key the simulator does not know is still a company's secret.
const WRONG_SECRET: &str = "s3cret-WRONG-0b1d4e";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn the_key_never_reaches_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    // The simulator logs the keys it sees; it stands in for Bayzat and is not under test.
    let filter = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("bayzat_sim", LevelFilter::OFF)
        .with_target("actix_web", LevelFilter::OFF)
        .with_target("actix_http", LevelFilter::OFF)
        .with_target("actix_server", LevelFilter::OFF)
        .with_target("actix_rt", LevelFilter::OFF);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(filter)
        .try_init()
        .expect("the only subscriber of this test binary");

    let sim = sim(0).await;
    let url = sim.attendance_url();
    let key_count_before = sim.stats().keys.len();
    sim.put_key(KeySpec::new(SECRET, ["1001"]).with_interval_ms(0));
    assert_eq!(sim.stats().keys.len(), key_count_before + 1);

    let client = client();
    let punch = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let stranger = [record("9999", CheckIn, "2023-04-30 09:00:00")];

    assert_eq!(
        client.send(&url, SECRET, &punch).await.reply,
        Reply::Accepted
    );
    assert!(matches!(
        client.send(&url, SECRET, &punch).await.reply,
        Reply::Refused {
            duplicate: true,
            ..
        }
    ));
    assert!(matches!(
        client.send(&url, SECRET, &stranger).await.reply,
        Reply::Refused {
            duplicate: false,
            ..
        }
    ));
    assert_eq!(
        client.send(&url, WRONG_SECRET, &punch).await.reply,
        Reply::Unauthorized
    );
    assert!(matches!(
        client.send(&closed_port_url(), SECRET, &punch).await.reply,
        Reply::Transient { status: None, .. }
    ));
    assert_eq!(
        client.test_connection(&url, SECRET).await,
        ConnectionTest::Ok
    );
    assert_eq!(
        client.test_connection(&url, WRONG_SECRET).await,
        ConnectionTest::InvalidKey
    );
    assert!(matches!(
        client.test_connection(&closed_port_url(), SECRET).await,
        ConnectionTest::Unreachable { .. }
    ));

    let faults = Faults {
        p_500: 1.0,
        ..Faults::default()
    };
    assert!(sim.set_faults(SECRET, faults).unwrap());
    assert!(matches!(
        client.send(&url, SECRET, &punch).await.reply,
        Reply::Transient {
            status: Some(500),
            ..
        }
    ));
    assert!(matches!(
        client.test_connection(&url, SECRET).await,
        ConnectionTest::Unexpected { status: 500, .. }
    ));

    let faults = Faults {
        p_timeout: 1.0,
        hold_ms: 1000,
        ..Faults::default()
    };
    assert!(sim.set_faults(SECRET, faults).unwrap());
    let hasty = client_with_timeout(Duration::from_millis(200));
    assert!(matches!(
        hasty.send(&url, SECRET, &punch).await.reply,
        Reply::Transient { status: None, .. }
    ));
    sim.stop().await;

    let logs = captured.text();
    // Proof that the capture works and reaches into the HTTP stack, so the absence below means
    // something.
    assert!(logs.contains("bayzat answered"), "{logs}");
    assert!(logs.contains("bayzat connection test"), "{logs}");
    assert!(
        logs.contains("TRACE"),
        "nothing at trace level was captured:\n{logs}"
    );
    assert!(
        logs.contains("hyper_util"),
        "the HTTP stack's logs were not captured:\n{logs}"
    );
    for secret in [SECRET, WRONG_SECRET, "s3cret"] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}
