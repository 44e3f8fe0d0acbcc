//! `possim proxy`: an ISO 8583-aware fault proxy between a real terminal
//! and a real host.
//!
//! Each accepted connection gets its own upstream connection and its own
//! [`LinkCore`] built from the scenario's link: the same rules (loss,
//! bursts, duplication, reordering, corruption, latency, bandwidth,
//! outages, and the man-in-the-middle attacks) decide each whole frame's
//! fate, on the scenario's timeline in wall time since the proxy started.
//! The link is named `<link>#<connection>`, so every decision is keyed by
//! (seed, connection, direction, message index) and is the same whatever
//! the timing of other connections. Each decision is journalled as one
//! JSON line.
//!
//! Copies that are due are written by one delay line per direction, in
//! (due time, order sent), so a delay keeps frames in order and a hold
//! lets later frames overtake, as in the world.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::frame;
use crate::link::{Dir, LinkCore, Meta};
use crate::protocol::iso8583::Spec;
use crate::protocol::pan::mask_pan;
use crate::sim::{LinkPlan, Plan};
use crate::time::SimTime;

/// How the proxy listens and where it forwards.
#[derive(Clone)]
pub struct ProxyOptions {
    /// Where terminals connect (port 0: any free port).
    pub listen: SocketAddr,
    /// The real host.
    pub upstream: SocketAddr,
    /// TLS towards terminals (the host's certificate, or the rogue one for a
    /// man in the middle), or plain TCP.
    pub tls_in: Option<Arc<rustls::ServerConfig>>,
    /// TLS towards the host, with the name its certificate must carry.
    pub tls_up: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
    /// A connection with no complete frame for this long is closed.
    pub idle: std::time::Duration,
    /// Connections beyond this many are closed as soon as accepted.
    pub max_connections: usize,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// No such link in the scenario.
    #[error("the scenario has no link `{0}` (its links: {1})")]
    NoLink(String, String),
    /// A thread or runtime could not start.
    #[error("starting the proxy: {0}")]
    Start(std::io::Error),
}

/// What the proxy did, in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProxyStats {
    /// Terminal connections accepted.
    pub connections: u64,
    /// Upstream connections that could not be made (the terminal's is closed).
    pub upstream_failed: u64,
    /// TLS handshakes with terminals that failed.
    pub tls_failed: u64,
    /// Frames received from terminals.
    pub frames_up: u64,
    /// Frames received from the host.
    pub frames_down: u64,
    /// Copies delivered (duplicates and injections included).
    pub delivered: u64,
    /// Frames lost (rules, outages, a full queue).
    pub lost: u64,
    /// How often each rule acted, by name.
    pub fired: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Shared {
    stats: Mutex<ProxyStats>,
    journal: Option<Mutex<Box<dyn Write + Send>>>,
    active: AtomicU64,
    /// The link's rules by name, armed or not as the scenario has them.
    initial: BTreeMap<String, bool>,
    /// Switches from the control API, applied to every connection's link.
    overrides: Mutex<BTreeMap<String, bool>>,
    /// Bumped on every switch, so connections notice cheaply.
    generation: AtomicU64,
    /// Every copy written, as it was written.
    pcap: Option<Mutex<crate::report::pcap::PcapWriter>>,
}

/// The proxy's side of the control API: arming and disarming the link's
/// rules on every connection, current and future.
pub struct ProxyControl(Arc<Shared>);

impl super::control::Controlled for ProxyControl {
    fn status(&self) -> serde_json::Value {
        let s = &self.0;
        let mut faults = s.initial.clone();
        if let Ok(o) = s.overrides.lock() {
            faults.extend(o.iter().map(|(k, v)| (k.clone(), *v)));
        }
        let stats = s.stats.lock().map(|x| x.clone()).unwrap_or_default();
        serde_json::json!({ "proxy": stats, "faults": faults })
    }

    fn set_defence(&self, _name: &str, _on: bool) -> Result<(), String> {
        Err("the proxy has no defences: steer them on `possim host --control`".into())
    }

    fn arm(&self, name: &str, armed: bool) -> Result<(), String> {
        let s = &self.0;
        if !s.initial.contains_key(name) {
            let known: Vec<&str> = s.initial.keys().map(String::as_str).collect();
            return Err(format!(
                "no rule `{name}` on this link; its rules: {}",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            ));
        }
        if let Ok(mut o) = s.overrides.lock() {
            o.insert(name.to_string(), armed);
        }
        s.generation.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn reset(&self) {
        if let Ok(mut o) = self.0.overrides.lock() {
            o.clear();
        }
        self.0.generation.fetch_add(1, Ordering::Relaxed);
    }
}

impl Shared {
    fn with_stats(&self, f: impl FnOnce(&mut ProxyStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    /// Writes a journal line; `line` is only built when there is a journal,
    /// so a proxy run without one formats nothing per frame.
    fn journal(&self, line: impl FnOnce() -> serde_json::Value) {
        if let Some(j) = &self.journal
            && let Ok(mut w) = j.lock()
        {
            let _ = writeln!(w, "{}", line());
        }
    }
}

/// A running proxy.
pub struct FaultProxy {
    addr: SocketAddr,
    stop: Arc<watch::Sender<bool>>,
    io: JoinHandle<()>,
    shared: Arc<Shared>,
}

/// Stops a proxy: no new connections; open ones are closed.
#[derive(Clone)]
pub struct ProxyStopper(Arc<watch::Sender<bool>>);

impl ProxyStopper {
    /// Stops (idempotent).
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl FaultProxy {
    /// Binds and starts proxying with the rules of `link` (default: the
    /// scenario's first link). Decisions are journalled to `journal`.
    pub fn start(
        plan: &Plan,
        link: Option<&str>,
        opts: ProxyOptions,
        journal: Option<Box<dyn Write + Send>>,
    ) -> Result<Self, ProxyError> {
        Self::start_with(plan, link, opts, journal, None)
    }

    /// As [`FaultProxy::start`], capturing every copy written to a pcap
    /// (its timestamps are wall time).
    pub fn start_with(
        plan: &Plan,
        link: Option<&str>,
        opts: ProxyOptions,
        journal: Option<Box<dyn Write + Send>>,
        pcap: Option<crate::report::pcap::PcapWriter>,
    ) -> Result<Self, ProxyError> {
        let lp = match link {
            Some(id) => plan.links.iter().find(|l| l.id == id),
            None => plan.links.first(),
        }
        .cloned()
        .ok_or_else(|| {
            let ids: Vec<&str> = plan.links.iter().map(|l| l.id.as_str()).collect();
            ProxyError::NoLink(link.unwrap_or("").to_string(), ids.join(", "))
        })?;
        let std_listener = std::net::TcpListener::bind(opts.listen)
            .map_err(|source| ProxyError::Bind { addr: opts.listen, source })?;
        std_listener.set_nonblocking(true).map_err(ProxyError::Start)?;
        let addr = std_listener.local_addr().map_err(ProxyError::Start)?;
        // The rules as the scenario arms them (a reference copy of the link).
        let reference =
            LinkCore::new(&lp.id, plan.seed, lp.params.clone(), lp.rules(), plan.spec.clone());
        let initial =
            reference.rules().iter().map(|r| (r.rule.name().to_string(), r.armed)).collect();
        let shared = Arc::new(Shared {
            journal: journal.map(Mutex::new),
            initial,
            pcap: pcap.map(Mutex::new),
            ..Shared::default()
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ProxyError::Start)?;
        let ctx = Arc::new(Ctx {
            link: lp,
            seed: plan.seed,
            spec: plan.spec.clone(),
            opts,
            start: Instant::now(),
        });
        let io = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("possim-proxy".into())
                .spawn(move || rt.block_on(accept_loop(std_listener, ctx, shared, stop_rx)))
                .map_err(ProxyError::Start)?
        };
        Ok(Self { addr, stop: Arc::new(stop_tx), io, shared })
    }

    /// The address terminals connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the control API steers.
    pub fn control(&self) -> Arc<ProxyControl> {
        Arc::new(ProxyControl(self.shared.clone()))
    }

    /// A handle that stops the proxy.
    pub fn stopper(&self) -> ProxyStopper {
        ProxyStopper(self.stop.clone())
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        self.shared.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits for the proxy to stop; the counters.
    pub fn wait(self) -> ProxyStats {
        let Self { io, shared, .. } = self;
        let _ = io.join();
        if let Some(p) = &shared.pcap
            && let Ok(mut p) = p.lock()
        {
            p.flush();
        }
        if let Some(j) = &shared.journal
            && let Ok(mut w) = j.lock()
        {
            let _ = w.flush();
        }
        shared.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// What every connection shares.
struct Ctx {
    link: LinkPlan,
    seed: u64,
    spec: Arc<Spec>,
    opts: ProxyOptions,
    start: Instant,
}

impl Ctx {
    /// Wall time since the start, as the scenario's timeline.
    fn now(&self) -> SimTime {
        SimTime(self.start.elapsed().as_micros() as u64)
    }

    fn instant(&self, at: SimTime) -> Instant {
        self.start + std::time::Duration::from_micros(at.0)
    }
}

async fn accept_loop(
    std_listener: std::net::TcpListener,
    ctx: Arc<Ctx>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else { return };
    let tls = ctx.opts.tls_in.clone().map(tokio_rustls::TlsAcceptor::from);
    let mut conn = 0u64;
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Ok((tcp, _)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        if shared.active.load(Ordering::Relaxed) >= ctx.opts.max_connections as u64 {
            continue;
        }
        let _ = tcp.set_nodelay(true);
        conn += 1;
        shared.with_stats(|s| s.connections += 1);
        shared.active.fetch_add(1, Ordering::Relaxed);
        let (ctx, shared, tls, stop, done) =
            (ctx.clone(), shared.clone(), tls.clone(), stop.clone(), done_tx.clone());
        tokio::spawn(async move {
            match tls {
                None => pair(conn, tcp, &ctx, &shared, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(ctx.opts.idle, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => pair(conn, s, &ctx, &shared, stop).await,
                        _ => shared.with_stats(|s| s.tls_failed += 1),
                    }
                }
            }
            shared.active.fetch_sub(1, Ordering::Relaxed);
            drop(done);
        });
    }
    drop(done_tx);
    let _ = done_rx.recv().await;
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn connect_up(ctx: &Ctx) -> Option<Box<dyn Stream>> {
    let tcp = TcpStream::connect(ctx.opts.upstream).await.ok()?;
    let _ = tcp.set_nodelay(true);
    match &ctx.opts.tls_up {
        None => Some(Box::new(tcp)),
        Some((cfg, name)) => {
            let s = tokio_rustls::TlsConnector::from(cfg.clone())
                .connect(name.clone(), tcp)
                .await
                .ok()?;
            Some(Box::new(s))
        }
    }
}

/// One terminal connection and its upstream twin.
async fn pair<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    conn: u64,
    down: S,
    ctx: &Arc<Ctx>,
    shared: &Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    // An upstream that accepts and then stalls cannot hold the proxy up.
    let mut stopping = stop.clone();
    let up = tokio::select! {
        u = tokio::time::timeout(ctx.opts.idle, connect_up(ctx)) => u.ok().flatten(),
        _ = stopping.wait_for(|s| *s) => None,
    };
    let Some(up) = up else {
        shared.with_stats(|s| s.upstream_failed += 1);
        return;
    };
    let link = Arc::new(Mutex::new(LinkCore::new(
        &format!("{}#{conn}", ctx.link.id),
        ctx.seed,
        ctx.link.params.clone(),
        ctx.link.rules(),
        ctx.spec.clone(),
    )));
    let (down_rd, down_wr) = tokio::io::split(down);
    let (up_rd, up_wr) = tokio::io::split(up);
    // Buffered: a frame usually takes one read, not two.
    let down_rd = frame::FrameReader::new(down_rd);
    let up_rd = frame::FrameReader::new(up_rd);
    // Delay lines: what is due towards the host, and towards the terminal.
    let (to_up, up_line) = mpsc::unbounded_channel();
    let (to_down, down_line) = mpsc::unbounded_channel();
    // Each line writes until its senders are gone and nothing is due.
    let tap =
        |dir| Tap { shared: shared.clone(), ctx: ctx.clone(), stream: format!("conn#{conn}"), dir };
    tokio::spawn(delay_line(up_line, up_wr, tap(Dir::Up)));
    tokio::spawn(delay_line(down_line, down_wr, tap(Dir::Down)));
    let terminal = Arc::new(Mutex::new(None::<String>));
    let back_down = to_down.downgrade();
    let back_up = to_up.downgrade();
    let sides = Sides { link: &link, terminal: &terminal, ctx, shared, conn };
    let from_terminal = sides.read(Dir::Up, down_rd, to_up, back_down, stop.clone());
    let from_host = sides.read(Dir::Down, up_rd, to_down, back_up, stop);
    tokio::pin!(from_terminal, from_host);
    tokio::select! {
        // The terminal is done: what it sent goes on to the host (the
        // upstream delay line drains and closes its half), and the host's
        // last answers still come back, for at most the idle time.
        _ = &mut from_terminal => {
            let _ = tokio::time::timeout(ctx.opts.idle, &mut from_host).await;
        }
        // The host closed: so does the terminal's connection.
        _ = &mut from_host => {}
    }
}

/// What both directions of a pair share.
struct Sides<'a> {
    link: &'a Arc<Mutex<LinkCore>>,
    terminal: &'a Arc<Mutex<Option<String>>>,
    ctx: &'a Arc<Ctx>,
    shared: &'a Arc<Shared>,
    conn: u64,
}

type Line = mpsc::UnboundedSender<(Instant, u64, Vec<u8>)>;
type WeakLine = mpsc::WeakUnboundedSender<(Instant, u64, Vec<u8>)>;

impl Sides<'_> {
    /// Reads one side's frames, decides each one's fate, and queues the
    /// copies on `fwd` (and what rules inject the other way on `back`).
    async fn read<R: AsyncRead + Unpin>(
        &self,
        dir: Dir,
        mut rd: frame::FrameReader<R>,
        fwd: Line,
        back: WeakLine,
        mut stop: watch::Receiver<bool>,
    ) {
        let Sides { link, terminal, ctx, shared, conn } = *self;
        let mut order = 0u64;
        let mut seen = 0u64;
        loop {
            let r = tokio::select! {
                r = tokio::time::timeout(ctx.opts.idle, rd.next()) => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            let Ok(Ok(Some(bytes))) = r else { return };
            let now = ctx.now();
            let mti = ctx.spec.peek_mti(&bytes);
            // A connection is one terminal: its id is read from the first
            // request that carries one (field 41), not decoded from every frame.
            let mut tid = terminal.lock().ok().and_then(|t| t.clone());
            if dir == Dir::Up && tid.is_none() {
                let (msg, _) = ctx.spec.decode_partial(&bytes);
                if let Some(t) = msg.as_ref().and_then(|m| m.terminal_id()) {
                    tid = Some(t.trim_end().to_string());
                    if let Ok(mut slot) = terminal.lock() {
                        slot.clone_from(&tid);
                    }
                }
            }
            let len = bytes.len();
            let (transit, index) = {
                let Ok(mut core) = link.lock() else { return };
                let generation = shared.generation.load(Ordering::Relaxed);
                if generation != seen {
                    // The control API switched rules: the scenario's state,
                    // then every switch so far.
                    seen = generation;
                    for (name, armed) in &shared.initial {
                        core.arm(name, *armed);
                    }
                    if let Ok(o) = shared.overrides.lock() {
                        for (name, armed) in o.iter() {
                            core.arm(name, *armed);
                        }
                    }
                }
                let meta = Meta { dir, mti, terminal: tid.as_deref() };
                let t = core.send(now, meta, bytes);
                (t, order)
            };
            order += 1;
            shared.with_stats(|s| {
                match dir {
                    Dir::Up => s.frames_up += 1,
                    Dir::Down => s.frames_down += 1,
                }
                if transit.dropped() {
                    s.lost += 1;
                }
                s.delivered += (transit.deliveries.len() + transit.injected.len()) as u64;
                for f in &transit.fired {
                    *s.fired.entry(f.fault.to_string()).or_default() += 1;
                }
            });
            shared.journal(|| {
                serde_json::json!({
            "at_us": now.0,
            "conn": conn,
            "dir": dir.as_str(),
            "index": index,
            "mti": mti.map(|m| m.to_string()),
            "terminal": tid,
            "bytes": len,
            "fired": transit.fired,
            "copies": transit.deliveries.iter().map(|d| d.at.0).collect::<Vec<_>>(),
            "changed": transit.changed,
            "injected": transit.injected.iter().map(|i| serde_json::json!({"dir": i.dir.as_str(), "at_us": i.at.0, "bytes": i.bytes.len()})).collect::<Vec<_>>(),
            "read": transit.stolen.iter().map(|(_, t)| mask_pan(&t.pan)).collect::<Vec<_>>(),
        })
            });
            for d in transit.deliveries {
                let _ = fwd.send((ctx.instant(d.at), index, d.bytes));
            }
            for i in transit.injected {
                let m = (ctx.instant(i.at), index, i.bytes);
                if i.dir == dir {
                    let _ = fwd.send(m);
                } else if let Some(b) = back.upgrade() {
                    let _ = b.send(m);
                }
            }
        }
    }
}

/// Frames waiting in one direction's delay line before the pair is closed.
const DELAY_LINE_MAX: usize = 4096;

/// Writes one frame; false when the peer is gone or has not read for 30 s.
async fn write_in_time<W: AsyncWrite + Unpin>(wr: &mut W, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(30), frame::write(wr, bytes)).await,
        Ok(Ok(()))
    )
}

/// Where a delay line's copies are captured, if the proxy keeps a pcap.
struct Tap {
    shared: Arc<Shared>,
    ctx: Arc<Ctx>,
    stream: String,
    dir: Dir,
}

impl Tap {
    fn written(&self, bytes: &[u8]) {
        if let Some(p) = &self.shared.pcap
            && let Ok(mut p) = p.lock()
        {
            p.capture(self.ctx.now(), &self.stream, self.dir, bytes);
        }
    }
}

/// Writes copies when they are due, in (due time, order sent).
async fn delay_line<W: AsyncWrite + Unpin>(
    mut rx: mpsc::UnboundedReceiver<(Instant, u64, Vec<u8>)>,
    mut wr: W,
    tap: Tap,
) {
    // (due, order sent, arrival at the line, bytes), earliest first.
    type Due = Reverse<(Instant, u64, u64, Vec<u8>)>;
    let mut heap: BinaryHeap<Due> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut open = true;
    while open || !heap.is_empty() {
        let next = heap.peek().map(|Reverse((at, ..))| *at);
        tokio::select! {
            m = rx.recv(), if open => match m {
                Some((at, order, bytes)) => {
                    if heap.is_empty() && at <= Instant::now() {
                        // Due already and nothing ahead of it: no timer.
                        if !write_in_time(&mut wr, &bytes).await {
                            return;
                        }
                        tap.written(&bytes);
                        continue;
                    }
                    if heap.len() >= DELAY_LINE_MAX {
                        // A peer that never reads, or a rule holding back
                        // more than a real line could: close rather than grow.
                        return;
                    }
                    seq += 1;
                    heap.push(Reverse((at, order, seq, bytes)));
                }
                None => open = false,
            },
            _ = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            } => {
                while let Some(Reverse((at, ..))) = heap.peek() {
                    if *at > Instant::now() {
                        break;
                    }
                    let Some(Reverse((_, _, _, bytes))) = heap.pop() else { break };
                    if !write_in_time(&mut wr, &bytes).await {
                        return;
                    }
                    tap.written(&bytes);
                }
            }
        }
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), wr.shutdown()).await;
}
