//! docker-compose.yml stays consistent with the code: each service's variables parse with that
//! service's own settings reader, and images, ports, health checks and dependencies line up. The
//! offline override (deploy/compose.offline.yml) builds every image the stack pulls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;
use settings::Env;

/// The repository, where compose resolves the paths of both files.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn compose_file(name: &str) -> Value {
    let text = std::fs::read_to_string(repository().join(name))
        .unwrap_or_else(|e| panic!("{name} is readable: {e}"));
    let mut value: Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name} is YAML: {e}"));
    // An anchor that merges another (x-service takes x-bridge-image) brings its own `<<` along:
    // resolve until none is left, as compose does.
    while serde_yaml::to_string(&value).unwrap().contains("<<:") {
        value.apply_merge().expect("merge keys resolve");
    }
    value
}

fn compose() -> Value {
    compose_file("docker-compose.yml")
}

/// `${NAME:-default}` replaced by its default, as compose does when NAME is unset.
fn with_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${…}") + start;
        let (_, default) = rest[start + 2..end]
            .split_once(":-")
            .unwrap_or_else(|| panic!("{text}: every variable has a default"));
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A service's published ports as (host port or range, container port), variables at their
/// defaults.
fn published(service: &Value) -> Vec<(String, String)> {
    strings(&service["ports"])
        .iter()
        .map(|mapping| {
            let mapping = with_defaults(mapping);
            let (host, container) = mapping
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("{mapping} names a host port"));
            (host.to_owned(), container.to_owned())
        })
        .collect()
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
        // sync-service publishes a range, one host port per replica, starting at its own.
        let host = if name == "sync-service" {
            let next: u16 = port.parse::<u16>().unwrap() + 1;
            format!("{port}-{}", next + 1)
        } else {
            port.to_owned()
        };
        let mut expected = vec![(host, port.to_owned())];
        // import-service also publishes the listener the clocks push to.
        if name == "import-service" {
            let clocks = environment(service)
                .get(import_service::clocks::BIND_VARIABLE)
                .cloned()
                .expect("import-service: the clock listener is set");
            let clock_port = clocks.rsplit(':').next().unwrap().to_owned();
            expected.push((clock_port.clone(), clock_port));
        }
        assert_eq!(published(service), expected, "{name} publishes its ports");
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
    // Every service of the bridge's image can build it (compose v1 refuses a service whose image
    // is missing and has no `build`), from the same Dockerfile.
    for name in [
        "config-service",
        "import-service",
        "sync-service",
        "console",
        "bayzat-sim",
    ] {
        let build = &service(&compose, name)["build"];
        assert_eq!(build["context"].as_str(), Some("."), "{name} build context");
        assert_eq!(
            build["dockerfile"].as_str(),
            Some("deploy/Dockerfile"),
            "{name} builds the bridge's image"
        );
    }
    let dockerfile = std::fs::read_to_string(repository().join("deploy/Dockerfile"))
        .expect("the Dockerfile compose builds exists");
    for argument in ["ARG RUST_IMAGE=", "ARG BASE_IMAGE="] {
        assert!(
            dockerfile.contains(argument),
            "deploy/Dockerfile takes {argument}… (a mirror or local copy of the image)"
        );
    }
}

#[test]
fn the_simulator_starts_with_the_fixture_keys_it_is_given() {
    let compose = compose();
    let sim = service(&compose, "bayzat-sim");
    let command = strings(&sim["command"]);
    let load = command
        .iter()
        .position(|arg| arg == "--load")
        .map(|i| command[i + 1].clone())
        .expect("bayzat-sim --load");
    let mount = strings(&sim["volumes"])
        .into_iter()
        .find(|volume| volume.split(':').nth(1) == Some(load.as_str()))
        .unwrap_or_else(|| panic!("{load} is mounted into bayzat-sim"));
    let source = mount.split(':').next().unwrap();
    assert!(
        repository().join(source).is_file(),
        "bayzat-sim loads {source}, which exists"
    );
    assert!(
        published(sim).contains(&("8090".to_owned(), "8090".to_owned())),
        "bayzat-sim publishes its port"
    );
}

#[test]
fn prometheus_reads_the_configuration_in_deploy_prometheus() {
    let compose = compose();
    let prometheus = service(&compose, "prometheus");
    assert!(
        prometheus["image"]
            .as_str()
            .is_some_and(|image| image.starts_with("prom/prometheus:")),
        "prometheus image"
    );
    assert!(
        strings(&prometheus["command"])
            .contains(&"--config.file=/etc/prometheus/prometheus.yml".to_owned()),
        "prometheus reads /etc/prometheus/prometheus.yml"
    );
    assert!(
        strings(&prometheus["volumes"])
            .contains(&"./deploy/prometheus:/etc/prometheus:ro".to_owned()),
        "deploy/prometheus is mounted read-only at /etc/prometheus"
    );
    assert!(repository().join("deploy/prometheus").is_dir());
    assert_eq!(
        published(prometheus),
        [("9090".to_owned(), "9090".to_owned())],
        "prometheus publishes its UI and API"
    );
    assert!(prometheus["healthcheck"]["test"].is_sequence());
}

#[test]
fn alertmanager_reads_deploy_alertmanager_and_prometheus_sends_it_the_alerts() {
    let compose = compose();
    let alertmanager = service(&compose, "alertmanager");
    assert!(
        alertmanager["image"]
            .as_str()
            .is_some_and(|image| image.starts_with("prom/alertmanager:")),
        "alertmanager image"
    );
    let command = strings(&alertmanager["command"]);
    assert!(
        command.contains(&"--config.file=/etc/alertmanager/alertmanager.yml".to_owned()),
        "alertmanager reads /etc/alertmanager/alertmanager.yml: {command:?}"
    );
    let volumes = strings(&alertmanager["volumes"]);
    assert!(
        volumes.contains(&"./deploy/alertmanager:/etc/alertmanager:ro".to_owned()),
        "deploy/alertmanager is mounted read-only at /etc/alertmanager: {volumes:?}"
    );
    assert!(
        command.contains(&"--storage.path=/alertmanager".to_owned())
            && volumes
                .iter()
                .any(|volume| volume.ends_with(":/alertmanager")),
        "alertmanager keeps its silences and notification log in a volume"
    );
    assert_eq!(
        published(alertmanager),
        [("9093".to_owned(), "9093".to_owned())],
        "alertmanager publishes its API"
    );
    let probe = strings(&alertmanager["healthcheck"]["test"]).join(" ");
    assert!(
        probe.contains("127.0.0.1:9093/-/ready"),
        "alertmanager health check: {probe}"
    );

    // Every file the configuration names (the SMTP password, ...) is under the mounted folder.
    let config_text =
        std::fs::read_to_string(repository().join("deploy/alertmanager/alertmanager.yml"))
            .expect("deploy/alertmanager/alertmanager.yml exists");
    let config: Value = serde_yaml::from_str(&config_text).expect("alertmanager.yml is YAML");
    let mut files = Vec::new();
    files_named(&config, &mut files);
    assert!(
        !files.is_empty(),
        "alertmanager.yml reads its SMTP password from a file"
    );
    for file in files {
        let inside = file
            .strip_prefix("/etc/alertmanager/")
            .unwrap_or_else(|| panic!("alertmanager.yml reads {file}, outside the mounted folder"));
        let folder = Path::new(inside).parent().unwrap();
        assert!(
            repository()
                .join("deploy/alertmanager")
                .join(folder)
                .is_dir(),
            "alertmanager.yml reads {file}: deploy/alertmanager/{} exists",
            folder.display()
        );
    }

    // Prometheus sends its alerts to the alertmanager service, at the port it listens on.
    let prometheus_text =
        std::fs::read_to_string(repository().join("deploy/prometheus/prometheus.yml")).unwrap();
    let prometheus: Value = serde_yaml::from_str(&prometheus_text).unwrap();
    let targets: Vec<String> = prometheus["alerting"]["alertmanagers"]
        .as_sequence()
        .expect("prometheus.yml has alerting.alertmanagers")
        .iter()
        .flat_map(|am| {
            am["static_configs"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|config| strings(&config["targets"]))
        .collect();
    assert_eq!(targets, ["alertmanager:9093"], "Prometheus's Alertmanager");
}

/// The values of every `*_file` key (auth_password_file, credentials_file, ...), anywhere.
fn files_named(value: &Value, files: &mut Vec<String>) {
    match value {
        Value::Mapping(map) => {
            for (key, value) in map {
                match (key.as_str(), value.as_str()) {
                    (Some(key), Some(path)) if key.ends_with("_file") => {
                        files.push(path.to_owned())
                    }
                    _ => files_named(value, files),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| files_named(item, files)),
        _ => {}
    }
}

#[test]
fn every_published_host_port_is_distinct_and_movable() {
    let compose = compose();
    let mut seen = BTreeMap::new();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        for mapping in strings(&service["ports"]) {
            assert!(
                mapping.starts_with("${"),
                "{name} publishes {mapping}: its host port comes from a variable with a default"
            );
        }
        for (host, _) in published(service) {
            let (first, last) = host.split_once('-').unwrap_or((&host, &host));
            let (first, last): (u16, u16) = (first.parse().unwrap(), last.parse().unwrap());
            for port in first..=last {
                if let Some(other) = seen.insert(port, name.to_owned()) {
                    panic!("{name} and {other} both publish host port {port}");
                }
            }
        }
    }
}

/// `a/b/../c` as `a/c`, without asking the file system.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                assert!(
                    normal.pop(),
                    "{} stays inside the repository",
                    path.display()
                );
            }
            std::path::Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// The images the stack takes from a registry, each of which the offline override must build.
fn pulled_images(compose: &Value) -> Vec<String> {
    compose["services"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, service)| service["build"].is_null())
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_offline_override_builds_every_image_locally() {
    let compose = compose();
    let offline = compose_file("deploy/compose.offline.yml");
    let services = offline["services"].as_mapping().unwrap();
    for (name, _) in services {
        let name = name.as_str().unwrap();
        assert!(
            !compose["services"][name].is_null(),
            "the override's {name} is a service of docker-compose.yml"
        );
    }
    let pulled = pulled_images(&compose);
    assert_eq!(
        pulled,
        ["postgres", "rabbitmq", "prometheus", "alertmanager"],
        "the registry images docker-compose.yml pulls"
    );
    for name in &pulled {
        let local = &offline["services"][name.as_str()];
        let image = local["image"].as_str().unwrap_or_default();
        assert!(
            image.starts_with("attendance-bridge-"),
            "the override gives {name} a local image: {image}"
        );
        let context = local["build"]["context"]
            .as_str()
            .unwrap_or_else(|| panic!("the override builds {name}"));
        assert!(
            repository().join(context).join("Dockerfile").is_file(),
            "{name} builds from {context}/Dockerfile"
        );
    }
    for (name, service) in compose["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        assert_eq!(
            offline["services"][name]["pull_policy"].as_str(),
            Some("never"),
            "offline, {name} is never pulled"
        );
        if service["image"].as_str() != Some("attendance-bridge:latest") {
            continue;
        }
        // The bridge's image from host binaries: the runtime Dockerfile (a path relative to the
        // context, which the build fills with the binaries, so it need not exist yet).
        let build = &offline["services"][name]["build"];
        let context = build["context"].as_str().unwrap();
        let dockerfile = build["dockerfile"].as_str().unwrap();
        assert_eq!(
            lexically_normal(&Path::new(context).join(dockerfile)),
            Path::new("deploy/Dockerfile.runtime"),
            "{name} builds from deploy/Dockerfile.runtime"
        );
    }
    let runtime = std::fs::read_to_string(repository().join("deploy/Dockerfile.runtime"))
        .expect("deploy/Dockerfile.runtime exists");
    assert!(runtime.contains("ARG BASE_IMAGE="));
}

#[test]
fn the_internal_endpoints_are_not_published_and_each_service_holds_only_its_own_key() {
    let compose = compose();
    let config = service(&compose, "config-service");
    let internal = environment(config)["CONFIG_SERVICE_INTERNAL_BIND"].clone();
    let port = internal.rsplit(':').next().unwrap().to_owned();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        for (host, container) in published(service) {
            assert!(
                host != port && container != port,
                "{} publishes {host}:{container}, the internal port",
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
