//! A real card in a real reader, through the system's PC/SC stack (feature
//! `pcsc`, which links libpcsclite): the [`CardChannel`] possim's terminal
//! stack reads a card through. T=0 cards answer long commands in two steps
//! (61xx: GET RESPONSE for the rest; 6Cxx: send again with that length);
//! the channel does both, so the terminal sees one answer per command, as
//! from any card.

use std::ffi::CString;

use pcsc::{Context, Protocols, Scope, ShareMode};

use crate::card::Interface;
use crate::terminal::CardChannel;

/// Why a reader could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PcscError {
    /// pcscd is not running, or refused.
    #[error("PC/SC: {0} (is pcscd running?)")]
    Context(pcsc::Error),
    /// No reader, or not the one named.
    #[error("{0}")]
    NoReader(String),
    /// No card in the reader, or it could not be powered.
    #[error("reader {reader:?}: {error}")]
    Card {
        /// The reader.
        reader: String,
        /// Why.
        error: pcsc::Error,
    },
}

/// The readers pcscd knows, in its order.
pub fn readers() -> Result<Vec<String>, PcscError> {
    let ctx = Context::establish(Scope::User).map_err(PcscError::Context)?;
    let list = ctx.list_readers_owned().map_err(PcscError::Context)?;
    Ok(list.into_iter().map(|r| r.to_string_lossy().into_owned()).collect())
}

/// The card in a reader (the first with a card, if none is named).
pub struct PcscChannel {
    ctx: Context,
    reader: CString,
    card: Option<pcsc::Card>,
    /// The reader's name.
    pub name: String,
    /// Set once the card stops answering (taken out, reader gone): what went wrong.
    pub lost: Option<String>,
}

impl std::fmt::Debug for PcscChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscChannel").field("reader", &self.name).finish_non_exhaustive()
    }
}

impl PcscChannel {
    /// Opens `reader` (a name as pcscd lists it, or a prefix of one), or the
    /// first reader with a card in it.
    pub fn open(reader: Option<&str>) -> Result<Self, PcscError> {
        let ctx = Context::establish(Scope::User).map_err(PcscError::Context)?;
        let list = ctx.list_readers_owned().map_err(PcscError::Context)?;
        let names: Vec<String> = list.iter().map(|r| r.to_string_lossy().into_owned()).collect();
        let pick = match reader.filter(|r| !r.is_empty()) {
            Some(want) => list.iter().find(|r| r.to_string_lossy().starts_with(want)).cloned(),
            // The first reader with a card in it.
            None => list
                .iter()
                .find(|r| ctx.connect(r, ShareMode::Shared, Protocols::ANY).is_ok())
                .cloned(),
        };
        let Some(reader) = pick else {
            return Err(PcscError::NoReader(if names.is_empty() {
                "no PC/SC reader (pcscd lists none)".into()
            } else {
                format!("no such reader, or no card in any; readers: {}", names.join(", "))
            }));
        };
        let name = reader.to_string_lossy().into_owned();
        // A card must be in it now (it is read at once).
        if let Err(error) = ctx.connect(&reader, ShareMode::Shared, Protocols::ANY) {
            return Err(PcscError::Card { reader: name, error });
        }
        Ok(Self { ctx, reader, card: None, name, lost: None })
    }

    fn lose(&mut self, why: String) -> Vec<u8> {
        self.lost.get_or_insert(why);
        self.card = None;
        Vec::new()
    }

    fn raw(&mut self, capdu: &[u8]) -> Vec<u8> {
        let Some(card) = self.card.as_ref() else { return Vec::new() };
        let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        match card.transmit(capdu, &mut buf) {
            Ok(r) => r.to_vec(),
            Err(e) => self.lose(format!("reader {:?}: {e}", self.name)),
        }
    }
}

impl CardChannel for PcscChannel {
    fn power_on(&mut self, _: Interface) -> Vec<u8> {
        match self.ctx.connect(&self.reader, ShareMode::Shared, Protocols::ANY) {
            Ok(card) => {
                let atr = card.status2_owned().map(|s| s.atr().to_vec()).unwrap_or_default();
                self.card = Some(card);
                atr
            }
            Err(e) => self.lose(format!("reader {:?}: {e}", self.name)),
        }
    }

    fn transmit(&mut self, capdu: &[u8]) -> Vec<u8> {
        let mut r = self.raw(capdu);
        // 6Cxx: the expected length was wrong; send again with the card's.
        if let ([0x6C, le], Some((_, head))) = (r.as_slice(), capdu.split_last())
            && capdu.len() == 5
        {
            let mut again = head.to_vec();
            again.push(*le);
            r = self.raw(&again);
        }
        // 61xx: more data waits; GET RESPONSE until it is all here.
        let mut body = Vec::new();
        for _ in 0..32 {
            match r.as_slice() {
                [data @ .., 0x61, n] => {
                    body.extend_from_slice(data);
                    r = self.raw(&[0x00, 0xC0, 0x00, 0x00, *n]);
                }
                _ => break,
            }
        }
        if body.is_empty() {
            r
        } else {
            body.extend_from_slice(&r);
            body
        }
    }

    fn swipe(&mut self) -> Option<String> {
        None
    }
}
