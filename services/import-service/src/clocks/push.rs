//! The terminal endpoints (`/iclock/…`, on the clock listener only): HTTP in, the calls of
//! [`super::terminal`], plain text out.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use clock_push::{classify, TerminalRequest};

use super::terminal::{self, Answer};
use crate::AppState;

/// The path prefix of the terminal endpoints.
pub const PREFIX: &str = "/iclock/";

pub fn configure(config: &mut web::ServiceConfig) {
    config.route("/iclock/{endpoint}", web::route().to(terminal_request));
}

fn text(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

fn reply(answer: Answer) -> HttpResponse {
    // A failure of ours is still a 200 with a text the terminal does not take as an
    // acknowledgement: it tries again after its ErrorDelay, and nothing in between reads a
    // 5xx as the server being down.
    let status = if answer.refused {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    text(status, answer.text)
}

async fn terminal_request(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let request = match classify(req.method().as_str(), req.path(), req.query_string()) {
        Ok(request) => request,
        Err(error) => return text(StatusCode::BAD_REQUEST, format!("ERROR: {error}\n")),
    };
    let peer = req.peer_addr().map(|addr| addr.ip());
    let answer = match &request {
        TerminalRequest::Handshake {
            serial,
            options,
            push_version,
        } => {
            terminal::handshake(
                &state,
                serial,
                peer,
                options.as_deref(),
                push_version.as_deref(),
            )
            .await
        }
        TerminalRequest::Upload { serial, table, .. } => {
            terminal::upload(&state, serial, peer, table, &body).await
        }
        TerminalRequest::Poll { serial, .. } | TerminalRequest::CommandResult { serial } => {
            terminal::poll(&state, serial, peer).await
        }
    };
    reply(answer)
}
