//! TLS settings from a PKI directory (rustls with the ring provider): TLS
//! 1.2 and 1.3 only, the host's certificate, and, for mutual TLS, client
//! certificates checked against possim's CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::pki::files;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("reading {path}: {reason} (make one with `possim pki --out DIR`)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the certificates or keys.
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    /// Not a host name or address a certificate can be checked against.
    #[error("`{0}` is not a server name")]
    ServerName(String),
}

/// TLS 1.3 and 1.2, nothing older.
pub const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    crate::file::read_bounded(path, crate::file::MAX_SMALL)
        .map_err(|e| TlsError::Read { path: path.to_path_buf(), reason: e.to_string() })
}

/// The certificates of a PEM file (at least one).
pub fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Read { path: path.to_path_buf(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Read { path: path.to_path_buf(), reason: "no certificate".into() });
    }
    Ok(certs)
}

/// The private key of a PEM file.
pub fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| TlsError::Read { path: path.to_path_buf(), reason: e.to_string() })
}

/// A root store holding the certificates of one PEM file.
pub fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in certs(path)? {
        store.add(c)?;
    }
    Ok(store)
}

/// The host's side, from a PKI directory: `host.pem` and `host-key.pem`;
/// with `mtls`, every client must show a certificate signed by `ca.pem`.
pub fn server_config(dir: &Path, mtls: bool) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_with(&dir.join(files::HOST), &dir.join(files::HOST_KEY), dir, mtls)
}

/// The host's side with a given certificate and key (the forged one, for
/// a man in the middle).
pub fn server_config_with(
    cert: &Path,
    key_path: &Path,
    dir: &Path,
    mtls: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_protocol_versions(VERSIONS)?;
    let builder = if mtls {
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots(&dir.join(files::CA))?),
            provider(),
        )
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    Ok(Arc::new(builder.with_single_cert(certs(cert)?, key(key_path)?)?))
}

/// A terminal's side: trusts only the CA in `ca` (pinning possim's CA);
/// with a client certificate and key, it can do mutual TLS.
pub fn client_config(
    ca: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_root_certificates(roots(ca)?);
    let cfg = match client {
        Some((c, k)) => builder.with_client_auth_cert(certs(c)?, key(k)?)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// The name a client checks the host's certificate against.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_string()).map_err(|_| TlsError::ServerName(host.into()))
}
