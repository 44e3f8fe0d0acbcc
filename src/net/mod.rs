//! The real-time drivers (tokio, rustls): possim's host on a real socket,
//! the framing of PROTOCOL.md §1, and the test PKI. They move bytes and time
//! between sockets and the same sans-IO cores and Bevy world that headless
//! runs use; nothing here decides anything about payments.

pub mod cards;
pub mod client;
pub mod control;
pub mod counter;
pub mod external;
pub mod frame;
pub mod host;
pub mod load;
#[cfg(feature = "pcsc")]
pub mod pcsc;
pub mod pki;
pub mod proxy;
pub mod remote;
pub mod script;
pub mod tls;
pub mod world;

pub use host::{ConnStats, HostServer, ServeError, ServeOptions, Stopper};
pub use remote::{ConnectOptions, RemoteRun, RemoteStats, RemoteStopper};
