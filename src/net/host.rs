//! `possim host`: the scenario's acquirer/issuer on a real socket.
//!
//! Two threads and a channel pair. The world thread runs the same Bevy world
//! as `possim run` (paced to wall time, no customers of its own: see
//! [`Plan::serve_only`]), so the same host core, checks, ledger, monitor and
//! journal answer real terminals. The I/O thread (a tokio runtime) accepts
//! TCP or TLS connections, frames messages (PROTOCOL.md §1) and hands each
//! to the world through the [`Bridge`]; answers come back the same way.
//!
//! Hostile peers: a frame longer than 8192 bytes, a broken TLS handshake or
//! a connection idle longer than the idle timeout closes that connection
//! only; a malformed message reaches the host, which answers 30 or nothing,
//! and never changes the ledger. A peer that sends faster than the world
//! answers is slowed by TCP (the inbound queue is bounded).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::frame;
use crate::report::RunReport;
use crate::sim::{Bridge, Inbound, Journal, Outbound, Plan};

/// How the server listens.
#[derive(Clone)]
pub struct ServeOptions {
    /// Where to listen (port 0: any free port; see [`HostServer::addr`]).
    pub listen: SocketAddr,
    /// TLS, or plain TCP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// A connection with no complete frame for this long is closed (also the
    /// TLS handshake's limit).
    pub idle: std::time::Duration,
    /// Connections beyond this many are closed as soon as accepted.
    pub max_connections: usize,
    /// Frames waiting for the world, across all connections.
    pub queue: usize,
    /// Keep APDUs and frame bytes in the journal.
    pub frames_in_journal: bool,
}

impl ServeOptions {
    /// Plain TCP on `listen`, 30 s idle timeout, 1024 connections.
    pub fn tcp(listen: SocketAddr) -> Self {
        Self {
            listen,
            tls: None,
            idle: std::time::Duration::from_secs(30),
            max_connections: 1024,
            queue: 4096,
            frames_in_journal: true,
        }
    }
}

/// Why the server could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A thread or runtime could not be started.
    #[error("starting the server: {0}")]
    Start(std::io::Error),
    /// The journal could not be written.
    #[error("writing the journal: {0}")]
    Journal(String),
    /// A server thread stopped abnormally.
    #[error("a server thread stopped abnormally")]
    Thread,
}

/// What happened on the sockets (the report's counters are the world's).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConnStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Closed at once: too many connections.
    pub refused_busy: u64,
    /// TLS handshakes that failed (no certificate, wrong CA, old version, garbage).
    pub tls_failed: u64,
    /// Closed for a framing error (a length above 8192, a frame cut short).
    pub framing_errors: u64,
    /// Closed for idleness (or a sender too slow to finish a frame).
    pub idle_closed: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames answered.
    pub frames_out: u64,
    /// Closed because they did not read their answers.
    pub not_reading: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) refused_busy: AtomicU64,
    pub(super) tls_failed: AtomicU64,
    pub(super) framing_errors: AtomicU64,
    pub(super) idle_closed: AtomicU64,
    pub(super) frames_in: AtomicU64,
    pub(super) frames_out: AtomicU64,
    pub(super) not_reading: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> ConnStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ConnStats {
            accepted: g(&self.accepted),
            refused_busy: g(&self.refused_busy),
            tls_failed: g(&self.tls_failed),
            framing_errors: g(&self.framing_errors),
            idle_closed: g(&self.idle_closed),
            frames_in: g(&self.frames_in),
            frames_out: g(&self.frames_out),
            not_reading: g(&self.not_reading),
        }
    }
}

/// Connection id -> its answer queue, the registration's token, and
/// whether that connection is only lingering after a half-close.
pub(super) type Writers = Arc<Mutex<HashMap<u64, (mpsc::Sender<Vec<u8>>, u64, Arc<AtomicBool>)>>>;

/// Answers waiting to be written to one connection. A peer that sends but
/// does not read fills this, and is disconnected rather than let memory grow.
const ANSWER_QUEUE: usize = 1024;

/// Stops a running server: no new connections or frames, answers to what
/// was already received, then the end of the day and the report.
#[derive(Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    /// Asks the server to stop (idempotent).
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

/// A running host server.
pub struct HostServer {
    addr: SocketAddr,
    stopper: Stopper,
    io: JoinHandle<()>,
    world: JoinHandle<Result<RunReport, ServeError>>,
    counters: Arc<Counters>,
    steer: Arc<HostControl>,
}

/// The host's side of the control API: defences switch through the
/// world's command channel (applied before the next event, and journalled).
pub struct HostControl {
    commands: Sender<crate::sim::Command>,
    defences: Mutex<std::collections::BTreeMap<&'static str, bool>>,
    initial: std::collections::BTreeMap<&'static str, bool>,
    counters: Arc<Counters>,
}

impl super::control::Controlled for HostControl {
    fn status(&self) -> serde_json::Value {
        let defences = self.defences.lock().map(|d| d.clone()).unwrap_or_default();
        serde_json::json!({ "connections": self.counters.snapshot(), "defences": defences })
    }

    fn set_defence(&self, name: &str, on: bool) -> Result<(), String> {
        let mut d = self.defences.lock().map_err(|_| "poisoned".to_string())?;
        let Some(slot) = d.get_mut(name) else {
            let known: Vec<&str> = d.keys().copied().collect();
            return Err(format!("no defence `{name}`; the host's: {}", known.join(", ")));
        };
        *slot = on;
        let _ = self.commands.send(crate::sim::Command::SetDefence { check: name.into(), on });
        Ok(())
    }

    fn arm(&self, _name: &str, _armed: bool) -> Result<(), String> {
        Err("possim host puts no faults on its connections: steer them on `possim proxy --control`"
            .into())
    }

    fn reset(&self) {
        if let Ok(mut d) = self.defences.lock() {
            for (name, on) in &self.initial {
                if d.get(name) != Some(on) {
                    let _ = self
                        .commands
                        .send(crate::sim::Command::SetDefence { check: (*name).into(), on: *on });
                }
            }
            d.clone_from(&self.initial);
        }
    }
}

impl HostServer {
    /// Binds, builds the world and starts serving; returns once the world
    /// is ready to answer. `plan` is made serve-only here; `file` names the
    /// scenario in the report.
    pub fn start(
        plan: Plan,
        opts: ServeOptions,
        journal: Option<Journal>,
        file: &str,
    ) -> Result<Self, ServeError> {
        Self::start_with(plan, opts, journal, Vec::new(), file)
    }

    /// As [`HostServer::start`], with record subscribers (a pcap writer).
    pub fn start_with(
        mut plan: Plan,
        opts: ServeOptions,
        journal: Option<Journal>,
        subscribers: Vec<Box<dyn crate::sim::Subscriber>>,
        file: &str,
    ) -> Result<Self, ServeError> {
        plan.serve_only();
        let std_listener = std::net::TcpListener::bind(opts.listen)
            .map_err(|source| ServeError::Bind { addr: opts.listen, source })?;
        std_listener.set_nonblocking(true).map_err(ServeError::Start)?;
        let addr = std_listener.local_addr().map_err(ServeError::Start)?;

        let (bridge, to_world, from_world) = Bridge::bounded(opts.queue.max(1));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (world_stop_tx, world_stop_rx) = crossbeam_channel::bounded::<()>(1);
        let counters = Arc::new(Counters::default());
        let writers: Writers = Arc::default();

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Start)?;
        let io = {
            let (counters, writers, opts) = (counters.clone(), writers.clone(), opts.clone());
            std::thread::Builder::new()
                .name("possim-io".into())
                .spawn(move || {
                    rt.block_on(io_main(
                        std_listener,
                        opts,
                        to_world,
                        from_world,
                        writers,
                        counters,
                        stop_rx,
                        world_stop_tx,
                    ));
                })
                .map_err(ServeError::Start)?
        };
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let (control, commands) = crate::sim::Control::new();
        let defences: std::collections::BTreeMap<&'static str, bool> = crate::host::Check::ALL
            .iter()
            .filter(|c| c.is_defence())
            .map(|c| (c.name(), plan.host.rules.is_on(*c)))
            .collect();
        let steer = Arc::new(HostControl {
            commands,
            defences: Mutex::new(defences.clone()),
            initial: defences,
            counters: counters.clone(),
        });
        let world = {
            let file = file.to_string();
            let frames = opts.frames_in_journal;
            std::thread::Builder::new()
                .name("possim-world".into())
                .spawn(move || {
                    let how = super::world::How { speed: 1.0, open_ended: true, frames };
                    let wiring = super::world::Wiring {
                        bridge,
                        stop: world_stop_rx,
                        ready: Some(ready_tx),
                        control: Some(control),
                        subscribers,
                    };
                    super::world::run(plan, journal, how, wiring, &file)
                        .map_err(ServeError::Journal)
                })
                .map_err(ServeError::Start)?
        };
        // Ready once the world is built (thousands of cards take a moment):
        // frames sent before then would only wait.
        let _ = ready_rx.recv();
        Ok(Self { addr, stopper: Stopper(Arc::new(stop_tx)), io, world, counters, steer })
    }

    /// The address it listens on (the port chosen when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server (from a signal handler, a test).
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// What the control API steers.
    pub fn control(&self) -> Arc<HostControl> {
        self.steer.clone()
    }

    /// The socket counters so far.
    pub fn stats(&self) -> ConnStats {
        self.counters.snapshot()
    }

    /// Waits until the server has stopped; the day's report and the
    /// socket counters.
    pub fn wait(self) -> Result<(RunReport, ConnStats), ServeError> {
        let report = self.world.join().map_err(|_| ServeError::Thread)?;
        self.io.join().map_err(|_| ServeError::Thread)?;
        Ok((report?, self.counters.snapshot()))
    }
}

/// Moves the world's answers to the connections' writer tasks.
pub(super) fn forward_answers(
    from_world: Receiver<Outbound>,
    writers: Writers,
    counters: Arc<Counters>,
) {
    for m in from_world.iter() {
        let w = writers.lock().ok().and_then(|w| w.get(&m.conn).cloned());
        let Some((tx, token, _)) = w else { continue };
        let answer = !m.bytes.is_empty();
        match tx.try_send(m.bytes) {
            Ok(()) => {
                if answer {
                    counters.frames_out.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                // It does not read its answers (and nothing slowed it): close it.
                counters.not_reading.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut w) = writers.lock()
                    && w.get(&m.conn).is_some_and(|(_, t, _)| *t == token)
                {
                    w.remove(&m.conn);
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
    // The world is done: let every writer finish and close.
    if let Ok(mut w) = writers.lock() {
        w.clear();
    }
}

#[allow(clippy::too_many_arguments)]
async fn io_main(
    std_listener: std::net::TcpListener,
    opts: ServeOptions,
    to_world: Sender<Inbound>,
    from_world: Receiver<Outbound>,
    writers: Writers,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
    world_stop: Sender<()>,
) {
    let forwarder = {
        let (writers, counters) = (writers.clone(), counters.clone());
        std::thread::Builder::new()
            .name("possim-answers".into())
            .spawn(move || forward_answers(from_world, writers, counters))
    };
    let listener = tokio::net::TcpListener::from_std(std_listener).ok();
    // Each reader holds a sender; when all are gone, nothing more comes in.
    let (readers_tx, mut readers_rx) = mpsc::channel::<()>(1);
    // Each connection task holds one; when all are gone, every answer is written.
    let (tasks_tx, mut tasks_rx) = mpsc::channel::<()>(1);
    let active = Arc::new(AtomicU64::new(0));
    let tls = opts.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let mut next_conn = 0u64;
    if let Some(listener) = listener {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.wait_for(|s| *s) => break,
            };
            let Ok((tcp, _peer)) = accepted else {
                // Out of descriptors, say: wait rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            if active.load(Ordering::Relaxed) >= opts.max_connections as u64 {
                counters.refused_busy.fetch_add(1, Ordering::Relaxed);
                drop(tcp);
                continue;
            }
            let _ = tcp.set_nodelay(true);
            next_conn += 1;
            let Some(answers) = register(&writers, next_conn, next_conn) else { continue };
            let conn = Conn {
                id: next_conn,
                token: next_conn,
                answers,
                to_world: to_world.clone(),
                writers: writers.clone(),
                counters: counters.clone(),
                stop: stop.clone(),
                idle: opts.idle,
                // The host answers every frame straight away (or says it
                // will not): count the answers, bound what is in flight.
                linger: Linger { quiet: std::time::Duration::from_secs(1), counted: true },
                window: Some(ANSWER_QUEUE),
                _reader: readers_tx.clone(),
            };
            let (tls, active, task) = (tls.clone(), active.clone(), tasks_tx.clone());
            active.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                match tls {
                    None => conn.serve(tcp).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(conn.idle, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => conn.serve(s).await,
                            _ => {
                                conn.counters.tls_failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                active.fetch_sub(1, Ordering::Relaxed);
                drop(task);
            });
        }
    }
    // Stopped: no new connections; wait for the readers to put down their
    // last frames, then tell the world.
    drop(readers_tx);
    let _ = readers_rx.recv().await;
    drop(to_world);
    let _ = world_stop.send(());
    // The world answers, ends its day and drops its end of the channel; the
    // forwarder then releases every writer.
    drop(tasks_tx);
    let _ = tasks_rx.recv().await;
    if let Ok(f) = forwarder {
        let _ = tokio::task::spawn_blocking(move || f.join()).await;
    }
}

/// After a peer half-closes (sends EOF but still reads), how long its
/// answers may take.
#[derive(Debug, Clone, Copy)]
pub(super) struct Linger {
    /// Close once no answer has been written for this long.
    pub(super) quiet: std::time::Duration,
    /// Close as soon as every frame received has its answer (not when a
    /// link between can duplicate or inject frames).
    pub(super) counted: bool,
}

/// One accepted connection, its answer queue already registered under `id`
/// (by the acceptor, so two connections can never share an id).
pub(super) struct Conn {
    pub(super) id: u64,
    /// Which registration is this connection's (ids can be reused).
    pub(super) token: u64,
    pub(super) answers: (mpsc::Receiver<Vec<u8>>, Arc<AtomicBool>),
    pub(super) to_world: Sender<Inbound>,
    pub(super) writers: Writers,
    pub(super) counters: Arc<Counters>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) idle: std::time::Duration,
    pub(super) linger: Linger,
    /// With every frame answered (or marked unanswered) by the world: at
    /// most this many frames in flight, so a client that does not read is
    /// slowed down, never cut off or buffered without bound.
    pub(super) window: Option<usize>,
    pub(super) _reader: mpsc::Sender<()>,
}

/// Registers a connection's answer queue under `id`; `None` if `id` is
/// taken by an open connection (a real terminal's address takes one at a
/// time). A connection that is only lingering after its peer half-closed
/// yields: the new one takes the id, and answers still due go to it.
pub(super) fn register(
    writers: &Writers,
    id: u64,
    token: u64,
) -> Option<(mpsc::Receiver<Vec<u8>>, Arc<AtomicBool>)> {
    let mut w = writers.lock().ok()?;
    if w.get(&id).is_some_and(|(_, _, lingering)| !lingering.load(Ordering::Relaxed)) {
        return None;
    }
    let (tx, rx) = mpsc::channel::<Vec<u8>>(ANSWER_QUEUE);
    let lingering = Arc::new(AtomicBool::new(false));
    w.insert(id, (tx, token, lingering.clone()));
    Some((rx, lingering))
}

impl Conn {
    pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(self, stream: S) {
        let Conn {
            id,
            token,
            answers: (mut rx, lingering),
            to_world,
            writers,
            counters,
            mut stop,
            idle,
            linger,
            window,
            _reader,
        } = self;
        let (rd, mut wr) = tokio::io::split(stream);
        let mut rd = frame::FrameReader::new(rd);
        let permits = window.map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
        let written = Arc::new(AtomicU64::new(0));
        let (writer_done, mut writer_gone) = tokio::sync::oneshot::channel::<()>();
        let writer = {
            let (written, permits) = (written.clone(), permits.clone());
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    // An empty message is the world's "no answer" for a frame.
                    if !m.is_empty() {
                        // A peer that stops reading cannot hold the server up.
                        match tokio::time::timeout(idle, frame::write(&mut wr, &m)).await {
                            Ok(Ok(())) => {}
                            _ => break,
                        }
                    }
                    written.fetch_add(1, Ordering::Relaxed);
                    if let Some(p) = &permits {
                        p.add_permits(1);
                    }
                }
                let _ = tokio::time::timeout(idle, wr.shutdown()).await;
                let _ = writer_done.send(());
            })
        };
        let mut received = 0u64;
        let mut stopped = *stop.borrow();
        while !stopped {
            let r = tokio::select! {
                r = tokio::time::timeout(idle, rd.next()) => r,
                _ = stop.wait_for(|s| *s) => { stopped = true; continue; }
                // The writer gave up (a peer that does not read): so does the reader.
                _ = &mut writer_gone => break,
            };
            match r {
                Err(_) => {
                    counters.idle_closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(Ok(Some(bytes))) => {
                    received += 1;
                    counters.frames_in.fetch_add(1, Ordering::Relaxed);
                    if let Some(p) = &permits {
                        // Wait for an answer to go out before taking more.
                        match tokio::time::timeout(idle, p.acquire()).await {
                            Ok(Ok(permit)) => permit.forget(),
                            _ => {
                                counters.not_reading.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                    if !send_to_world(&to_world, Inbound { conn: id, bytes }).await {
                        break;
                    }
                }
                Ok(Ok(None)) => {
                    // The peer finished sending (a half-close): its answers
                    // still go out, until all are written (when that can be
                    // counted) or none has come for the quiet time.
                    lingering.store(true, Ordering::Relaxed);
                    let started = std::time::Instant::now();
                    let mut last = written.load(Ordering::Relaxed);
                    let mut quiet = std::time::Instant::now();
                    loop {
                        let now = written.load(Ordering::Relaxed);
                        if (linger.counted && now >= received) || started.elapsed() >= idle {
                            break;
                        }
                        let replaced = writers
                            .lock()
                            .map_or(true, |w| w.get(&id).is_none_or(|(_, t, _)| *t != token));
                        if replaced {
                            break; // a new connection took over this id
                        }
                        if now != last {
                            (last, quiet) = (now, std::time::Instant::now());
                        } else if quiet.elapsed() > linger.quiet {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    break;
                }
                Ok(Err(frame::FrameError::Io(_))) => break,
                Ok(Err(_)) => {
                    counters.framing_errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        drop(_reader);
        if !stopped && let Ok(mut w) = writers.lock() {
            // Closing this connection only (and only its own registration):
            // its writer ends after what is queued.
            if w.get(&id).is_some_and(|(_, t, _)| *t == token) {
                w.remove(&id);
            }
        }
        let _ = writer.await;
    }
}

/// Hands a frame to the world, waiting while its queue is full (which
/// slows this peer down through TCP). False when the world is gone.
async fn send_to_world(to_world: &Sender<Inbound>, mut m: Inbound) -> bool {
    loop {
        match to_world.try_send(m) {
            Ok(()) => return true,
            Err(TrySendError::Full(back)) => {
                m = back;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
}
