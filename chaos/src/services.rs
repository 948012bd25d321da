//! The real `missive` processes (ingest, projector, delivery), each a child
//! process on a fixed port, so a kill -9 is a real crash and a restart comes
//! back where clients expect it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::stack::{free_port, wait_listening};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Ingest,
    Projector,
    Delivery,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ingest => "ingest",
            Kind::Projector => "projector",
            Kind::Delivery => "delivery",
        }
    }
}

pub struct Service {
    pub kind: Kind,
    pub addr: SocketAddr,
    bin: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    /// `env` is the shared configuration (`MISSIVE_*`); the listen address is added here.
    pub fn new(
        kind: Kind,
        bin: &Path,
        env: &[(String, String)],
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut env = env.to_vec();
        // Stable across restarts, as a pod name or a systemd unit would be.
        env.push((
            "MISSIVE_INSTANCE_ID".into(),
            format!("chaos-{}", kind.name()),
        ));
        env.push((
            format!("MISSIVE_{}__LISTEN", kind.name().to_uppercase()),
            addr.to_string(),
        ));
        Ok(Self {
            kind,
            addr,
            bin: bin.to_owned(),
            env,
            log: dir.join(format!("{}.log", kind.name())),
            child: None,
        })
    }

    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.bin)
            .arg(self.kind.name())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("MISSIVE_PROGRESS", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {} {}", self.bin.display(), self.kind.name()))?;
        self.child = Some(child);
        // The listener binds after the service has reached PostgreSQL and the
        // broker, so this also waits for its start-up.
        wait_listening(self.addr, Duration::from_secs(60))
            .await
            .with_context(|| {
                format!(
                    "{} did not come up; see {}",
                    self.kind.name(),
                    self.log.display()
                )
            })
    }

    /// kill -9: no shutdown hook runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the process died by itself (it should not, whatever fails around it).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}
