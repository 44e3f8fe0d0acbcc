//! `possim load`: a load test of a host over real sockets with full crypto.
//!
//! The requests are real: a headless run of the scenario records every
//! terminal's 0200s as its terminals sent them (PIN block, ARQC, MAC), then
//! each terminal's requests are replayed, in order, on its own connection
//! to the host, one outstanding request per connection as a real terminal
//! has. Latency is measured from when a request was due (open loop at a
//! given rate), so a slow host cannot hide its queueing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::link::Dir;
use crate::protocol::iso8583::Spec;
use crate::sim::{self, Options, Pacing, Plan, Record, Subscriber};
use crate::time::SimTime;

use super::client::Client;

/// Collects what the terminals sent upwards.
#[derive(Default)]
struct Requests(Arc<std::sync::Mutex<BTreeMap<String, Vec<Vec<u8>>>>>);

impl Subscriber for Requests {
    fn on_record(&mut self, _: u64, _: SimTime, r: &Record) {
        if let Record::FrameSent { dir: Dir::Up, from, mti: Some(m), bytes, .. } = r
            && m.to_string() == "0200"
            && let Ok(mut map) = self.0.lock()
        {
            map.entry(from.to_string()).or_default().push(bytes.clone());
        }
    }
}

/// Every terminal's purchase requests of a headless run of `plan` with
/// `purchases` customers, by terminal id.
pub fn record_requests(mut plan: Plan, purchases: u64) -> BTreeMap<String, Vec<Vec<u8>>> {
    plan.traffic.purchases = Some(purchases);
    let store = Requests::default();
    let out = store.0.clone();
    let options = Options { apdus: false, frames: true, stay_open: false };
    let mut app = sim::build_app(
        Arc::new(plan),
        None,
        Pacing::Headless { slice: sim::HEADLESS_SLICE },
        options,
    );
    app.world_mut().resource_mut::<sim::Subscribers>().add(Box::new(store));
    let _ = sim::run_to_end(&mut app, "load");
    out.lock().map(|m| m.clone()).unwrap_or_default()
}

/// How to drive the host.
#[derive(Clone)]
pub struct LoadOptions {
    /// The host.
    pub addr: SocketAddr,
    /// TLS settings and the host's name, or plain TCP.
    pub tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
    /// Requests per second across all connections (open loop), or as fast
    /// as the host answers when `None`.
    pub rate: Option<f64>,
    /// The dialect, to read field 39 of the answers.
    pub spec: Arc<Spec>,
}

/// What a load run measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadResult {
    /// Connections used.
    pub connections: usize,
    /// Requests sent.
    pub sent: u64,
    /// Answers received.
    pub answered: u64,
    /// Answers with field 39 = 00.
    pub approved: u64,
    /// Connections that failed (connect, TLS, closed early).
    pub failed_connections: u64,
    /// Wall time from the first request to the last answer, seconds.
    pub seconds: f64,
    /// Answers per second.
    pub per_second: f64,
    /// Latency percentiles in milliseconds: p50, p90, p99, max.
    pub latency_ms: [f64; 4],
}

/// When connection `i` of `n`, with `len` requests, sends its first one
/// and how far apart the rest follow, for all connections to send over
/// `span` seconds: the first requests spread over one gap.
fn pace(span: f64, len: usize, i: usize, n: usize) -> (Duration, Duration) {
    let gap = Duration::from_secs_f64(span / len.max(1) as f64);
    (gap.mul_f64(i as f64 / n.max(1) as f64), gap)
}

/// Replays each stream on its own connection; one request outstanding per
/// connection.
pub async fn drive(streams: Vec<Vec<Vec<u8>>>, opts: LoadOptions) -> LoadResult {
    let n = streams.len().max(1);
    // Open loop: every connection spreads its requests over the same span
    // (all requests at the asked rate), so the total rate holds however
    // unevenly the terminals' requests fall.
    let total: usize = streams.iter().map(Vec::len).sum();
    let span = opts.rate.map(|r| total as f64 / r.max(1e-3));
    // Connect (and shake hands) first, so the clock starts with every
    // connection ready.
    let mut connecting = Vec::new();
    for _ in 0..streams.len() {
        let opts = opts.clone();
        connecting.push(tokio::spawn(async move {
            match &opts.tls {
                None => Client::tcp(opts.addr).await,
                Some((cfg, name)) => Client::tls(opts.addr, cfg.clone(), name.clone()).await,
            }
        }));
    }
    let mut clients = Vec::new();
    for c in connecting {
        clients.push(c.await.ok().and_then(Result::ok));
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, (reqs, client)) in streams.into_iter().zip(clients).enumerate() {
        let opts = opts.clone();
        let pace = span.map(|t| pace(t, reqs.len(), i, n));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(reqs.len());
            let (mut sent, mut approved) = (0u64, 0u64);
            let Some(mut c) = client else { return (lat, sent, approved, true) };
            for (k, req) in reqs.iter().enumerate() {
                let due = match pace {
                    Some((o, g)) => {
                        let due = start + o + g.mul_f64(k as f64);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    _ => Instant::now(),
                };
                sent += 1;
                let answer = tokio::time::timeout(Duration::from_secs(10), c.call(req)).await;
                match answer.ok().and_then(Result::ok).ok_or(()) {
                    Ok(answer) => {
                        lat.push(due.elapsed().as_micros() as u64);
                        let rc = opts.spec.decode(&answer).ok();
                        if rc.as_ref().and_then(|m| m.get_str(39)) == Some("00") {
                            approved += 1;
                        }
                    }
                    Err(_) => return (lat, sent, approved, true),
                }
            }
            (lat, sent, approved, false)
        }));
    }
    let mut all = Vec::new();
    let mut r = LoadResult { connections: n, ..LoadResult::default() };
    for t in tasks {
        if let Ok((lat, sent, approved, failed)) = t.await {
            r.sent += sent;
            r.answered += lat.len() as u64;
            r.approved += approved;
            r.failed_connections += u64::from(failed);
            all.extend(lat);
        }
    }
    r.seconds = start.elapsed().as_secs_f64();
    r.per_second = r.answered as f64 / r.seconds.max(1e-9);
    all.sort_unstable();
    let pct = |p: f64| {
        if all.is_empty() {
            0.0
        } else {
            let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
            all.get(i).copied().unwrap_or(0) as f64 / 1000.0
        }
    };
    r.latency_ms = [pct(0.5), pct(0.9), pct(0.99), pct(1.0)];
    r
}

#[cfg(test)]
mod tests {
    use super::pace;

    #[test]
    fn uneven_connections_all_send_within_the_span_so_the_total_rate_holds() {
        // 300 requests at 100 a second: 3 s, however they split.
        let lens = [1usize, 2, 7, 40, 250];
        let span = lens.iter().sum::<usize>() as f64 / 100.0;
        for (i, &len) in lens.iter().enumerate() {
            let (first, gap) = pace(span, len, i, lens.len());
            let last = first + gap.mul_f64((len - 1) as f64);
            assert!(last.as_secs_f64() < span, "connection {i}: last due at {last:?}");
            // And no earlier than its share: the requests are spread, not bunched.
            let spread = gap.mul_f64(len as f64).as_secs_f64();
            assert!((spread - span).abs() < 1e-6, "connection {i}: {spread} s");
        }
    }
}
