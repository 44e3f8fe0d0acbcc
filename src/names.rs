//! Names the records hold as `&'static str` (rule, attack, device and
//! reason names: the world writes them from constants), read back from a
//! journal. Each distinct name is kept once for the life of the process,
//! and a file with more distinct names than any run can write is refused,
//! so memory stays bounded whatever a hostile journal says.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, de::Error};

/// A name written from a constant. (An alias, not `&'static str` spelled
/// out: serde would take that for text borrowed from the input.)
pub type Static = &'static str;

/// More distinct names than every rule, attack and reason of possim.
const MAX_NAMES: usize = 4096;

/// Longer than any name possim writes.
const MAX_LEN: usize = 256;

static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// Deserializes a name as a `&'static str`, kept once (see the module).
pub fn intern<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = std::borrow::Cow::<str>::deserialize(d)?;
    if s.len() > MAX_LEN {
        return Err(D::Error::custom(format!("a name of {} bytes (at most {MAX_LEN})", s.len())));
    }
    let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(n) = names.get(s.as_ref()) {
        return Ok(n);
    }
    if names.len() >= MAX_NAMES {
        return Err(D::Error::custom(format!(
            "more than {MAX_NAMES} distinct names: not a journal possim wrote"
        )));
    }
    let kept: &'static str = Box::leak(s.into_owned().into_boxed_str());
    names.insert(kept);
    Ok(kept)
}
