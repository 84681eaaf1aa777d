//! What the service answers a terminal, as plain functions over the registry and the intake:
//! [`super::push`] only turns HTTP into these calls and their answers back into HTTP.

use std::net::IpAddr;

use chrono::{Offset, Utc};
use clock_push::{handshake_reply, upload_ack, HandshakeOptions, SerialNumber, Table};
use serde_json::json;

use super::intake::{self, time_zone};
use super::network::Network;
use crate::store::clocks::{self, Clock, DISABLED};
use crate::AppState;

/// An answer to a terminal: `ok` answers are what the protocol expects; the others are text the
/// terminal does not take as an acknowledgement, so it keeps its data and tries again later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub ok: bool,
    /// Refused for what the terminal is (disabled, from outside its network) rather than for a
    /// failure of ours.
    pub refused: bool,
    pub text: String,
}

impl Answer {
    fn ok(text: String) -> Self {
        Self {
            ok: true,
            refused: false,
            text,
        }
    }

    fn refused(reason: &str) -> Self {
        Self {
            ok: false,
            refused: true,
            text: format!("ERROR: {reason}\n"),
        }
    }

    fn failed() -> Self {
        Self {
            ok: false,
            refused: false,
            text: "ERROR: not stored, send again\n".to_owned(),
        }
    }
}

/// The clock calling, registered if new; `Err` with the answer when it may not talk to us.
async fn admitted(
    state: &AppState,
    serial: &SerialNumber,
    peer: Option<IpAddr>,
    handshake: Option<serde_json::Value>,
) -> Result<Clock, Answer> {
    let mut conn = db::connection(&state.pool).await.map_err(|error| {
        tracing::warn!(%error, "clock request: database unavailable");
        Answer::failed()
    })?;
    let address = peer.map(|ip| ip.to_string());
    let clock = clocks::calling(&mut conn, serial.as_str(), handshake, address.as_deref())
        .await
        .map_err(|error| {
            tracing::warn!(%error, serial = %serial, "clock request: registry unavailable");
            Answer::failed()
        })?;
    let Some(clock) = clock else {
        tracing::warn!(serial = %serial, peer = ?peer, "unknown clock not recorded: too many clocks wait for approval");
        return Err(Answer::refused("too many clocks wait for approval"));
    };
    if clock.state == DISABLED {
        return Err(Answer::refused("this clock is disabled"));
    }
    if let Some(allowed) = &clock.allowed_network {
        let inside = Network::parse(allowed)
            .zip(peer)
            .is_some_and(|(network, ip)| network.contains(ip));
        if !inside {
            tracing::warn!(serial = %serial, peer = ?peer, %allowed, "clock calls from outside its network");
            return Err(Answer::refused("not allowed from this address"));
        }
    }
    Ok(clock)
}

/// `GET /iclock/cdata`: records the terminal (pending when new) and gives it its options, so it
/// starts uploading.
pub async fn handshake(
    state: &AppState,
    serial: &SerialNumber,
    peer: Option<IpAddr>,
    options: Option<&str>,
    push_version: Option<&str>,
) -> Answer {
    let said = json!({ "options": options, "pushver": push_version });
    let clock = match admitted(state, serial, peer, Some(said)).await {
        Ok(clock) => clock,
        Err(answer) => return answer,
    };
    let offset = Utc::now()
        .with_timezone(&time_zone(&clock))
        .offset()
        .fix()
        .local_minus_utc()
        / 60;
    let options = HandshakeOptions {
        time_zone_minutes: offset,
        ..HandshakeOptions::default()
    };
    Answer::ok(handshake_reply(serial, &options))
}

/// `POST /iclock/cdata`: an ATTLOG upload is stored (one transaction) and acknowledged with the
/// number of its lines; other tables are acknowledged and not kept.
pub async fn upload(
    state: &AppState,
    serial: &SerialNumber,
    peer: Option<IpAddr>,
    table: &Table,
    body: &[u8],
) -> Answer {
    let clock = match admitted(state, serial, peer, None).await {
        Ok(clock) => clock,
        Err(answer) => return answer,
    };
    if *table != Table::AttLog {
        return Answer::ok(upload_ack(intake::lines(body).len()));
    }
    match intake::store_attlog(state, &clock, body).await {
        Ok(stored) => {
            tracing::info!(
                serial = %serial,
                import = stored.import_id,
                lines = stored.lines,
                new = stored.written.summary.punches_new,
                known = stored.written.summary.duplicate_punches_known,
                "clock upload stored"
            );
            Answer::ok(upload_ack(stored.lines))
        }
        Err(error) => {
            tracing::warn!(%error, serial = %serial, "clock upload not stored");
            Answer::failed()
        }
    }
}

/// `GET /iclock/getrequest` (the heartbeat; seen now) and `POST /iclock/devicecmd`: `OK`, no
/// command.
pub async fn poll(state: &AppState, serial: &SerialNumber, peer: Option<IpAddr>) -> Answer {
    match admitted(state, serial, peer, None).await {
        Ok(_) => Answer::ok(clock_push::ACK_OK.to_owned()),
        Err(answer) => answer,
    }
}
