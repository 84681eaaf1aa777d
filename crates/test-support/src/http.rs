//! What tests ask services over HTTP: readiness, metrics, a company's id.

use std::time::Duration;

/// How tests' HTTP clients are built. A connection idle for 2 s is not used again: the services
/// close idle connections after 5 s (actix-web's keep-alive), and a request sent on a connection
/// the server is just closing fails ("IncompleteMessage"), which a busy machine makes likely.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2))
}

/// A tests' HTTP client ([`client_builder`]).
pub fn client() -> reqwest::Client {
    client_builder().build().expect("HTTP client")
}

/// The HTTP status of `GET {base_url}{path}`, or 0 when nothing answered.
pub async fn status_of(client: &reqwest::Client, base_url: &str, path: &str) -> u16 {
    client
        .get(format!("{base_url}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|response| response.status().as_u16())
        .unwrap_or(0)
}

/// A service's `/metrics`, as text.
pub async fn metrics(client: &reqwest::Client, base_url: &str) -> String {
    client
        .get(format!("{base_url}/metrics"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("{base_url}/metrics: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("{base_url}/metrics: {e}"))
}

/// The value of the series `name` in Prometheus text whose labels include `labels` (in any
/// order), or None when there is no such series.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((series_name, rest)) => (series_name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let has = |(label, wanted): &(&str, &str)| {
                series_labels
                    .split(',')
                    .any(|pair| pair == format!("{label}=\"{wanted}\""))
            };
            (series_name == name && labels.iter().all(has))
                .then(|| value.parse().ok())
                .flatten()
        })
}

/// The id config-service (at `config_base`) gives the company `slug`, asked with `token`.
pub async fn company_id(
    client: &reqwest::Client,
    config_base: &str,
    token: &str,
    slug: &str,
) -> i64 {
    let response = client
        .get(format!("{config_base}/v1/companies/{slug}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("company {slug}: {e}"));
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("company {slug}: {status} {body}"))
}

#[cfg(test)]
mod tests {
    use super::metric_value;

    #[test]
    fn a_series_is_found_by_name_and_some_of_its_labels() {
        let text = "# HELP bridge_deliveries Deliveries by state\n\
                    bridge_deliveries{company=\"4\",service=\"sync-service\",state=\"held\"} 3\n\
                    bridge_deliveries{company=\"40\",service=\"sync-service\",state=\"held\"} 7\n\
                    bridge_up 1\n";
        let held = |company| {
            metric_value(
                text,
                "bridge_deliveries",
                &[("state", "held"), ("company", company)],
            )
        };
        assert_eq!(held("4"), Some(3.0));
        assert_eq!(held("40"), Some(7.0));
        assert_eq!(held("5"), None);
        assert_eq!(metric_value(text, "bridge_up", &[]), Some(1.0));
        assert_eq!(metric_value(text, "bridge", &[]), None);
    }
}
