//! One command on one server over SSH, in pure Rust (`russh`; the Lambda image has no `ssh`).
//!
//! The order is the order of trust: a TCP connect with its own short limit (`unreachable`), the
//! SSH handshake, where the server's key must be the one configured (nothing is read from a server
//! whose key changed, and there is no trust on first use), then the client's key (`auth`), then the
//! command. Whatever else goes wrong on the way is `ssh`. Every step is within the caller's deadline.

use std::sync::Arc;
use std::time::Duration;

use russh::client;
use russh::keys::{self, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use tokio::time::Instant;

/// How long the TCP connect may take.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(3);
/// The most of a command's output kept.
const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// The server's key as configured: a whole key (the line `ssh-keyscan` prints, with or without the
/// host in front) or its `SHA256:` fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub enum HostKey {
    /// The key itself: only its algorithm is asked of the server.
    Key(Box<PublicKey>),
    /// Its SHA-256 fingerprint.
    Fingerprint(String),
}

impl HostKey {
    /// Reads `host_key` as the user wrote it.
    pub fn parse(text: &str) -> Result<HostKey, String> {
        let text = text.trim();
        if let Some(base64) = text.strip_prefix("SHA256:") {
            let valid = base64.len() == 43
                && base64
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/');
            return if valid {
                Ok(HostKey::Fingerprint(text.to_owned()))
            } else {
                Err("is not a SHA256: fingerprint (43 base64 characters after SHA256:)".into())
            };
        }
        // `ssh-keyscan` prints "host keytype base64"; a known_hosts line is the same, unless it
        // starts with a marker, which turns its meaning around: never pinned.
        let fields: Vec<&str> = text.split_whitespace().collect();
        match fields.first() {
            Some(&"@revoked") => {
                return Err("is a known_hosts line marked @revoked: it names a key the server must NOT have; give the key it has (ssh-keyscan prints it)".into());
            }
            Some(&"@cert-authority") => {
                return Err("is a known_hosts line marked @cert-authority: lookout pins the server's own key, not a certificate authority; give the server's key (ssh-keyscan prints it)".into());
            }
            Some(marker) if marker.starts_with('@') => {
                return Err(format!(
                    "starts with the known_hosts marker {marker}, which lookout does not take: give the server's key as ssh-keyscan prints it"
                ));
            }
            _ => {}
        }
        // The key type is the field followed by the key's base64 (which starts AAAA).
        let start = (0..fields.len())
            .find(|&i| {
                (fields[i].starts_with("ssh-") || fields[i].starts_with("ecdsa-"))
                    && fields.get(i + 1).is_some_and(|key| key.starts_with("AAAA"))
            })
            .ok_or("is neither a key line (ssh-ed25519 AAAA...) nor a SHA256: fingerprint")?;
        let line = fields[start..]
            .iter()
            .take(2)
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        PublicKey::from_openssh(&line)
            .map(|key| HostKey::Key(Box::new(key)))
            .map_err(|e| format!("is not a key ssh-keyscan prints ({e})"))
    }

    /// Its fingerprint, as `ssh-keygen -l` shows it.
    pub fn fingerprint(&self) -> String {
        match self {
            HostKey::Key(key) => key.fingerprint(HashAlg::Sha256).to_string(),
            HostKey::Fingerprint(text) => text.clone(),
        }
    }

    fn algorithms(&self) -> Option<Vec<keys::Algorithm>> {
        let HostKey::Key(key) = self else {
            return None;
        };
        Some(match key.algorithm() {
            keys::Algorithm::Rsa { .. } => vec![
                keys::Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512),
                },
                keys::Algorithm::Rsa {
                    hash: Some(HashAlg::Sha256),
                },
            ],
            other => vec![other],
        })
    }
}

/// The client's key, read and decrypted once at start.
pub fn client_key(pem: &str, passphrase: Option<&str>) -> Result<Arc<PrivateKey>, String> {
    // A key pasted into one line of a .env file keeps its line breaks as `\n`.
    let pem = if pem.contains('\n') {
        pem.to_owned()
    } else {
        pem.replace("\\n", "\n")
    };
    keys::decode_secret_key(pem.trim(), passphrase)
        .or_else(|error| match padded_ecdsa_scalar(pem.trim()) {
            Some(padded) => keys::decode_secret_key(&padded, passphrase),
            None => Err(error),
        })
        .map(Arc::new)
        .map_err(|e| match e {
            keys::Error::KeyIsEncrypted => {
                "is encrypted: give its passphrase as private_key_passphrase".to_owned()
            }
            other => format!("could not be read ({other}): give the private key file's whole text (-----BEGIN OPENSSH PRIVATE KEY----- ...)"),
        })
}

/// An unencrypted OpenSSH ECDSA key whose private scalar is shorter than its curve's size, with the
/// scalar padded to it; `None` for any other key.
///
/// OpenSSH writes the scalar as an `mpint`, which drops leading zero bytes: one P-256 key in 256 has
/// a 31-byte scalar. ssh-key 0.7.0-rc.12 (russh's) refuses a scalar shorter than 32 bytes
/// ("length invalid"), so such a key, valid to OpenSSH, would not be read. The padded key is the
/// same key. An encrypted key cannot be mended before it is decrypted, and is left as it is.
fn padded_ecdsa_scalar(pem: &str) -> Option<String> {
    use base64::Engine as _;
    const MAGIC: &[u8] = b"openssh-key-v1\0";
    fn take(rest: &mut &[u8]) -> Option<Vec<u8>> {
        let length = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let value = rest.get(4..4usize.checked_add(length)?)?.to_vec();
        *rest = &rest[4 + length..];
        Some(value)
    }
    fn put(out: &mut Vec<u8>, value: &[u8]) {
        out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(value);
    }
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    let mut rest = blob.strip_prefix(MAGIC)?;
    let (cipher, kdf, kdf_options) = (take(&mut rest)?, take(&mut rest)?, take(&mut rest)?);
    if cipher != b"none" || rest.get(..4)? != 1u32.to_be_bytes() {
        return None;
    }
    rest = &rest[4..];
    let public = take(&mut rest)?;
    let private = take(&mut rest)?;
    let mut section = private.as_slice();
    let checks = section.get(..8)?.to_vec();
    section = &section[8..];
    let kind = take(&mut section)?;
    let size = match kind.as_slice() {
        b"ecdsa-sha2-nistp256" => 32,
        b"ecdsa-sha2-nistp384" => 48,
        b"ecdsa-sha2-nistp521" => 66,
        _ => return None,
    };
    let (curve, point, scalar, comment) = (
        take(&mut section)?,
        take(&mut section)?,
        take(&mut section)?,
        take(&mut section)?,
    );
    if scalar.is_empty() || scalar.len() >= size {
        return None;
    }
    let mut padded = vec![0u8; size - scalar.len()];
    padded.extend_from_slice(&scalar);
    let mut mended = checks;
    for value in [&kind, &curve, &point, &padded, &comment] {
        put(&mut mended, value);
    }
    // The private section is padded to the cipher's block (8 for none) with 1, 2, 3, ...
    let mut next = 1u8;
    while mended.len() % 8 != 0 {
        mended.push(next);
        next += 1;
    }
    let mut out = MAGIC.to_vec();
    for value in [&cipher, &kdf, &kdf_options] {
        put(&mut out, value);
    }
    out.extend_from_slice(&1u32.to_be_bytes());
    put(&mut out, &public);
    put(&mut out, &mended);
    let text = base64::engine::general_purpose::STANDARD.encode(out);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(70)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    Some(format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
        lines.join("\n")
    ))
}

/// Where and who to be.
#[derive(Clone)]
pub struct Target {
    /// The host name or address.
    pub host: String,
    /// Its SSH port.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// The client's key.
    pub key: Arc<PrivateKey>,
    /// The server's key.
    pub host_key: HostKey,
}

/// Why a command could not be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshError {
    /// No TCP connection within [`CONNECT_LIMIT`].
    Unreachable(String),
    /// The server's key is not the one configured: nothing was sent to it.
    HostKeyChanged {
        /// The fingerprint configured.
        was: String,
        /// The fingerprint it showed.
        now: String,
    },
    /// The server refused the client's key.
    Auth(String),
    /// The SSH conversation failed or did not finish in time.
    Ssh(String),
}

/// What the command printed and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its standard output (at most 64 KB).
    pub stdout: String,
    /// Its exit status, when the server said.
    pub status: Option<u32>,
}

/// What the server showed: its key's fingerprint, and whether it was the one configured.
type Seen = Arc<std::sync::Mutex<Option<(String, bool)>>>;

/// Checks the server's key against the configured one, and remembers what it saw.
struct Checker {
    expected: HostKey,
    seen: Seen,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server: &keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let keys::PublicKeyOrCertificate::PublicKey { key, .. } = server else {
            // Certificates are never asked for: a bare key only.
            return Ok(false);
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let matches = match &self.expected {
            HostKey::Key(expected) => expected.key_data() == key.key_data(),
            HostKey::Fingerprint(expected) => *expected == fingerprint,
        };
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((fingerprint, matches));
        }
        Ok(matches)
    }
}

/// Runs `command` on `target`, by `deadline`.
pub async fn run(target: &Target, command: &str, deadline: Instant) -> Result<Output, SshError> {
    let address = format!("{}:{}", target.host, target.port);
    let connect_by = deadline.min(Instant::now() + CONNECT_LIMIT);
    let socket =
        match tokio::time::timeout_at(connect_by, tokio::net::TcpStream::connect(&address)).await {
            Ok(Ok(socket)) => socket,
            Ok(Err(error)) => return Err(SshError::Unreachable(format!("{address}: {error}"))),
            Err(_) => {
                return Err(SshError::Unreachable(format!(
                    "{address}: no TCP connection within {} s",
                    CONNECT_LIMIT.as_secs()
                )));
            }
        };
    let _ = socket.set_nodelay(true);
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout_at(deadline, session(target, command, socket)).await {
        Ok(result) => result,
        Err(_) => Err(SshError::Ssh(format!(
            "{address}: the SSH session did not finish within {} s",
            left.as_secs().max(1)
        ))),
    }
}

async fn session(
    target: &Target,
    command: &str,
    socket: tokio::net::TcpStream,
) -> Result<Output, SshError> {
    let seen: Seen = Arc::new(std::sync::Mutex::new(None));
    let result = converse(target, command, socket, &seen).await;
    // The handshake goes on behind the handle: a refused key may surface as any later error.
    let refused = seen
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .filter(|(_, matched)| !matched);
    match (result, refused) {
        (Err(_), Some((now, _))) => Err(SshError::HostKeyChanged {
            was: target.host_key.fingerprint(),
            now,
        }),
        (result, _) => result,
    }
}

async fn converse(
    target: &Target,
    command: &str,
    socket: tokio::net::TcpStream,
    seen: &Seen,
) -> Result<Output, SshError> {
    let mut config = client::Config::default();
    if let Some(algorithms) = target.host_key.algorithms() {
        config.preferred.key = algorithms.into();
    }
    let checker = Checker {
        expected: target.host_key.clone(),
        seen: Arc::clone(seen),
    };
    let mut handle = client::connect_stream(Arc::new(config), socket, checker)
        .await
        .map_err(|e| SshError::Ssh(format!("the SSH handshake failed: {e}")))?;
    let hash = if matches!(target.key.algorithm(), keys::Algorithm::Rsa { .. }) {
        handle
            .best_supported_rsa_hash()
            .await
            .map_err(|e| SshError::Ssh(format!("the SSH handshake failed: {e}")))?
            .flatten()
    } else {
        None
    };
    let authenticated = handle
        .authenticate_publickey(
            target.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::clone(&target.key), hash),
        )
        .await
        .map_err(|e| SshError::Ssh(format!("the SSH handshake or authentication failed: {e}")))?;
    if !authenticated.success() {
        return Err(SshError::Auth(format!(
            "the server refused the key of {} ({})",
            target.user,
            target.key.public_key().fingerprint(HashAlg::Sha256)
        )));
    }
    let mut channel = handle
        .channel_open_session()
        .await
        .map_err(|e| SshError::Ssh(format!("could not open a session: {e}")))?;
    channel
        .exec(true, command)
        .await
        .map_err(|e| SshError::Ssh(format!("could not run the command: {e}")))?;
    let mut stdout = Vec::new();
    let mut status = None;
    while let Some(message) = channel.wait().await {
        match message {
            russh::ChannelMsg::Data { data } => {
                let room = MAX_OUTPUT_BYTES.saturating_sub(stdout.len());
                stdout.extend_from_slice(&data[..data.len().min(room)]);
            }
            russh::ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            russh::ChannelMsg::Close => break,
            _ => {}
        }
    }
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok(Output {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        status,
    })
}

#[cfg(test)]
mod tests {
    /// A P-256 key ssh-keygen made whose private scalar is 31 bytes (one key in 256 is): a test
    /// key, made for these tests and used nowhere else (`tests/host_check.rs` logs in with it).
    const SHORT_SCALAR_KEY: &str = include_str!("../tests/fixtures/ecdsa-short-scalar");
    const SHORT_SCALAR_PUBLIC: &str = include_str!("../tests/fixtures/ecdsa-short-scalar.pub");

    #[test]
    fn an_ecdsa_key_whose_scalar_is_short_is_read_as_openssh_reads_it() {
        // The key as it is: the SSH library refuses it.
        assert!(super::keys::decode_secret_key(SHORT_SCALAR_KEY, None).is_err());
        // lookout pads the scalar: the same key, its public half unchanged.
        let key = super::client_key(SHORT_SCALAR_KEY, None).expect("read");
        assert_eq!(
            key.public_key().to_openssh().unwrap(),
            SHORT_SCALAR_PUBLIC.trim()
        );
        // Nothing else is touched.
        assert_eq!(super::padded_ecdsa_scalar("not a key"), None);
    }

    use super::*;

    #[test]
    fn host_keys_are_read_as_ssh_keyscan_and_ssh_keygen_print_them() {
        let line = "ssh-gateway ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        let key = HostKey::parse(line).expect("a keyscan line");
        assert!(key.fingerprint().starts_with("SHA256:"));
        assert_eq!(
            HostKey::parse(&key.fingerprint()),
            Ok(HostKey::Fingerprint(key.fingerprint()))
        );
        for bad in ["", "SHA256:short", "ssh-ed25519 notbase64!", "hello world"] {
            assert!(HostKey::parse(bad).is_err(), "{bad}");
        }
        for (marker, says) in [
            ("@revoked", "must NOT have"),
            ("@cert-authority", "not a certificate authority"),
            ("@future", "marker @future"),
        ] {
            let error = HostKey::parse(&format!("{marker} {line}")).expect_err(marker);
            assert!(error.contains(says), "{error}");
        }
    }
}
