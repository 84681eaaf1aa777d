//! A webhook receiver as the IT portal runs one: it records every request (its `webhook-*`
//! headers and body) and answers as the test says: 204, 503 (down), or not at all (hanging).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept = 0,
    Fail = 1,
    /// Holds every request for a minute without answering.
    Hang = 2,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// Whether it was answered 2xx.
    pub accepted: bool,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a webhook body is JSON")
    }

    /// The event type of the body.
    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

#[derive(Default)]
struct State {
    answer: AtomicU8,
    received: Mutex<Vec<Received>>,
}

pub struct WebhookReceiver {
    state: Arc<State>,
    url: String,
    server: actix_web::dev::ServerHandle,
}

impl WebhookReceiver {
    /// Starts on a free port, answering 204.
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("the webhook receiver binds");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            state,
            url: format!("http://127.0.0.1:{port}/attendance-bridge/webhooks"),
            server: handle,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn answer(&self, answer: Answer) {
        self.state.answer.store(answer as u8, Ordering::SeqCst);
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The webhooks answered 2xx, in order.
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.accepted).collect()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn receive(state: web::Data<State>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let answer = state.answer.load(Ordering::SeqCst);
    let accepted = answer == Answer::Accept as u8;
    state.received.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        accepted,
    });
    match answer {
        0 => HttpResponse::NoContent().finish(),
        1 => HttpResponse::ServiceUnavailable().body("down for maintenance"),
        _ => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            HttpResponse::NoContent().finish()
        }
    }
}
