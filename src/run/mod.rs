//! Running a plan: the scheduler, build events, and child processes that stop when the build does.

pub mod events;
pub mod lifeline;
pub mod process;
pub mod procs;
mod scheduler;
pub mod task_lock;

pub use scheduler::{
  execute, SchedulerOptions, TaskError, TaskOutcome, TaskReport, TaskRunner, TaskStatus,
};
