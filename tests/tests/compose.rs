//! docker-compose.yml stays consistent with the code: each service's variables parse with that
//! service's own settings reader, and images, ports, health checks and dependencies line up.

use std::collections::BTreeMap;

use serde_yaml::Value;
use settings::Env;

fn compose() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docker-compose.yml");
    let text = std::fs::read_to_string(path).expect("docker-compose.yml is readable");
    let mut value: Value = serde_yaml::from_str(&text).expect("docker-compose.yml is YAML");
    value.apply_merge().expect("merge keys resolve");
    value
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    &compose["services"][name]
}

fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
                };
                (k.as_str().unwrap().to_owned(), value)
            })
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(|item| item.as_str()?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A service's settings reader, its result dropped.
type ReadSettings = fn(&Env) -> Result<(), settings::SettingsError>;

#[test]
fn every_service_has_the_variables_its_settings_require() {
    let compose = compose();
    let checks: [(&str, ReadSettings); 4] = [
        ("config-service", |env| {
            config_service::Settings::from_env(env).map(drop)
        }),
        ("import-service", |env| {
            import_service::Settings::from_env(env).map(drop)
        }),
        ("sync-service", |env| {
            sync_service::Settings::from_env(env).map(drop)
        }),
        ("console", |env| console::Settings::from_env(env).map(drop)),
    ];
    for (name, read_settings) in checks {
        let env = environment(service(&compose, name));
        if let Err(error) = read_settings(&Env::from_pairs(env)) {
            panic!("{name} in docker-compose.yml: {error}");
        }
    }
}

#[test]
fn services_listen_where_compose_publishes_and_probes_them() {
    let compose = compose();
    let binds = [
        ("config-service", config_service::BIND_VARIABLE),
        ("import-service", import_service::BIND_VARIABLE),
        ("sync-service", sync_service::BIND_VARIABLE),
        ("console", console::BIND_VARIABLE),
    ];
    for (name, variable) in binds {
        let service = service(&compose, name);
        let bind = environment(service)
            .get(variable)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {variable} is set"));
        assert!(
            bind.starts_with("0.0.0.0:"),
            "{name} listens on every interface of its container"
        );
        let port = bind.rsplit(':').next().unwrap();
        assert_eq!(
            strings(&service["ports"]),
            [format!("{port}:{port}")],
            "{name} publishes its port"
        );
        let probe = strings(&service["healthcheck"]["test"]).join(" ");
        assert!(
            probe.contains(&format!("127.0.0.1:{port}/readyz")),
            "{name} health check: {probe}"
        );
        assert_eq!(
            strings(&service["command"]),
            [name],
            "{name} runs its own binary"
        );
    }
}

#[test]
fn services_share_one_image_and_wait_for_healthy_dependencies() {
    let compose = compose();
    for name in [
        "config-service",
        "import-service",
        "sync-service",
        "console",
        "bayzat-sim",
    ] {
        let service = service(&compose, name);
        assert_eq!(
            service["image"].as_str(),
            Some("attendance-bridge:latest"),
            "{name} image"
        );
        assert!(
            service["healthcheck"]["test"].is_sequence(),
            "{name} has a health check"
        );
    }
    for name in ["config-service", "import-service", "sync-service"] {
        let depends = &service(&compose, name)["depends_on"];
        for dependency in ["postgres", "rabbitmq"] {
            assert_eq!(
                depends[dependency]["condition"].as_str(),
                Some("service_healthy"),
                "{name} waits for a healthy {dependency}"
            );
        }
        let env = environment(service(&compose, name));
        if let Some(url) = env.get("CONFIG_SERVICE_URL") {
            assert_eq!(
                url, "http://config-service:8081",
                "{name} CONFIG_SERVICE_URL"
            );
            assert_eq!(
                depends["config-service"]["condition"].as_str(),
                Some("service_healthy"),
                "{name} waits for a ready config-service"
            );
        }
        assert!(
            env["DATABASE_URL"].contains("@postgres:5432/"),
            "{name} DATABASE_URL points at the postgres service"
        );
        assert!(
            env["AMQP_URL"].contains("@rabbitmq:5672/"),
            "{name} AMQP_URL points at the rabbitmq service"
        );
    }
    // The console calls the three services (and keeps its sessions in Postgres): it starts once
    // they are ready, at the addresses compose gives them.
    let console = service(&compose, "console");
    let env = environment(console);
    for (dependency, variable) in [
        ("postgres", "DATABASE_URL"),
        ("config-service", "CONFIG_SERVICE_URL"),
        ("import-service", "IMPORT_SERVICE_URL"),
        ("sync-service", "SYNC_SERVICE_URL"),
    ] {
        assert_eq!(
            console["depends_on"][dependency]["condition"].as_str(),
            Some("service_healthy"),
            "console waits for a ready {dependency}"
        );
        assert!(
            env[variable].contains(&format!("{dependency}:")),
            "console {variable} points at the {dependency} service"
        );
    }
    for dependency in ["postgres", "rabbitmq"] {
        assert!(service(&compose, dependency)["healthcheck"]["test"].is_sequence());
        assert!(
            service(&compose, dependency)["volumes"].is_sequence(),
            "{dependency} keeps its data in a volume"
        );
    }
    let build = &service(&compose, "config-service")["build"];
    let dockerfile = build["dockerfile"].as_str().unwrap();
    assert!(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .join(dockerfile)
            .exists(),
        "the Dockerfile compose builds exists"
    );
}

#[test]
fn the_internal_endpoints_are_not_published_and_each_service_holds_only_its_own_key() {
    let compose = compose();
    let config = service(&compose, "config-service");
    let internal = environment(config)["CONFIG_SERVICE_INTERNAL_BIND"].clone();
    let port = internal.rsplit(':').next().unwrap().to_owned();
    for (name, published) in compose["services"].as_mapping().unwrap() {
        for mapping in strings(&published["ports"]) {
            assert!(
                !mapping.split(':').any(|part| part == port),
                "{} publishes {mapping}, the internal port",
                name.as_str().unwrap()
            );
        }
    }
    let sync = environment(service(&compose, "sync-service"));
    assert_eq!(
        sync["CONFIG_SERVICE_INTERNAL_URL"],
        format!("http://config-service:{port}")
    );

    let trusted =
        auth::parse_trusted_keys(&environment(config)[auth::TRUSTED_KEYS_VARIABLE]).unwrap();
    let signer_of = |kid: &str| {
        trusted
            .iter()
            .find(|key| key.kid() == kid)
            .map(|key| key.signer())
    };
    for (name, signer) in [
        ("console", Some(auth::Signer::Console)),
        ("sync-service", Some(auth::Signer::SyncService)),
        ("import-service", Some(auth::Signer::ImportService)),
        ("config-service", None),
    ] {
        let env = environment(service(&compose, name));
        assert!(!env.contains_key(auth::JWT_SECRET_VARIABLE), "{name}");
        assert!(!env.contains_key(auth::DEV_SECRET_VARIABLE), "{name}");
        assert!(
            !env.contains_key(auth::PORTAL_SIGNING_KEY_VARIABLE),
            "{name}"
        );
        let own = env.get(auth::SIGNING_KEY_VARIABLE).map(|key| {
            let (kid, _) = key.split_once(':').unwrap();
            signer_of(kid)
        });
        assert_eq!(own, signer.map(Some), "{name}'s own key");
    }
}
