//! The build plan: which tasks run, and what each waits for.
//!
//! The seed's order is `backend ∥ ai-models → frontend → docker`. Here the tasks this version builds:
//!
//! - `backend`: filtered copy of the API plus bytecode (`compileall`).
//! - `types`: OpenAPI export of the FastAPI app and native TypeScript generation (keys the frontend).
//! - `typecheck`: `tsc --noEmit` on the frontend, in parallel with the Vite build.
//! - `frontend`: the Vite build.
//! - `docker`: Dockerfiles, compose, Kubernetes, deploy scripts; images through the Engine API.
//! - `ai-models`: Ollama model configs, pulls and exports, custom models, `ai-config.json`.
//!
//! Command tasks from the config's `tasks` section join the plan with their `dependsOn`.
//!
//! `frontend` and `typecheck` come after `backend` (the seed's order: the frontend is built against the
//! backend). Targets select tasks; a selected task pulls in its dependencies.

use crate::config::FarmConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The names of the built-in tasks (command tasks may not reuse them).
pub const BUILTIN_TASKS: &[&str] =
  &["backend", "types", "typecheck", "frontend", "ai-models", "docker"];

/// The kind of a task: which builder runs it (see `crate::builders::builder_for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskKind {
  /// The FastAPI backend: filtered copy, bytecode, production venv, migrations.
  Backend,
  /// OpenAPI export and TypeScript types.
  Types,
  /// `tsc --noEmit` on the frontend.
  Typecheck,
  /// The Vite build.
  Frontend,
  /// Ollama model configs, pulls and exports.
  AiModels,
  /// Dockerfiles, compose, Kubernetes; images.
  Docker,
  /// A shell command from the config's `tasks`.
  Command,
}

impl TaskKind {
  /// The built-in kinds, with their task names.
  pub const BUILTIN: [(TaskKind, &'static str); 6] = [
    (TaskKind::Backend, "backend"),
    (TaskKind::Types, "types"),
    (TaskKind::Typecheck, "typecheck"),
    (TaskKind::Frontend, "frontend"),
    (TaskKind::AiModels, "ai-models"),
    (TaskKind::Docker, "docker"),
  ];

  /// The task name of a built-in kind (`None` for [`TaskKind::Command`], named by the user).
  pub fn builtin_name(self) -> Option<&'static str> {
    TaskKind::BUILTIN.iter().find(|(k, _)| *k == self).map(|(_, n)| *n)
  }

  /// The kind of a built-in task name.
  pub fn of_builtin(name: &str) -> Option<TaskKind> {
    TaskKind::BUILTIN.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
  }

  /// Whether its builder runs JavaScript through the build's host (the frontend: Vite), so it
  /// cannot run without Node.
  pub fn needs_js(self) -> bool {
    matches!(self, TaskKind::Frontend)
  }
}

/// One task of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
  /// Unique name (`backend`, `frontend`, ...).
  pub name: String,
  /// Which builder runs it.
  pub kind: TaskKind,
  /// Names of the tasks that must succeed first.
  pub deps: Vec<String>,
  /// The seed's stage this task belongs to (`parallel-builds`, `frontend-build`, ...), for phase timings.
  pub phase: String,
}

impl Task {
  /// A built-in task of `kind`, named after it.
  pub fn builtin(kind: TaskKind, deps: Vec<String>, phase: &str) -> Task {
    let name = kind.builtin_name().unwrap_or("command").to_string();
    Task { name, kind, deps, phase: phase.into() }
  }
}

/// A validated DAG of tasks, in a topological order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
  tasks: Vec<Task>,
}

/// Why a plan could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
  /// A target that names no task.
  #[error("unknown target `{0}`: expected one of all, frontend, backend, types, typecheck, ai, docker, or a task from `tasks`")]
  UnknownTarget(String),
  /// A target whose config section is missing.
  #[error("target `{target}` needs a `{section}` section in the config: {fix}")]
  MissingSection {
    /// The target asked for.
    target: String,
    /// The missing config section.
    section: &'static str,
    /// How to add it.
    fix: &'static str,
  },
  /// A task depends on one that does not exist.
  #[error("task `{task}` depends on unknown task `{dep}`")]
  UnknownDependency {
    /// The task.
    task: String,
    /// The missing dependency.
    dep: String,
  },
  /// Two tasks share a name.
  #[error("task `{0}` is defined twice")]
  Duplicate(String),
  /// The tasks form a cycle.
  #[error("dependency cycle: {0}")]
  Cycle(String),
}

impl Plan {
  /// Builds a plan from tasks in any order: checks names and dependencies and sorts it
  /// topologically (ties keep the given order).
  pub fn new(tasks: Vec<Task>) -> Result<Self, PlanError> {
    let mut index = BTreeMap::new();
    for (i, t) in tasks.iter().enumerate() {
      if index.insert(t.name.clone(), i).is_some() {
        return Err(PlanError::Duplicate(t.name.clone()));
      }
    }
    for t in &tasks {
      for d in &t.deps {
        if !index.contains_key(d) {
          return Err(PlanError::UnknownDependency { task: t.name.clone(), dep: d.clone() });
        }
      }
    }
    // Kahn's algorithm, always taking the earliest ready task to keep the order stable.
    let mut remaining: Vec<usize> = tasks.iter().map(|t| t.deps.len()).collect();
    let mut done = vec![false; tasks.len()];
    let mut order = Vec::with_capacity(tasks.len());
    while order.len() < tasks.len() {
      let Some(next) = (0..tasks.len()).find(|&i| !done[i] && remaining[i] == 0) else {
        let stuck: Vec<&str> =
          (0..tasks.len()).filter(|&i| !done[i]).map(|i| tasks[i].name.as_str()).collect();
        return Err(PlanError::Cycle(stuck.join(" → ")));
      };
      done[next] = true;
      order.push(next);
      for (i, t) in tasks.iter().enumerate() {
        if t.deps.iter().any(|d| d == &tasks[next].name) {
          remaining[i] -= t.deps.iter().filter(|d| *d == &tasks[next].name).count();
        }
      }
    }
    let mut slots: Vec<Option<Task>> = tasks.into_iter().map(Some).collect();
    Ok(Plan { tasks: order.into_iter().filter_map(|i| slots[i].take()).collect() })
  }

  /// The tasks, dependencies before dependents.
  pub fn tasks(&self) -> &[Task] {
    &self.tasks
  }

  /// The task with this name.
  pub fn get(&self, name: &str) -> Option<&Task> {
    self.tasks.iter().find(|t| t.name == name)
  }

  /// Keeps only the named tasks and everything they depend on, transitively.
  pub fn select(&self, names: &[String]) -> Result<Plan, PlanError> {
    let mut keep = BTreeSet::new();
    let mut stack: Vec<String> = names.to_vec();
    while let Some(n) = stack.pop() {
      let task = self.get(&n).ok_or_else(|| PlanError::UnknownTarget(n.clone()))?;
      if keep.insert(n.clone()) {
        stack.extend(task.deps.iter().cloned());
      }
    }
    Ok(Plan { tasks: self.tasks.iter().filter(|t| keep.contains(&t.name)).cloned().collect() })
  }

  /// Every task that depends on `name`, directly or not.
  pub fn dependents_of(&self, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut frontier = vec![name.to_string()];
    while let Some(n) = frontier.pop() {
      for t in &self.tasks {
        if t.deps.contains(&n) && out.insert(t.name.clone()) {
          frontier.push(t.name.clone());
        }
      }
    }
    out
  }
}

impl fmt::Display for Plan {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for t in &self.tasks {
      if t.deps.is_empty() {
        writeln!(f, "{} [{}]", t.name, t.phase)?;
      } else {
        writeln!(f, "{} [{}] ← {}", t.name, t.phase, t.deps.join(", "))?;
      }
    }
    Ok(())
  }
}

/// Whether the frontend gets a `typecheck` task (decided by the caller, who can see the disk).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanFacts {
  /// `frontend.typecheck`, or its default (the app has a `tsconfig.json`).
  pub typecheck: bool,
}

/// The full plan for a config, before target selection.
pub fn full_plan(cfg: &FarmConfig, facts: PlanFacts) -> Result<Plan, PlanError> {
  let mut tasks = Vec::new();
  let has_backend = cfg.backend.is_some();
  if has_backend {
    tasks.push(Task::builtin(TaskKind::Backend, vec![], "parallel-builds"));
  }
  if cfg.ai.is_some() {
    tasks.push(Task::builtin(TaskKind::AiModels, vec![], "parallel-builds"));
  }
  let types =
    cfg.backend.as_ref().is_some_and(|b| b.generate_types.unwrap_or(cfg.frontend.is_some()));
  if types {
    tasks.push(Task::builtin(TaskKind::Types, vec!["backend".into()], "codegen"));
  }
  if cfg.frontend.is_some() {
    let deps: Vec<String> = if types {
      vec!["types".into()]
    } else if has_backend {
      vec!["backend".into()]
    } else {
      vec![]
    };
    if facts.typecheck {
      tasks.push(Task::builtin(TaskKind::Typecheck, deps.clone(), "frontend-build"));
    }
    tasks.push(Task::builtin(TaskKind::Frontend, deps, "frontend-build"));
  }
  if cfg.docker.is_some() && has_backend {
    let deps: Vec<String> = ["backend", "ai-models", "typecheck", "frontend"]
      .iter()
      .filter(|d| tasks.iter().any(|t| t.name == **d))
      .map(|d| d.to_string())
      .collect();
    tasks.push(Task::builtin(TaskKind::Docker, deps, "containerization"));
  }
  for (name, t) in &cfg.tasks {
    tasks.push(Task {
      name: name.clone(),
      kind: TaskKind::Command,
      deps: t.depends_on.clone(),
      phase: "tasks".into(),
    });
  }
  Plan::new(tasks)
}

/// The plan for some targets (`all`, `frontend`, `backend`, `typecheck`); an empty list means `all`.
pub fn plan_for_targets(
  cfg: &FarmConfig,
  facts: PlanFacts,
  targets: &[String],
) -> Result<Plan, PlanError> {
  let full = full_plan(cfg, facts)?;
  if targets.is_empty() || targets.iter().any(|t| t == "all") {
    return Ok(full);
  }
  let mut names = Vec::new();
  for t in targets {
    let (section, fix): (&'static str, &'static str) = match t.as_str() {
      "frontend" | "web" | "typecheck" => ("frontend", "add `frontend: { root: 'apps/web' }`"),
      "backend" | "api" | "types" => ("backend", "add `backend: { root: 'apps/api' }`"),
      "ai" | "ai-models" => ("ai", "add `ai: { providers: { ollama: { models: ['llama3.2'] } } }`"),
      "docker" => ("docker", "add `docker: {}` (it also needs a `backend` section)"),
      other if cfg.tasks.contains_key(other) => {
        names.push(other.to_string());
        continue;
      }
      _ => return Err(PlanError::UnknownTarget(t.clone())),
    };
    let name = match t.as_str() {
      "web" => "frontend",
      "api" => "backend",
      "ai" => "ai-models",
      other => other,
    };
    if full.get(name).is_none() {
      if name == "typecheck" && cfg.frontend.is_some() {
        return Err(PlanError::UnknownTarget(
          "typecheck` (it is off: set `frontend.typecheck: true` and give the app a tsconfig.json"
            .into(),
        ));
      }
      return Err(PlanError::MissingSection { target: t.clone(), section, fix });
    }
    names.push(name.to_string());
  }
  full.select(&names)
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  fn cfg() -> FarmConfig {
    FarmConfig::from_json(json!({ "appName": "x", "frontend": {}, "backend": {} }), "f").unwrap()
  }

  fn names(p: &Plan) -> Vec<&str> {
    p.tasks().iter().map(|t| t.name.as_str()).collect()
  }

  #[test]
  fn seed_order_backend_then_frontend() {
    let p = full_plan(&cfg(), PlanFacts { typecheck: true }).unwrap();
    assert_eq!(names(&p), ["backend", "types", "typecheck", "frontend"]);
    assert_eq!(p.get("types").unwrap().deps, ["backend"]);
    assert_eq!(p.get("frontend").unwrap().deps, ["types"]);
  }

  #[test]
  fn docker_waits_for_the_outputs_it_ships() {
    let c = FarmConfig::from_json(
      json!({ "appName": "x", "frontend": {}, "backend": {}, "ai": {}, "docker": {} }),
      "f",
    )
    .unwrap();
    let p = full_plan(&c, PlanFacts { typecheck: true }).unwrap();
    let deps = &p.get("docker").unwrap().deps;
    for d in ["backend", "frontend", "ai-models"] {
      assert!(deps.iter().any(|x| x == d), "docker must wait for {d}: {deps:?}");
    }
    assert_eq!(names(&p).last(), Some(&"docker"));
    let p = plan_for_targets(&c, PlanFacts::default(), &["docker".into()]).unwrap();
    assert_eq!(names(&p), ["backend", "ai-models", "types", "frontend", "docker"]);
  }

  #[test]
  fn target_pulls_in_dependencies() {
    let p = plan_for_targets(&cfg(), PlanFacts { typecheck: true }, &["frontend".into()]).unwrap();
    assert_eq!(names(&p), ["backend", "types", "frontend"]);
    let p = plan_for_targets(&cfg(), PlanFacts::default(), &["backend".into()]).unwrap();
    assert_eq!(names(&p), ["backend"]);
  }

  #[test]
  fn bad_targets_are_errors() {
    assert!(matches!(
      plan_for_targets(&cfg(), PlanFacts::default(), &["nope".into()]),
      Err(PlanError::UnknownTarget(_))
    ));
    let only_api = FarmConfig::from_json(json!({ "appName": "x", "backend": {} }), "f").unwrap();
    assert!(matches!(
      plan_for_targets(&only_api, PlanFacts::default(), &["frontend".into()]),
      Err(PlanError::MissingSection { section: "frontend", .. })
    ));
  }

  #[test]
  fn cycles_and_unknown_deps_are_rejected() {
    let t = |n: &str, d: &[&str]| Task {
      name: n.into(),
      kind: TaskKind::Command,
      deps: d.iter().map(|s| s.to_string()).collect(),
      phase: "p".into(),
    };
    assert!(matches!(Plan::new(vec![t("a", &["b"]), t("b", &["a"])]), Err(PlanError::Cycle(_))));
    assert!(matches!(Plan::new(vec![t("a", &["zz"])]), Err(PlanError::UnknownDependency { .. })));
    let p = Plan::new(vec![t("c", &["b"]), t("b", &["a"]), t("a", &[])]).unwrap();
    assert_eq!(names(&p), ["a", "b", "c"]);
    assert_eq!(p.dependents_of("a").into_iter().collect::<Vec<_>>(), ["b", "c"]);
  }
}
