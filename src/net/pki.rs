//! A test PKI for possim's TLS links, made with rcgen: a root CA, a host
//! certificate for localhost and 127.0.0.1, a client certificate per
//! terminal (mutual TLS), and a rogue CA with a forged host certificate for
//! the man-in-the-middle scenarios (a terminal that pins possim's CA must
//! refuse it).
//!
//! Files are PEM with obvious names ([`files`]); private keys are written
//! mode 0600 and never printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The names a PKI directory holds.
pub mod files {
    /// possim's root CA certificate: what terminals and hosts trust.
    pub const CA: &str = "ca.pem";
    /// The root CA's private key.
    pub const CA_KEY: &str = "ca-key.pem";
    /// The host's certificate (localhost, 127.0.0.1, ::1), signed by the CA.
    pub const HOST: &str = "host.pem";
    /// The host's private key.
    pub const HOST_KEY: &str = "host-key.pem";
    /// The rogue CA a man in the middle controls.
    pub const ROGUE_CA: &str = "rogue-ca.pem";
    /// The rogue CA's private key.
    pub const ROGUE_CA_KEY: &str = "rogue-ca-key.pem";
    /// A forged host certificate (same names as the host's), signed by the rogue CA.
    pub const ROGUE_HOST: &str = "rogue-host.pem";
    /// The forged certificate's private key.
    pub const ROGUE_HOST_KEY: &str = "rogue-host-key.pem";

    /// A terminal's client certificate.
    pub fn terminal(id: &str) -> String {
        format!("terminal-{id}.pem")
    }

    /// A terminal's private key.
    pub fn terminal_key(id: &str) -> String {
        format!("terminal-{id}-key.pem")
    }
}

/// Why a PKI could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Certificate or key generation failed.
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is already there (`force` not given).
    #[error("{0} exists (pass --force to replace the PKI)")]
    Exists(PathBuf),
    /// A terminal id that cannot be a file name.
    #[error("terminal id `{0}`: use letters, digits, '-' and '_' only (1 to 32 characters)")]
    BadTerminalId(String),
}

/// The host names the host certificate is valid for.
pub const HOST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Validity: from a year ago to ten years ahead (a test PKI, never a
/// production one), computed from today's date.
fn validity(p: &mut CertificateParams) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let year = 1970 + (secs / 31_556_952) as i32;
    p.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    p.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
}

fn ca_params(name: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.distinguished_name.push(DnType::CommonName, name);
    p.distinguished_name.push(DnType::OrganizationName, "possim test PKI");
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut p);
    Ok(p)
}

fn leaf_params(
    names: Vec<String>,
    cn: &str,
    usage: ExtendedKeyUsagePurpose,
) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(names)?;
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name.push(DnType::OrganizationName, "possim test PKI");
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![usage];
    p.use_authority_key_identifier_extension = true;
    validity(&mut p);
    Ok(p)
}

/// True for a terminal id that is safe as part of a file name.
fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One file to write: its name, its PEM, whether it is a private key.
struct Out {
    name: String,
    pem: String,
    secret: bool,
}

/// Makes the whole PKI in memory, then writes it to `dir` (created if
/// needed). Refuses to replace existing files unless `force`. Returns the
/// paths written, in order.
pub fn generate(dir: &Path, terminals: &[String], force: bool) -> Result<Vec<PathBuf>, PkiError> {
    if let Some(bad) = terminals.iter().find(|t| !valid_id(t)) {
        return Err(PkiError::BadTerminalId(bad.clone()));
    }
    let mut outs = Vec::new();
    let host_names: Vec<String> = HOST_NAMES.iter().map(|s| s.to_string()).collect();

    let ca_key = KeyPair::generate()?;
    let ca_p = ca_params("possim root CA")?;
    let ca = ca_p.self_signed(&ca_key)?;
    outs.push(Out { name: files::CA.into(), pem: ca.pem(), secret: false });
    outs.push(Out { name: files::CA_KEY.into(), pem: ca_key.serialize_pem(), secret: true });
    let issuer = Issuer::new(ca_p, ca_key);

    let host_key = KeyPair::generate()?;
    let host = leaf_params(host_names.clone(), "possim host", ExtendedKeyUsagePurpose::ServerAuth)?
        .signed_by(&host_key, &issuer)?;
    outs.push(Out { name: files::HOST.into(), pem: host.pem(), secret: false });
    outs.push(Out { name: files::HOST_KEY.into(), pem: host_key.serialize_pem(), secret: true });

    for id in terminals {
        let key = KeyPair::generate()?;
        let cert = leaf_params(
            Vec::new(),
            &format!("terminal {id}"),
            ExtendedKeyUsagePurpose::ClientAuth,
        )?
        .signed_by(&key, &issuer)?;
        outs.push(Out { name: files::terminal(id), pem: cert.pem(), secret: false });
        outs.push(Out { name: files::terminal_key(id), pem: key.serialize_pem(), secret: true });
    }

    // The attacker's: a CA of their own and a certificate with the host's names.
    let rogue_key = KeyPair::generate()?;
    let rogue_p = ca_params("possim root CA")?; // the same name: only the key differs
    let rogue = rogue_p.self_signed(&rogue_key)?;
    outs.push(Out { name: files::ROGUE_CA.into(), pem: rogue.pem(), secret: false });
    outs.push(Out {
        name: files::ROGUE_CA_KEY.into(),
        pem: rogue_key.serialize_pem(),
        secret: true,
    });
    let rogue_issuer = Issuer::new(rogue_p, rogue_key);
    let forged_key = KeyPair::generate()?;
    let forged = leaf_params(host_names, "possim host", ExtendedKeyUsagePurpose::ServerAuth)?
        .signed_by(&forged_key, &rogue_issuer)?;
    outs.push(Out { name: files::ROGUE_HOST.into(), pem: forged.pem(), secret: false });
    outs.push(Out {
        name: files::ROGUE_HOST_KEY.into(),
        pem: forged_key.serialize_pem(),
        secret: true,
    });

    std::fs::create_dir_all(dir)
        .map_err(|source| PkiError::Write { path: dir.to_path_buf(), source })?;
    if !force && let Some(o) = outs.iter().find(|o| dir.join(&o.name).exists()) {
        return Err(PkiError::Exists(dir.join(&o.name)));
    }
    let mut written = Vec::new();
    for o in outs {
        let path = dir.join(&o.name);
        write_file(&path, o.pem.as_bytes(), o.secret)
            .map_err(|source| PkiError::Write { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

/// Writes a file; a private key gets mode 0600 from the moment it exists,
/// and a replaced key file gets it before the new key is written.
fn write_file(path: &Path, data: &[u8], secret: bool) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(data)?;
    f.sync_all()
}
