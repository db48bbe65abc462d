//! Containers made from a built image: reading its filesystem (for the image checks) and the smoke
//! run (start with `--network none`, wait for the HEALTHCHECK, remove). Every container made here
//! is removed, on success, on failure and when the future is dropped (cancelled build).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HealthConfig, HealthStatusEnum, HostConfig};
use bollard::query_parameters::{
  CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder,
  LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::engine::{Engine, LogFn};
use super::error::DockerError;

/// Label put on every container farm makes; its value is the image reference.
pub const CONTAINER_LABEL: &str = "farm.container-of";

/// Label naming the process that made the container: `<host>:<pid>:<start time>` (the start time,
/// in clock ticks since boot from `/proc/<pid>/stat`, tells a reused pid from the owner).
pub const OWNER_LABEL: &str = "farm.owner";

/// The [`OWNER_LABEL`] value of process `pid` on this host (`None` when it is not running).
fn owner_of(pid: u32) -> Option<String> {
  let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
  // Fields after the command name (which may hold spaces), which ends at the last ')'.
  let start = stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.to_string();
  Some(format!("{}:{pid}:{start}", host_name()))
}

fn host_name() -> String {
  std::fs::read_to_string("/proc/sys/kernel/hostname")
    .map_or_else(|_| String::new(), |h| h.trim().to_string())
}

/// Whether a container with these labels was left by a farm process that is gone: one of this
/// host whose owner no longer runs, or one made before the owner label existed. Containers of a
/// running build (this one or another) and of other hosts sharing the engine are not stale.
fn is_stale(labels: Option<&HashMap<String, String>>) -> bool {
  let Some(owner) = labels.and_then(|l| l.get(OWNER_LABEL)) else { return true };
  let mut parts = owner.rsplitn(3, ':');
  let (Some(_start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
    return true;
  };
  if host != host_name() {
    return false;
  }
  match pid.parse::<u32>() {
    Ok(pid) => owner_of(pid).as_deref() != Some(owner.as_str()),
    Err(_) => true,
  }
}

/// Lines of container output kept for a failure report.
pub const LOG_TAIL_LINES: usize = 30;

/// Removes the container when dropped unless [`ContainerGuard::remove`] already did.
struct ContainerGuard {
  docker: Docker,
  id: Option<String>,
}

impl ContainerGuard {
  async fn remove(&mut self) {
    if let Some(id) = self.id.take() {
      let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
      let _ = self.docker.remove_container(&id, Some(opts)).await;
    }
  }
}

impl Drop for ContainerGuard {
  fn drop(&mut self) {
    // The future was dropped (build cancelled) before the container was removed.
    if let (Some(id), Ok(rt)) = (self.id.take(), tokio::runtime::Handle::try_current()) {
      let docker = self.docker.clone();
      rt.spawn(async move {
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        let _ = docker.remove_container(&id, Some(opts)).await;
      });
    }
  }
}

/// The outcome of a passed smoke run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeReport {
  /// The image that ran.
  pub image: String,
  /// Time from start to the first passing health check.
  pub healthy_after_ms: u64,
  /// Health checks run until then.
  pub checks: u64,
}

fn engine_err(call: String) -> impl FnOnce(bollard::errors::Error) -> DockerError {
  move |e| DockerError::Engine { call, message: e.to_string() }
}

impl Engine {
  async fn create(
    &self,
    image: &str,
    body: ContainerCreateBody,
    purpose: &str,
  ) -> Result<ContainerGuard, DockerError> {
    let name = format!(
      "farm-{purpose}-{}-{}",
      std::process::id(),
      std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000)
    );
    let opts = CreateContainerOptionsBuilder::default().name(&name).build();
    let mut labels = body.labels.clone().unwrap_or_default();
    labels.insert(CONTAINER_LABEL.to_string(), image.to_string());
    if let Some(owner) = owner_of(std::process::id()) {
      labels.insert(OWNER_LABEL.to_string(), owner);
    }
    let body = ContainerCreateBody { image: Some(image.to_string()), labels: Some(labels), ..body };
    let created = self
      .client()
      .create_container(Some(opts), body)
      .await
      .map_err(engine_err(format!("create_container from {image}")))?;
    Ok(ContainerGuard { docker: self.client().clone(), id: Some(created.id) })
  }

  /// Removes containers farm left from `image` (a killed process cannot remove its own); those of
  /// builds still running (see [`is_stale`]) are left alone.
  pub async fn remove_stale_containers(&self, image: &str) -> Result<usize, DockerError> {
    let filters = HashMap::from([("label", vec![format!("{CONTAINER_LABEL}={image}")])]);
    let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let list = self
      .client()
      .list_containers(Some(opts))
      .await
      .map_err(engine_err(format!("list_containers of {image}")))?;
    let mut n = 0;
    for c in list.into_iter().filter(|c| is_stale(c.labels.as_ref())) {
      if let Some(id) = c.id {
        let mut g = ContainerGuard { docker: self.client().clone(), id: Some(id) };
        g.remove().await;
        n += 1;
      }
    }
    Ok(n)
  }

  /// A tar archive of `path` inside `image` (a created, never started container).
  pub async fn read_path(&self, image: &str, path: &str) -> Result<Vec<u8>, DockerError> {
    let mut guard = self
      .create(
        image,
        ContainerCreateBody { cmd: Some(vec!["true".into()]), ..Default::default() },
        "read",
      )
      .await?;
    let id = guard.id.clone().unwrap_or_default();
    let opts = DownloadFromContainerOptionsBuilder::default().path(path).build();
    let mut stream = self.client().download_from_container(&id, Some(opts));
    let mut bytes = Vec::new();
    let mut result = Ok(());
    while let Some(chunk) = stream.next().await {
      match chunk {
        Ok(b) => bytes.extend_from_slice(&b),
        Err(e) => {
          result = Err(engine_err(format!("download {path} from {image}"))(e));
          break;
        }
      }
    }
    guard.remove().await;
    result.map(|()| bytes)
  }

  /// The last `n` lines of a container's output.
  async fn log_tail(&self, id: &str, n: usize) -> Vec<String> {
    let tail = n.to_string();
    let opts = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&tail).build();
    let mut stream = self.client().logs(id, Some(opts));
    let mut text = String::new();
    while let Some(Ok(item)) = stream.next().await {
      text.push_str(&String::from_utf8_lossy(&item.into_bytes()));
    }
    text.lines().map(|l| super::engine::strip_ansi(l)).collect()
  }

  /// Starts `image` without network (`network_mode: none`), waits until its own HEALTHCHECK
  /// passes (run every second here instead of the image's interval; same test command), and
  /// removes the container. A check that fails `retries` times, a container that exits, or no
  /// pass within `timeout` fails with the container's last output lines and health-check output.
  pub async fn smoke(
    &self,
    image: &str,
    env: Vec<String>,
    timeout: Duration,
    log: LogFn<'_>,
  ) -> Result<SmokeReport, DockerError> {
    let fail = |reason: String, last_lines: Vec<String>| DockerError::SmokeFailed {
      image: image.to_string(),
      reason,
      last_lines,
    };
    let inspect = self
      .client()
      .inspect_image(image)
      .await
      .map_err(engine_err(format!("inspect_image {image}")))?;
    let hc = inspect.config.and_then(|c| c.healthcheck);
    let start_period = hc.as_ref().and_then(|h| h.start_period).filter(|p| *p > 0).unwrap_or(0);
    let test = hc
      .and_then(|h| h.test)
      .filter(|t| t.first().is_some_and(|w| w != "NONE"))
      .ok_or_else(|| fail("the image has no HEALTHCHECK".into(), vec![]))?;
    let stale = self.remove_stale_containers(image).await?;
    if stale > 0 {
      log(format!("removed {stale} container(s) left by an earlier smoke run of {image}"));
    }
    const S: i64 = 1_000_000_000;
    let body = ContainerCreateBody {
      env: Some(env),
      healthcheck: Some(HealthConfig {
        test: Some(test.clone()),
        interval: Some(S),
        timeout: Some(10 * S),
        retries: Some(3),
        // The image's own start period (failures then do not count), at most the timeout.
        start_period: Some(start_period.min(timeout.as_secs() as i64 * S)),
        start_interval: None,
      }),
      host_config: Some(HostConfig { network_mode: Some("none".into()), ..Default::default() }),
      ..Default::default()
    };
    let mut guard = self.create(image, body, "smoke").await?;
    let id = guard.id.clone().unwrap_or_default();
    log(format!("smoke: started {image} (network none), waiting for its HEALTHCHECK {test:?}"));
    let started = Instant::now();
    if let Err(e) = self.client().start_container(&id, None).await {
      let lines = self.log_tail(&id, LOG_TAIL_LINES).await;
      guard.remove().await;
      return Err(fail(format!("the container did not start: {e}"), lines));
    }
    let outcome = loop {
      tokio::time::sleep(Duration::from_millis(500)).await;
      let state = match self.client().inspect_container(&id, None).await {
        Ok(c) => c.state.unwrap_or_default(),
        Err(e) => break Err(format!("inspecting the container failed: {e}")),
      };
      let health = state.health.clone().unwrap_or_default();
      let checks = health.log.as_ref().map_or(0, |l| l.len() as u64);
      match health.status {
        Some(HealthStatusEnum::HEALTHY) => {
          break Ok(SmokeReport {
            image: image.to_string(),
            healthy_after_ms: started.elapsed().as_millis() as u64,
            checks: checks.max(1),
          })
        }
        Some(HealthStatusEnum::UNHEALTHY) => {
          break Err(format!(
            "the HEALTHCHECK failed {} times in a row",
            health.failing_streak.unwrap_or(0)
          ))
        }
        _ => {}
      }
      if state.running == Some(false) {
        break Err(format!(
          "the container exited (code {}) before its HEALTHCHECK passed",
          state.exit_code.unwrap_or(-1)
        ));
      }
      if started.elapsed() > timeout {
        break Err(format!("its HEALTHCHECK did not pass within {} s", timeout.as_secs()));
      }
    };
    match outcome {
      Ok(report) => {
        guard.remove().await;
        log(format!(
          "smoke: {image} healthy after {} ms; container removed",
          report.healthy_after_ms
        ));
        Ok(report)
      }
      Err(reason) => {
        let mut lines = self.log_tail(&id, LOG_TAIL_LINES).await;
        if let Ok(c) = self.client().inspect_container(&id, None).await {
          let results = c.state.and_then(|s| s.health).and_then(|h| h.log).unwrap_or_default();
          if let Some(last) = results.last() {
            lines
              .push(format!("--- last health check (exit {}) ---", last.exit_code.unwrap_or(-1)));
            lines.extend(last.output.clone().unwrap_or_default().lines().map(String::from));
          }
        }
        guard.remove().await;
        Err(fail(reason, lines))
      }
    }
  }
}

#[cfg(test)]
mod owner_tests {
  use super::*;

  #[test]
  fn only_containers_of_gone_processes_are_stale() {
    let me = owner_of(std::process::id()).expect("this process has a /proc entry");
    let labels = |v: &str| HashMap::from([(OWNER_LABEL.to_string(), v.to_string())]);
    assert!(!is_stale(Some(&labels(&me))), "a running build's container is not stale");
    // The same pid with another start time: the pid was reused, the owner is gone.
    let (head, _) = me.rsplit_once(':').unwrap();
    assert!(is_stale(Some(&labels(&format!("{head}:1")))));
    // A pid that does not run.
    assert!(is_stale(Some(&labels(&format!("{}:4294967294:5", host_name())))));
    // Another host's container is not ours to judge; one without the label is from an older farm.
    assert!(!is_stale(Some(&labels("another-host:1:1"))));
    assert!(is_stale(Some(&HashMap::new())));
    assert!(is_stale(None));
  }
}
