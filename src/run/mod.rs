//! Running a plan: the scheduler, build events, and child processes that stop when the build does.

pub mod events;
pub mod process;
mod scheduler;

pub use scheduler::{
  execute, SchedulerOptions, TaskError, TaskOutcome, TaskReport, TaskRunner, TaskStatus,
};
