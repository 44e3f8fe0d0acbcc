//! `possim terminal --connect`: the scenario's emulated terminals and
//! customers driving a real host (possim's own or a switch under test).
//!
//! The world runs as in `possim run`, paced to wall time times a speed
//! factor, with one change: a frame that crosses a terminal's uplink leaves
//! on that terminal's own connection to the host (TCP or TLS, opened on
//! first use), and the host's answers come back down the same link. The
//! scenario's link faults and attacks still act on the world's side.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

use super::frame;
use crate::report::RunReport;
use crate::sim::{Bridge, Inbound, Journal, Outbound, Plan};

/// Where and how to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    /// The host.
    pub addr: SocketAddr,
    /// TLS: the client settings (roots, optional client certificate) and the
    /// name the host's certificate must carry. Plain TCP when `None`.
    pub tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
    /// Virtual seconds per wall second.
    pub speed: f64,
    /// Keep APDUs and frame bytes in the journal.
    pub frames_in_journal: bool,
}

/// What happened on the sockets.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RemoteStats {
    /// Connections opened.
    pub connected: u64,
    /// Connection attempts that failed (refused, TLS refused); the frame
    /// that needed it is lost, as on a dead line.
    pub connect_failed: u64,
    /// Frames sent to the host.
    pub frames_out: u64,
    /// Frames received from it.
    pub frames_in: u64,
    /// Frames the world's link delivered for a connection that could not be
    /// made or had closed: they never left the machine.
    pub frames_lost: u64,
}

#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    connect_failed: AtomicU64,
    frames_out: AtomicU64,
    frames_in: AtomicU64,
    frames_lost: AtomicU64,
}

/// A running set of emulated terminals.
pub struct RemoteRun {
    stop: Sender<()>,
    world: JoinHandle<Result<RunReport, String>>,
    io: JoinHandle<()>,
    counters: Arc<Counters>,
}

/// Stops trading early (the purchases in progress still complete).
#[derive(Clone)]
pub struct RemoteStopper(Sender<()>);

impl RemoteStopper {
    pub(super) fn new(stop: Sender<()>) -> Self {
        Self(stop)
    }

    /// Ends trading now.
    pub fn stop(&self) {
        let _ = self.0.try_send(());
    }
}

impl RemoteRun {
    /// Starts the world and its connections. `plan` is switched to a remote
    /// host here.
    pub fn start(
        plan: Plan,
        opts: ConnectOptions,
        journal: Option<Journal>,
        file: &str,
    ) -> std::io::Result<Self> {
        Self::start_with(plan, opts, journal, Vec::new(), file)
    }

    /// As [`RemoteRun::start`], with record subscribers (a pcap writer).
    pub fn start_with(
        mut plan: Plan,
        opts: ConnectOptions,
        journal: Option<Journal>,
        subscribers: Vec<Box<dyn crate::sim::Subscriber>>,
        file: &str,
    ) -> std::io::Result<Self> {
        plan.against_remote_host();
        let (bridge, to_world, from_world) = Bridge::bounded(4096);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let counters = Arc::new(Counters::default());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let io = {
            let (counters, opts) = (counters.clone(), opts.clone());
            std::thread::Builder::new().name("possim-io".into()).spawn(move || {
                rt.block_on(io_main(opts, to_world, from_world, counters));
            })?
        };
        let world = {
            let file = file.to_string();
            let how = super::world::How {
                speed: opts.speed,
                open_ended: false,
                frames: opts.frames_in_journal,
            };
            std::thread::Builder::new().name("possim-world".into()).spawn(move || {
                let wiring = super::world::Wiring {
                    bridge,
                    stop: stop_rx,
                    ready: None,
                    control: None,
                    subscribers,
                };
                super::world::run(plan, journal, how, wiring, &file)
            })?
        };
        Ok(Self { stop: stop_tx, world, io, counters })
    }

    /// A handle that ends trading early.
    pub fn stopper(&self) -> RemoteStopper {
        RemoteStopper(self.stop.clone())
    }

    /// Waits for the day to end; the report and the socket counters.
    pub fn wait(self) -> Result<(RunReport, RemoteStats), String> {
        let report = self.world.join().map_err(|_| "the world thread stopped abnormally")?;
        let _ = self.io.join();
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.counters;
        let stats = RemoteStats {
            connected: g(&c.connected),
            connect_failed: g(&c.connect_failed),
            frames_out: g(&c.frames_out),
            frames_in: g(&c.frames_in),
            frames_lost: g(&c.frames_lost),
        };
        Ok((report.map_err(|e| format!("writing the journal: {e}"))?, stats))
    }
}

async fn io_main(
    opts: ConnectOptions,
    to_world: Sender<Inbound>,
    from_world: Receiver<Outbound>,
    counters: Arc<Counters>,
) {
    // The world's frames, moved from its (blocking) channel to this runtime.
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outbound>();
    let forwarder = std::thread::Builder::new().name("possim-frames".into()).spawn(move || {
        for m in from_world.iter() {
            if out_tx.send(m).is_err() {
                break;
            }
        }
    });
    let (done_tx, done_rx) = watch::channel(false);
    let mut writers: HashMap<u64, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
    while let Some(m) = out_rx.recv().await {
        let alive = writers.get(&m.conn).is_some_and(|w| !w.is_closed());
        if !alive {
            let (tx, rx) = mpsc::unbounded_channel();
            let conn = Connection {
                id: m.conn,
                opts: opts.clone(),
                to_world: to_world.clone(),
                counters: counters.clone(),
                done: done_rx.clone(),
            };
            tokio::spawn(conn.run(rx));
            writers.insert(m.conn, tx);
        }
        if let Some(w) = writers.get(&m.conn)
            && w.send(m.bytes).is_err()
        {
            counters.frames_lost.fetch_add(1, Ordering::Relaxed);
        }
    }
    // The world's day is over: close every connection.
    let _ = done_tx.send(true);
    drop(writers);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    if let Ok(f) = forwarder {
        let _ = tokio::task::spawn_blocking(move || f.join()).await;
    }
}

/// One terminal's connection to the host.
struct Connection {
    id: u64,
    opts: ConnectOptions,
    to_world: Sender<Inbound>,
    counters: Arc<Counters>,
    done: watch::Receiver<bool>,
}

impl Connection {
    async fn run(self, mut frames: mpsc::UnboundedReceiver<Vec<u8>>) {
        let tcp = match tokio::net::TcpStream::connect(self.opts.addr).await {
            Ok(s) => s,
            Err(_) => {
                self.counters.connect_failed.fetch_add(1, Ordering::Relaxed);
                // The frames queued for it are lost, as on a dead line.
                self.lose(&mut frames);
                return;
            }
        };
        let _ = tcp.set_nodelay(true);
        match self.opts.tls.clone() {
            None => {
                self.pump(tcp, &mut frames).await;
                // The host closed (or a write failed): what waits is lost.
                self.lose(&mut frames);
            }
            Some((cfg, name)) => {
                match tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await {
                    Ok(s) => {
                        self.pump(s, &mut frames).await;
                        self.lose(&mut frames);
                    }
                    Err(_) => {
                        // Counted; the report says how many failed.
                        self.counters.connect_failed.fetch_add(1, Ordering::Relaxed);
                        self.lose(&mut frames);
                    }
                }
            }
        }
    }

    /// Counts the frames waiting for a connection that will not carry them.
    fn lose(&self, frames: &mut mpsc::UnboundedReceiver<Vec<u8>>) {
        frames.close();
        while frames.try_recv().is_ok() {
            self.counters.frames_lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        frames: &mut mpsc::UnboundedReceiver<Vec<u8>>,
    ) {
        self.counters.connected.fetch_add(1, Ordering::Relaxed);
        let (rd, mut wr) = tokio::io::split(stream);
        let mut rd = frame::FrameReader::new(rd);
        let mut done = self.done.clone();
        let reader = async {
            loop {
                match rd.next().await {
                    Ok(Some(bytes)) => {
                        self.counters.frames_in.fetch_add(1, Ordering::Relaxed);
                        let mut m = Inbound { conn: self.id, bytes };
                        loop {
                            match self.to_world.try_send(m) {
                                Ok(()) => break,
                                Err(crossbeam_channel::TrySendError::Full(back)) => {
                                    m = back;
                                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                                }
                                Err(_) => return,
                            }
                        }
                    }
                    _ => return,
                }
            }
        };
        let writer = async {
            while let Some(m) = frames.recv().await {
                if frame::write(&mut wr, &m).await.is_err() {
                    break;
                }
                self.counters.frames_out.fetch_add(1, Ordering::Relaxed);
            }
        };
        tokio::select! {
            _ = reader => {}
            _ = writer => {}
            _ = done.wait_for(|d| *d) => {}
        }
    }
}
