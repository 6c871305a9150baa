//! A real OpenSSH server (Debian's `openssh-server`, which `make test` installs when missing) on
//! 127.0.0.1 at a free port, with a throwaway host key and the client keys it authorizes, logging
//! to a file the tests read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where Debian puts sshd.
const SSHD: &str = "/usr/sbin/sshd";

/// A key pair made by ssh-keygen.
pub struct KeyPair {
    /// The private key file's text.
    pub private: String,
    /// The public key line.
    pub public: String,
}

/// Makes a key pair of `kind` (`ed25519`, `rsa`) in `dir`, with `passphrase` (empty: none).
pub fn key_pair(dir: &Path, name: &str, kind: &str, passphrase: &str) -> KeyPair {
    let path = dir.join(name);
    let mut command = Command::new("ssh-keygen");
    command.args(["-q", "-t", kind, "-N", passphrase, "-C", name, "-f"]);
    command.arg(&path);
    if kind == "rsa" {
        command.args(["-b", "2048"]);
    }
    let status = command
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen made {name}");
    KeyPair {
        private: std::fs::read_to_string(&path).expect("the private key"),
        public: std::fs::read_to_string(path.with_extension("pub"))
            .expect("the public key")
            .trim()
            .to_owned(),
    }
}

/// The running server.
pub struct Sshd {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its host key, as ssh-keyscan prints it (`ssh-ed25519 AAAA...`).
    pub host_key: String,
    /// The user to log in as (whoever runs the tests).
    pub user: String,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Sshd {
    /// Starts a server that lets in the holders of `authorized` (public key lines).
    pub fn start(authorized: &[&str]) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: `make test` installs Debian's openssh-server (make sshd)"
        );
        let dir = tempfile::tempdir().expect("a folder");
        let host = key_pair(dir.path(), "host_ed25519", "ed25519", "");
        std::fs::write(
            dir.path().join("authorized_keys"),
            authorized.join("\n") + "\n",
        )
        .expect("authorized_keys");
        // sshd's privilege separation wants its empty folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.path().join("sshd.log");
        let config = dir.path().join("sshd_config");
        // MaxStartups: many monitors may log in to this one server at once, as they would to many
        // servers (sshd's default starts refusing past 10 connections not yet logged in).
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
                 AuthorizedKeysFile {keys}\nStrictModes no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nLogLevel VERBOSE\nMaxStartups 100\n",
                host = dir.path().join("host_ed25519").display(),
                pid = dir.path().join("sshd.pid").display(),
                keys = dir.path().join("authorized_keys").display(),
            ),
        )
        .expect("sshd_config");
        let child = Command::new(SSHD)
            .args(["-D", "-f"])
            .arg(&config)
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd listens: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout)
            .expect("a name")
            .trim()
            .to_owned();
        Sshd {
            port,
            host_key: host.public,
            user,
            log,
            child,
            _dir: dir,
        }
    }

    /// What sshd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
