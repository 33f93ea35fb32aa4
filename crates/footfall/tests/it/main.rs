//! End-to-end tests of the `footfall` binary: a real server process on a real port, real HTTP
//! clients, `kill -9`, and the log read back with `footfall log dump`.

mod analytics;
mod api;
mod crash;
mod demo;
mod forget;
mod hostile;
mod http;
mod influx;
mod kafka;
mod lake;
mod live;
mod simulate;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn footfall() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_footfall"));
    // One lake secret for every test's lakes, so that tables of different runs compare equal
    // (person hashes in sketches are keyed by it).
    command.env("FOOTFALL_LAKE_SECRET", "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    command
}

/// The write key every test server accepts.
pub const KEY: &str = "test-write-key";

/// A `footfall serve` process.
pub struct Server {
    child: Child,
    /// Base URL.
    pub url: String,
    /// Data directory.
    pub data: PathBuf,
    port: u16,
    extra: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl Server {
    /// Starts a server on a free port over `data`, with extra arguments.
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_on(data, free_port(), extra.iter().map(|s| s.to_string()).collect())
    }

    fn start_on(data: &Path, port: u16, extra: Vec<String>) -> Self {
        let mut command = footfall();
        command.args(&extra).args(["serve", "--data"]).arg(data).args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--write-key",
            KEY,
        ]);
        let child = command
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("FOOTFALL_TEST_SERVER_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("spawn footfall serve");
        let server = Self { child, url: format!("http://127.0.0.1:{port}"), data: data.to_path_buf(), port, extra };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("footfall serve did not become healthy on port {}", self.port);
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait")
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        let again = Self::start_on(&self.data, self.port, self.extra.clone());
        // Dropping the old handle reaps a process that is already dead.
        drop(std::mem::replace(self, again));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every stored event (or dead letter) as JSON, via `footfall log dump`.
pub fn dump(data: &Path, dead_letters: bool) -> Vec<Value> {
    let mut command = footfall();
    command.args(["log", "dump", "--data"]).arg(data);
    if dead_letters {
        command.arg("--dead-letter");
    }
    let output = command.output().expect("run log dump");
    assert!(output.status.success(), "log dump failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("utf8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

/// An HTTP client for tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// `GET url`, its body as JSON.
pub async fn get_json(url: &str) -> Value {
    client().get(url).send().await.expect("send").json().await.expect("JSON")
}
