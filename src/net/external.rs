//! Real terminals inside a scenario (`stack: External(listen: ADDR)`): `possim
//! run` becomes a real-time run. The world runs the scenario as usual, paced
//! to wall time; each external terminal's address takes one connection at a
//! time, whose frames enter the world on that terminal's link (faults and
//! attacks included) and whose answers go back the same way. The report
//! covers the real terminal's transactions like any other (its own totals
//! are its own: settlement shows the host's side for it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::{mpsc, watch};

use super::host::{Conn, ConnStats, Counters, Linger, ServeError, Writers, forward_answers};
use crate::report::RunReport;
use crate::sim::{Bridge, Inbound, Journal, Outbound, Plan};

/// A running real-time scenario with real terminals in it.
pub struct ExternalRun {
    addrs: Vec<(String, SocketAddr)>,
    stop_world: Sender<()>,
    stop_io: Arc<watch::Sender<bool>>,
    world: JoinHandle<Result<RunReport, String>>,
    io: JoinHandle<()>,
    counters: Arc<Counters>,
}

impl ExternalRun {
    /// Binds every external terminal's address and starts the run.
    pub fn start(
        plan: Plan,
        journal: Option<Journal>,
        apdus: bool,
        file: &str,
    ) -> Result<Self, ServeError> {
        Self::start_with(plan, journal, Vec::new(), apdus, file)
    }

    /// As [`ExternalRun::start`], with record subscribers (a pcap writer).
    pub fn start_with(
        plan: Plan,
        journal: Option<Journal>,
        subscribers: Vec<Box<dyn crate::sim::Subscriber>>,
        apdus: bool,
        file: &str,
    ) -> Result<Self, ServeError> {
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for (i, t) in plan.terminals.iter().enumerate() {
            let Some(addr) = t.external else { continue };
            let l = std::net::TcpListener::bind(addr)
                .map_err(|source| ServeError::Bind { addr, source })?;
            l.set_nonblocking(true).map_err(ServeError::Start)?;
            addrs.push((t.config.tid.clone(), l.local_addr().map_err(ServeError::Start)?));
            listeners.push((i as u64, l));
        }
        let (bridge, to_world, from_world) = Bridge::bounded(4096);
        let (stop_world, world_stop_rx) = crossbeam_channel::bounded(1);
        let (stop_io, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let writers: Writers = Arc::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Start)?;
        let io = {
            let (counters, writers) = (counters.clone(), writers.clone());
            std::thread::Builder::new()
                .name("possim-io".into())
                .spawn(move || {
                    rt.block_on(io_main(
                        listeners, to_world, from_world, writers, counters, stop_rx,
                    ))
                })
                .map_err(ServeError::Start)?
        };
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let world = {
            let file = file.to_string();
            let frames = journal.is_some() && apdus;
            std::thread::Builder::new()
                .name("possim-world".into())
                .spawn(move || {
                    let how = super::world::How { speed: 1.0, open_ended: false, frames };
                    let wiring = super::world::Wiring {
                        bridge,
                        stop: world_stop_rx,
                        ready: Some(ready_tx),
                        control: None,
                        subscribers,
                    };
                    super::world::run(plan, journal, how, wiring, &file)
                })
                .map_err(ServeError::Start)?
        };
        let _ = ready_rx.recv();
        Ok(Self { addrs, stop_world, stop_io: Arc::new(stop_io), world, io, counters })
    }

    /// Each external terminal's id and the address it listens on.
    pub fn addrs(&self) -> &[(String, SocketAddr)] {
        &self.addrs
    }

    /// A handle that ends trading now (what is in flight still completes).
    pub fn stopper(&self) -> super::RemoteStopper {
        super::RemoteStopper::new(self.stop_world.clone())
    }

    /// Waits for the day to end; the report and the socket counters.
    pub fn wait(self) -> Result<(RunReport, ConnStats), ServeError> {
        let report = self.world.join().map_err(|_| ServeError::Thread)?;
        // The world is done: stop listening and close the connections.
        let _ = self.stop_io.send(true);
        self.io.join().map_err(|_| ServeError::Thread)?;
        Ok((report.map_err(ServeError::Journal)?, self.counters.snapshot()))
    }
}

async fn io_main(
    listeners: Vec<(u64, std::net::TcpListener)>,
    to_world: Sender<Inbound>,
    from_world: Receiver<Outbound>,
    writers: Writers,
    counters: Arc<Counters>,
    stop: watch::Receiver<bool>,
) {
    let forwarder = {
        let (writers, counters) = (writers.clone(), counters.clone());
        std::thread::Builder::new()
            .name("possim-answers".into())
            .spawn(move || forward_answers(from_world, writers, counters))
    };
    let (readers_tx, _readers_rx) = mpsc::channel::<()>(1);
    let (tasks_tx, mut tasks_rx) = mpsc::channel::<()>(1);
    for (id, std_listener) in listeners {
        let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else { continue };
        let (to_world, writers, counters, mut stop, readers, tasks) = (
            to_world.clone(),
            writers.clone(),
            counters.clone(),
            stop.clone(),
            readers_tx.clone(),
            tasks_tx.clone(),
        );
        tokio::spawn(async move {
            let mut token = 0u64;
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop.wait_for(|s| *s) => break,
                };
                let Ok((tcp, _)) = accepted else {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                };
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                // One real terminal, one connection: a second one is refused
                // while the first is open (checked and registered at once).
                token += 1;
                let Some(answers) = super::host::register(&writers, id, token) else {
                    counters.refused_busy.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let conn = Conn {
                    id,
                    token,
                    answers,
                    to_world: to_world.clone(),
                    writers: writers.clone(),
                    counters: counters.clone(),
                    stop: stop.clone(),
                    idle: std::time::Duration::from_secs(300),
                    // Its frames cross a link that may delay, duplicate or
                    // drop them: answers cannot be counted, only waited for.
                    linger: Linger { quiet: std::time::Duration::from_secs(30), counted: false },
                    window: None,
                    _reader: readers.clone(),
                };
                let task = tasks.clone();
                tokio::spawn(async move {
                    conn.serve(tcp).await;
                    drop(task);
                });
            }
            drop(tasks);
        });
    }
    drop((readers_tx, tasks_tx, to_world));
    // Every accept loop and connection ends once the stop is given.
    let _ = tasks_rx.recv().await;
    if let Ok(f) = forwarder {
        let _ = tokio::task::spawn_blocking(move || f.join()).await;
    }
}
