//! The control API of `possim host` and `possim proxy`: HTTP/JSON on
//! loopback, so a test harness can steer a real-time run step by step.
//!
//! ```text
//! GET  /status                       counters, defences, faults
//! PUT  /defences/{name}  {"on": b}   switch a host check ("mac", "arqc", ...)
//! PUT  /faults/{name}    {"armed": b} arm or disarm a link rule ("loss", ...)
//! POST /reset           {}           back to the scenario's defences and faults
//! ```
//!
//! A name the target does not have is a 404 with the names it has; a body
//! that is not the JSON above is a 400, 415 or 422 (axum's); a `Host` that is
//! not a loopback name is a 403.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::watch;

/// Something the control API can steer.
pub trait Controlled: Send + Sync + 'static {
    /// Counters and the current switches, as JSON.
    fn status(&self) -> Value;
    /// Switches a defence; `Err` lists the known names.
    fn set_defence(&self, name: &str, on: bool) -> Result<(), String>;
    /// Arms or disarms a fault or attack rule; `Err` lists the known names.
    fn arm(&self, name: &str, armed: bool) -> Result<(), String>;
    /// Back to the scenario's switches.
    fn reset(&self);
}

/// Why the control API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Only loopback addresses are allowed.
    #[error("--control {0}: the control API listens on loopback only (127.0.0.1 or ::1)")]
    NotLoopback(SocketAddr),
    /// Binding failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

#[derive(serde::Deserialize)]
struct On {
    on: bool,
}

#[derive(serde::Deserialize)]
struct Armed {
    armed: bool,
}

type Target = Arc<dyn Controlled>;

fn answer(r: Result<(), String>, what: Value) -> (StatusCode, Json<Value>) {
    match r {
        Ok(()) => (StatusCode::OK, Json(what)),
        Err(e) => (StatusCode::NOT_FOUND, Json(json!({ "error": e }))),
    }
}

/// The routes, for a target.
pub fn router(target: Target) -> Router {
    Router::new()
        .route("/status", get(|State(t): State<Target>| async move { Json(t.status()) }))
        .route(
            "/defences/{name}",
            put(|State(t): State<Target>, Path(name): Path<String>, Json(b): Json<On>| async move {
                answer(t.set_defence(&name, b.on), json!({ "defence": name, "on": b.on }))
            }),
        )
        .route(
            "/faults/{name}",
            put(|State(t): State<Target>, Path(name): Path<String>, Json(b): Json<Armed>| async move {
                answer(t.arm(&name, b.armed), json!({ "fault": name, "armed": b.armed }))
            }),
        )
        .route(
            // A JSON body ({}), like every change: a web page cannot send
            // one cross-origin without the browser asking first.
            "/reset",
            post(|State(t): State<Target>, Json(_): Json<Value>| async move {
                t.reset();
                Json(json!({ "reset": true }))
            }),
        )
        .layer(axum::middleware::from_fn(loopback_host))
        .with_state(target)
}

/// Refuses requests whose `Host` is not a loopback name (a web page that
/// rebinds its own name to 127.0.0.1 cannot read or steer the run).
async fn loopback_host(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let host =
        req.headers().get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((n, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => host,
    };
    if matches!(name, "localhost" | "127.0.0.1" | "[::1]") {
        next.run(req).await
    } else {
        let body = json!({ "error": format!("Host `{host}` is not loopback: the control API answers localhost only") });
        (StatusCode::FORBIDDEN, Json(body)).into_response()
    }
}

/// A running control API.
pub struct ControlServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ControlServer {
    /// Binds `addr` (loopback only) and serves `target` on its own thread.
    pub fn start(addr: SocketAddr, target: Target) -> Result<Self, ControlError> {
        if !addr.ip().is_loopback() {
            return Err(ControlError::NotLoopback(addr));
        }
        let std = std::net::TcpListener::bind(addr)
            .map_err(|source| ControlError::Bind { addr, source })?;
        std.set_nonblocking(true).map_err(|source| ControlError::Bind { addr, source })?;
        let bound = std.local_addr().map_err(|source| ControlError::Bind { addr, source })?;
        let (stop, mut stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("possim-control".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(std) else { return };
                    let _ = axum::serve(listener, router(target))
                        .with_graceful_shutdown(async move {
                            let _ = stopped.wait_for(|s| *s).await;
                        })
                        .await;
                });
            })
            .map_err(|source| ControlError::Bind { addr, source })?;
        Ok(Self { addr: bound, stop, thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
