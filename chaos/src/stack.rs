//! A private PostgreSQL cluster and a private Apache Kafka broker on free loopback
//! ports, under one scratch directory. The fault loop kills and restarts
//! them, so it never touches the shared development stack.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A port nothing listens on now (the OS picks it; we release it at once).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `addr`.
pub async fn wait_listening(addr: SocketAddr, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing listens on {addr} after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Effective uid 0, read from /proc (no libc call needed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A PostgreSQL cluster of its own. PostgreSQL refuses to run as root, so as
/// root its tools run as the `postgres` system user (as infra/up.sh does).
pub struct PrivatePostgres {
    bindir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn bindir() -> anyhow::Result<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .context("PostgreSQL is not installed (run `make up` once, which installs it)")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .collect();
        dirs.sort_by_key(|d| {
            d.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        dirs.pop().context("no initdb under /usr/lib/postgresql")
    }

    /// initdb in `dir/pg` (trust auth on loopback, superuser `missive`) and start.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let pg = Self {
            bindir: Self::bindir()?,
            data: dir.join("pg"),
            log: dir.join("pg").join("server.log"),
            port: free_port()?,
        };
        std::fs::create_dir_all(&pg.data)?;
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .status()?;
            if !status.success() {
                bail!("chown {} to postgres failed", dir.display());
            }
        }
        pg.run_tool(
            "initdb",
            &[
                "-D",
                path_str(&pg.data)?,
                "--username=missive",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )?;
        pg.start_server().await?;
        Ok(pg)
    }

    fn run_tool(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let exe = self.bindir.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        // pg_ctl and initdb fail when they cannot read the working directory.
        let out = cmd
            .args(args)
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    pub async fn start_server(&self) -> anyhow::Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            path_str(&self.data)?
        );
        self.run_tool(
            "pg_ctl",
            &[
                "start",
                "-D",
                path_str(&self.data)?,
                "-w",
                "-t",
                "60",
                "-l",
                path_str(&self.log)?,
                "-o",
                &opts,
            ],
        )?;
        wait_listening(
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(30),
        )
        .await
    }

    /// Stops as a crash would: no checkpoint, clients cut off.
    pub fn stop_immediate(&self) -> anyhow::Result<()> {
        self.run_tool(
            "pg_ctl",
            &["stop", "-D", path_str(&self.data)?, "-m", "immediate", "-w"],
        )
    }

    /// The server's URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://missive@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
    }
}

/// The repository this crate was built from: the broker's jars and its
/// settings live under it.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the chaos crate lives in the workspace")
        .to_owned()
}

/// The Apache Kafka jars `infra/up.sh` fetches: `$MISSIVE_KAFKA_LIBS`, or
/// `.data/kafka/libs` in the repository.
pub fn kafka_libs() -> anyhow::Result<PathBuf> {
    let libs = std::env::var_os("MISSIVE_KAFKA_LIBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".data/kafka/libs"));
    if !libs.join(".complete").exists() {
        bail!(
            "no Apache Kafka jars in {} (run `make up` once, which fetches them)",
            libs.display()
        );
    }
    Ok(libs)
}

/// An Apache Kafka broker of its own (one KRaft node, the settings of
/// `infra/kafka/server.properties`) with its log directories in `dir/kafka`.
pub struct PrivateBroker {
    libs: PathBuf,
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl PrivateBroker {
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let mut broker = Self {
            libs: kafka_libs()?,
            dir: dir.join("kafka"),
            port: free_port()?,
            child: None,
        };
        let controller_port = free_port()?;
        std::fs::create_dir_all(&broker.dir)?;
        let settings = include_str!("../../infra/kafka/server.properties")
            .replace("@PORT@", &broker.port.to_string())
            .replace("@CONTROLLER_PORT@", &controller_port.to_string())
            .replace("@LOG_DIRS@", path_str(&broker.dir.join("data"))?);
        std::fs::write(broker.dir.join("server.properties"), settings)?;
        // KRaft formats its log directory once, with a cluster id of 22
        // base64url characters (a UUID's 16 bytes); like Kafka's own, never
        // one starting with '-', which the command line would take for an option.
        let cluster_id = std::iter::repeat_with(|| base64_url(uuid::Uuid::new_v4().as_bytes()))
            .find(|id| !id.starts_with('-'))
            .expect("an id");
        let out = broker
            .java()
            .args(["kafka.tools.StorageTool", "format", "-t", &cluster_id, "-c"])
            .arg(broker.dir.join("server.properties"))
            .stdin(Stdio::null())
            .output()
            .context("run java (is a JDK installed? `make up` installs one)")?;
        if !out.status.success() {
            bail!(
                "kafka-storage format failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        broker.start_process().await?;
        Ok(broker)
    }

    fn java(&self) -> Command {
        let mut c = Command::new("java");
        c.args([
            "-Xms128m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
        ])
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            repo_root().join("infra/kafka/log4j2.yaml").display()
        ))
        .arg("-cp")
        .arg(self.libs.join("*"));
        c
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn start_process(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("kafka.log"))?;
        let child = self
            .java()
            .arg("kafka.Kafka")
            .arg(self.dir.join("server.properties"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start the Kafka broker")?;
        self.child = Some(child);
        wait_listening(
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(60),
        )
        .await
    }

    /// kill -9, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Unpadded base64url, the form of a KRaft cluster id.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("non-UTF-8 path {}", p.display()))
}
