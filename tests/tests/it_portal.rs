//! docs/it-portal.md is run, not just read: its shell examples run in order against a fresh
//! system, and each documented response must be the one the services give (timestamps, UUIDs and
//! timing figures masked; see `bridge_tests::guide`). `UPDATE_GUIDE=1` writes the real responses
//! into the guide instead, for review.

use std::time::Duration;

use bridge_tests::{guide, Service, System};

const GUIDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/it-portal.md");

#[tokio::test(flavor = "multi_thread")]
async fn every_example_of_the_it_portal_guide_answers_as_documented() {
    for tool in ["curl", "jq", "openssl"] {
        let found = std::process::Command::new("bash")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "the guide's examples need {tool} (make deps installs it)"
        );
    }
    let markdown = std::fs::read_to_string(GUIDE).expect("read docs/it-portal.md");
    let fences = guide::fences(&markdown);
    let examples = guide::examples(&fences);
    assert!(examples.len() >= 10, "the guide has its examples");

    let system = System::builder().load_directory(false).start().await;
    let dir = system.scratch_dir().join("guide");
    std::fs::create_dir_all(&dir).expect("a folder for the examples");
    // The portal's key as the portal keeps it: a PEM file (made from the DER by openssl).
    let portal = &test_support::test_keys().portal;
    let der = dir.join("portal.der");
    let pem = dir.join("portal.pem");
    std::fs::write(&der, portal.pkcs8_der()).expect("write the portal's key");
    let converted = std::process::Command::new("openssl")
        .args(["pkey", "-inform", "DER", "-in"])
        .arg(&der)
        .arg("-out")
        .arg(&pem)
        .status()
        .expect("run openssl");
    assert!(converted.success(), "openssl pkey");
    let vars = [
        ("CONFIG", system.url(Service::Config)),
        ("IMPORTS", system.url(Service::Import)),
        ("SYNC", system.url(Service::Sync)),
        ("BAYZAT_URL", system.bayzat_api_url()),
        ("PORTAL_KEY", pem.display().to_string()),
        ("PORTAL_KID", portal.kid().to_owned()),
    ];
    let run = {
        let examples = examples.clone();
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            let vars: Vec<(&str, String)> = vars.iter().map(|(k, v)| (*k, v.clone())).collect();
            guide::run(&examples, &vars, &dir, Duration::from_secs(180))
        })
        .await
        .expect("the examples ran")
    };
    let outputs = match run {
        Ok(outputs) => outputs,
        Err(failure) => panic!(
            "{}\n--- stdout:\n{}\n--- stderr:\n{}",
            match failure.example {
                Some(n) => format!(
                    "the example at docs/it-portal.md line {} failed",
                    examples[n].command.line
                ),
                None => "the examples did not finish".to_owned(),
            },
            failure.stdout,
            failure.stderr
        ),
    };

    // The guide shows the addresses `make run` uses; this system's ports are random.
    let addresses = [
        (system.url(Service::BayzatSim), "http://127.0.0.1:8090"),
        (system.url(Service::Config), "http://127.0.0.1:8081"),
        (system.url(Service::Import), "http://127.0.0.1:8082"),
        (system.url(Service::Sync), "http://127.0.0.1:8083"),
    ];
    let outputs: Vec<String> = outputs
        .into_iter()
        .map(|output| {
            addresses
                .iter()
                .fold(output, |text, (real, shown)| text.replace(real, shown))
        })
        .collect();
    if std::env::var_os("UPDATE_GUIDE").is_some() {
        std::fs::write(GUIDE, guide::update(&markdown, &examples, &outputs))
            .expect("write docs/it-portal.md");
        return;
    }
    let mismatches: Vec<String> = examples
        .iter()
        .zip(&outputs)
        .filter_map(|(example, output)| {
            let response = example.response.as_ref()?;
            guide::compare(response, output)
                .err()
                .map(|why| format!("docs/it-portal.md line {}: {why}", response.line))
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "the guide differs from the API (UPDATE_GUIDE=1 cargo test -p bridge-tests --test it_portal \
         writes the real responses; review the diff):\n{}",
        mismatches.join("\n\n")
    );
}
