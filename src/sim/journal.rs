//! The journal: one JSON object per line per event, in virtual-time order,
//! streamed to a writer so memory stays flat however long the run. The last
//! line, `run_finished`, carries the SHA-256 of all the lines before it.

use std::io::Write;

use bevy::prelude::*;

use super::record::Record;
use crate::time::SimTime;

/// Where journal lines go (nowhere, if no writer).
#[derive(Resource, Default)]
pub struct Journal {
    out: Option<Box<dyn Write + Send + Sync>>,
    buf: Vec<u8>,
    /// SHA-256 of the lines written so far.
    digest: Option<ring::digest::Context>,
    /// The first write error, reported at the end (exit 3).
    pub error: Option<String>,
}

impl Journal {
    /// A journal writing to `out`.
    pub fn to(out: Box<dyn Write + Send + Sync>) -> Self {
        Self {
            out: Some(out),
            buf: Vec::with_capacity(1 << 16),
            digest: Some(ring::digest::Context::new(&ring::digest::SHA256)),
            error: None,
        }
    }

    /// True when lines are written somewhere.
    pub fn enabled(&self) -> bool {
        self.out.is_some()
    }

    /// Writes one line: `{"seq":N,"t_us":T,"kind":...}`.
    pub fn write(&mut self, seq: u64, t: SimTime, r: &Record) {
        if self.out.is_none() || self.error.is_some() {
            return;
        }
        let start = self.buf.len();
        let _ = write!(self.buf, "{{\"seq\":{seq},\"t_us\":{},", t.0);
        let body_at = self.buf.len();
        // The last line vouches for all the others.
        let sealed;
        let r = match r {
            Record::RunFinished { digest: _, .. } => {
                let done = self.digest.as_ref().map(|d| hex::encode(d.clone().finish()));
                let mut last = r.clone();
                if let Record::RunFinished { digest, .. } = &mut last {
                    *digest = done;
                }
                sealed = last;
                &sealed
            }
            _ => r,
        };
        if serde_json::to_writer(&mut self.buf, r).is_err() {
            self.buf.truncate(start);
            return;
        }
        // The record serialises as {"kind":...}: drop its opening brace.
        self.buf.remove(body_at);
        self.buf.push(b'\n');
        if let Some(d) = self.digest.as_mut() {
            d.update(self.buf.get(start..).unwrap_or_default());
        }
        if self.buf.len() >= 1 << 16 {
            self.flush();
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        if let Some(out) = self.out.as_mut()
            && let Err(e) = out.write_all(&self.buf).and_then(|()| out.flush())
        {
            self.error.get_or_insert(e.to_string());
        }
        self.buf.clear();
    }
}

/// Flushes the journal after each update, so a crash loses little.
pub(super) fn flush_journal(mut journal: ResMut<Journal>) {
    if journal.buf.len() >= 1 << 15 {
        journal.flush();
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Journal>();
    app.add_systems(Update, flush_journal.in_set(super::SimSet::Record));
}
