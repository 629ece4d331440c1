//! `GET /v1/agent/monitor?loglevel=`: the server's recent log lines, then
//! each new one as it is written, until the client goes away or the server
//! stops.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use tokio::sync::broadcast::error::RecvError;

use super::super::{Req, bad_request};
use crate::state::{Level, Line};

pub(crate) fn monitor(req: &Req) -> Response {
    let raw = req.query.get("loglevel").unwrap_or("");
    let wanted = if raw.is_empty() { "INFO" } else { raw };
    let Some(min) = Level::parse(wanted) else {
        return bad_request(format!(
            "Unknown log level: {}",
            wanted.to_ascii_uppercase()
        ));
    };
    let (recent, lines) = req.state.shared.log.subscribe();
    let start = (
        VecDeque::from(recent),
        lines,
        req.state.shared.shutdown.clone(),
    );
    let stream =
        futures_util::stream::unfold(start, move |(mut recent, mut lines, shutdown)| async move {
            loop {
                let line: Result<Line, RecvError> = match recent.pop_front() {
                    Some(l) => Ok(l),
                    None => tokio::select! {
                        r = lines.recv() => r,
                        () = shutdown.cancelled() => return None,
                    },
                };
                match line {
                    Ok(l) if l.level >= min => {
                        let mut text = String::with_capacity(l.text.len() + 1);
                        text.push_str(&l.text);
                        text.push('\n');
                        let chunk = Ok::<_, Infallible>(Bytes::from(text));
                        return Some((chunk, (recent, lines, shutdown)));
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                }
            }
        });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = StatusCode::OK;
    // Go sniffs an empty first flush as plain text.
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
