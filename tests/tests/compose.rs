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
