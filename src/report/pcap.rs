//! A pcap of a run's link traffic that Wireshark and tshark decode: each
//! terminal's connection to the host as a synthetic Ethernet/IPv4/TCP
//! stream (handshake, consistent sequence and acknowledgement numbers),
//! every message framed as PROTOCOL.md §1 says, stamped with the run's
//! calendar time.
//!
//! Packets are captured where frames arrive: a frame appears when (and as)
//! it was delivered, so a frame a fault changed appears changed, a
//! duplicate appears twice, and a lost frame is absent. A record
//! subscriber: it sees the same records as the journal.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::link::Dir;
use crate::sim::{Record, Subscriber};
use crate::time::SimTime;

/// Frames remembered before old ones are pruned, and for how long.
const KEEP_FRAMES: usize = 100_000;
const KEEP_FOR_US: u64 = 24 * 3600 * 1_000_000;

/// The host's port in the capture (`tshark -d tcp.port==8583,iso8583`).
pub const HOST_PORT: u16 = 8583;
const HOST_IP: [u8; 4] = [10, 0, 0, 1];

/// One terminal's synthetic TCP connection.
struct Stream {
    ip: [u8; 4],
    port: u16,
    /// Next sequence number from the terminal, and from the host.
    seq_t: u32,
    seq_h: u32,
}

/// Writes the pcap as records arrive.
pub struct PcapWriter {
    out: Box<dyn Write + Send + Sync>,
    /// Unix seconds of the run's virtual time zero.
    base: i64,
    /// Frames sent: when, sender, receiver, bytes (kept a while: a
    /// duplicate copy arrives after the original; a lost one never does).
    sent: BTreeMap<u64, (SimTime, String, String, Vec<u8>)>,
    streams: BTreeMap<String, Stream>,
    ip_id: u16,
    error: Arc<Mutex<Option<String>>>,
}

impl PcapWriter {
    /// A writer to `out`; `base` is the unix time of the run's start. The
    /// first write error is kept in the returned slot (the run goes on).
    pub fn new(out: Box<dyn Write + Send + Sync>, base: i64) -> (Self, Arc<Mutex<Option<String>>>) {
        let error = Arc::new(Mutex::new(None));
        let mut w = Self {
            out,
            base,
            sent: BTreeMap::new(),
            streams: BTreeMap::new(),
            ip_id: 0,
            error: error.clone(),
        };
        // Global header: little-endian, version 2.4, microseconds, Ethernet.
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&65_535u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        w.write(&h);
        (w, error)
    }

    fn write(&mut self, bytes: &[u8]) {
        let failed = self.error.lock().map_or(true, |e| e.is_some());
        if failed {
            return;
        }
        if let Err(e) = self.out.write_all(bytes)
            && let Ok(mut slot) = self.error.lock()
        {
            *slot = Some(e.to_string());
        }
    }

    /// The stream of a terminal (opened with a handshake at `at`).
    fn stream(&mut self, terminal: &str, at: SimTime) -> (u16, [u8; 4], u32, u32) {
        if !self.streams.contains_key(terminal) {
            let n = self.streams.len() as u32;
            let ip = [10, 1, (n / 250) as u8, (n % 250 + 2) as u8];
            let port = 40_000 + (n % 20_000) as u16;
            let (isn_t, isn_h) = (1_000_000 * (n + 1), 2_000_000_000 + 1_000 * n);
            self.streams.insert(
                terminal.to_string(),
                Stream { ip, port, seq_t: isn_t.wrapping_add(1), seq_h: isn_h.wrapping_add(1) },
            );
            // SYN, SYN-ACK, ACK.
            self.packet(at, (ip, port), (HOST_IP, HOST_PORT), (isn_t, 0), 0x02, &[]);
            self.packet(
                at,
                (HOST_IP, HOST_PORT),
                (ip, port),
                (isn_h, isn_t.wrapping_add(1)),
                0x12,
                &[],
            );
            self.packet(
                at,
                (ip, port),
                (HOST_IP, HOST_PORT),
                (isn_t.wrapping_add(1), isn_h.wrapping_add(1)),
                0x10,
                &[],
            );
        }
        let s = &self.streams[terminal];
        (s.port, s.ip, s.seq_t, s.seq_h)
    }

    /// Captures one message as delivered on `stream` (a terminal's
    /// connection), for drivers that see frames without the world (the
    /// proxy).
    pub fn capture(&mut self, at: SimTime, stream: &str, dir: Dir, msg: &[u8]) {
        self.message(at, stream, dir, msg);
    }

    /// Writes out what is buffered (the first error lands in the slot).
    pub fn flush(&mut self) {
        crate::sim::Subscriber::on_finish(self);
    }

    /// One delivered message on a terminal's stream.
    fn message(&mut self, at: SimTime, terminal: &str, dir: Dir, msg: &[u8]) {
        let Ok(len) = u16::try_from(msg.len()) else { return };
        let mut payload = Vec::with_capacity(msg.len() + 2);
        payload.extend_from_slice(&len.to_be_bytes());
        payload.extend_from_slice(msg);
        let (port, ip, seq_t, seq_h) = self.stream(terminal, at);
        let grow = payload.len() as u32;
        match dir {
            Dir::Up => {
                self.packet(at, (ip, port), (HOST_IP, HOST_PORT), (seq_t, seq_h), 0x18, &payload);
                if let Some(s) = self.streams.get_mut(terminal) {
                    s.seq_t = s.seq_t.wrapping_add(grow);
                }
            }
            Dir::Down => {
                self.packet(at, (HOST_IP, HOST_PORT), (ip, port), (seq_h, seq_t), 0x18, &payload);
                if let Some(s) = self.streams.get_mut(terminal) {
                    s.seq_h = s.seq_h.wrapping_add(grow);
                }
            }
        }
    }

    /// One Ethernet/IPv4/TCP packet.
    fn packet(
        &mut self,
        at: SimTime,
        (src, sport): ([u8; 4], u16),
        (dst, dport): ([u8; 4], u16),
        (seq, ack): (u32, u32),
        flags: u8,
        payload: &[u8],
    ) {
        self.ip_id = self.ip_id.wrapping_add(1);
        let tcp_len = 20 + payload.len();
        let ip_len = 20 + tcp_len;
        let mut p = Vec::with_capacity(14 + ip_len);
        // Ethernet: locally administered addresses from the IPs.
        p.extend_from_slice(&[0x02, 0, dst[0], dst[1], dst[2], dst[3]]);
        p.extend_from_slice(&[0x02, 0, src[0], src[1], src[2], src[3]]);
        p.extend_from_slice(&0x0800u16.to_be_bytes());
        // IPv4.
        let mut ip = Vec::with_capacity(20);
        ip.extend_from_slice(&[0x45, 0]);
        ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
        ip.extend_from_slice(&self.ip_id.to_be_bytes());
        ip.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let sum = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(&ip);
        // TCP.
        let mut tcp = Vec::with_capacity(tcp_len);
        tcp.extend_from_slice(&sport.to_be_bytes());
        tcp.extend_from_slice(&dport.to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.extend_from_slice(&[0x50, flags]);
        tcp.extend_from_slice(&65_535u16.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 0]);
        tcp.extend_from_slice(payload);
        let mut pseudo = Vec::with_capacity(12);
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(tcp_len as u16).to_be_bytes());
        let sum = checksum(&[&pseudo, &tcp]);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(&tcp);
        // Record header: the run's calendar time.
        let secs =
            self.base.saturating_add((at.0 / 1_000_000) as i64).clamp(0, i64::from(u32::MAX));
        let mut rec = Vec::with_capacity(16 + p.len());
        rec.extend_from_slice(&(secs as u32).to_le_bytes());
        rec.extend_from_slice(&((at.0 % 1_000_000) as u32).to_le_bytes());
        rec.extend_from_slice(&(p.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(p.len() as u32).to_le_bytes());
        rec.extend_from_slice(&p);
        self.write(&rec);
    }
}

/// The Internet checksum over the concatenated parts.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    let mut odd: Option<u8> = None;
    for b in parts.iter().flat_map(|p| p.iter()) {
        match odd.take() {
            Some(hi) => sum += u32::from(u16::from_be_bytes([hi, *b])),
            None => odd = Some(*b),
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Subscriber for PcapWriter {
    fn on_record(&mut self, _seq: u64, at: SimTime, record: &Record) {
        match record {
            Record::FrameSent { frame, from, to, bytes, .. } => {
                if self.sent.len() >= KEEP_FRAMES {
                    // Anything sent more than a day ago has arrived or never will.
                    let horizon = SimTime(at.0.saturating_sub(KEEP_FOR_US));
                    self.sent.retain(|_, (t, ..)| *t >= horizon);
                }
                self.sent.insert(*frame, (at, from.to_string(), to.to_string(), bytes.clone()));
            }
            Record::FrameDelivered { frame, dir, bytes, .. } => {
                let Some((_, from, to, sent)) = self.sent.get(frame).cloned() else { return };
                // The terminal's end of the connection.
                let terminal = if *dir == Dir::Up { from } else { to };
                let msg = bytes.as_deref().unwrap_or(&sent);
                self.message(at, &terminal, *dir, msg);
            }
            _ => {}
        }
    }

    fn on_finish(&mut self) {
        if let Err(e) = self.out.flush()
            && let Ok(mut slot) = self.error.lock()
            && slot.is_none()
        {
            *slot = Some(e.to_string());
        }
    }
}
