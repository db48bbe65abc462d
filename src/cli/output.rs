//! What a native build prints while it runs. Plain (non-TTY) lines go out as they come, except
//! while a task that needs JavaScript has not finished: if its cache entry failed to restore, the
//! build is handed to Node, which prints everything itself, so nothing may have been printed. On a
//! terminal the live view's final screen is drawn at the end; `--json` prints only the document.

use super::render;
use crate::run::events::{Event, EventKind};
use std::collections::BTreeSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How the build is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
  /// `--json`: the document only.
  Json,
  /// Not a terminal: one line per event.
  Plain,
  /// A terminal this many columns wide: the live view.
  Tty(usize),
}

/// The output of one native build.
pub struct Stream {
  mode: Mode,
  needed_js: Arc<AtomicBool>,
  state: Mutex<State>,
}

struct State {
  /// Text held back (`None` once streaming).
  held: Option<String>,
  /// Tasks that need JavaScript and have not ended.
  pending_js: BTreeSet<String>,
  events: Vec<Event>,
}

impl Stream {
  /// Starts with `header`; holds lines back while a task of `js_tasks` has not ended, or while
  /// `needed_js` (set when a task asked for JavaScript) is set.
  pub fn new(
    mode: Mode,
    header: String,
    js_tasks: BTreeSet<String>,
    needed_js: Arc<AtomicBool>,
  ) -> Stream {
    let s = Stream {
      mode,
      needed_js,
      state: Mutex::new(State { held: Some(header), pending_js: js_tasks, events: Vec::new() }),
    };
    if let Ok(mut st) = s.state.lock() {
      s.release_if_safe(&mut st);
    }
    s
  }

  fn release_if_safe(&self, st: &mut State) {
    if self.mode == Mode::Plain
      && st.pending_js.is_empty()
      && !self.needed_js.load(Ordering::SeqCst)
    {
      if let Some(text) = st.held.take() {
        print(&text, "");
      }
    }
  }

  /// Takes one event of the build.
  pub fn event(&self, e: Event) {
    let Ok(mut st) = self.state.lock() else { return };
    if self.mode == Mode::Plain {
      if let Some(line) = render::plain_event_line(&e) {
        match st.held.as_mut() {
          Some(held) => held.push_str(&line),
          None => print(&line, ""),
        }
      }
    }
    let ended = matches!(
      e.kind,
      EventKind::TaskFinished
        | EventKind::TaskFailed
        | EventKind::TaskCancelled
        | EventKind::TaskSkipped
    );
    if ended {
      if let Some(t) = &e.task {
        st.pending_js.remove(t);
      }
    }
    st.events.push(e);
    if ended {
      self.release_if_safe(&mut st);
    }
  }

  /// What is left to print before the summary: the held lines, or the live view's final screen.
  pub fn finish(&self) -> String {
    let Ok(mut st) = self.state.lock() else { return String::new() };
    match self.mode {
      Mode::Json => String::new(),
      Mode::Plain => st.held.take().unwrap_or_default(),
      Mode::Tty(columns) => {
        let mut out = st.held.take().unwrap_or_default();
        out.push_str(&render::live_final(&st.events, columns));
        out
      }
    }
  }
}

/// `process.stdout.columns || 100` when stdout is a terminal.
pub fn tty_columns() -> Option<usize> {
  // SAFETY: isatty and ioctl(TIOCGWINSZ) only read the state of fd 1 into a local struct.
  unsafe {
    if libc::isatty(1) != 1 {
      return None;
    }
    let mut ws: libc::winsize = std::mem::zeroed();
    let cols = if libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 { ws.ws_col as usize } else { 0 };
    Some(if cols == 0 { 100 } else { cols })
  }
}

/// Writes to stdout then stderr (a closed pipe is not an error worth reporting).
pub fn print(stdout: &str, stderr: &str) {
  if !stdout.is_empty() {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(stdout.as_bytes());
    let _ = o.flush();
  }
  if !stderr.is_empty() {
    let _ = std::io::stderr().lock().write_all(stderr.as_bytes());
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn ev(kind: EventKind, task: &str) -> Event {
    Event { kind, task: Some(task.into()), message: None, duration_ms: Some(1.0), time_ms: 0.0 }
  }

  #[test]
  fn lines_are_held_until_the_javascript_tasks_ended_and_dropped_if_one_needed_node() {
    let flag = Arc::new(AtomicBool::new(false));
    let s = Stream::new(Mode::Plain, "head\n".into(), ["web".to_string()].into(), flag.clone());
    s.event(ev(EventKind::TaskStarted, "api"));
    assert!(s.state.lock().unwrap().held.as_deref() == Some("head\n▶ api\n"));
    // The frontend asked for JavaScript: its end releases nothing.
    flag.store(true, Ordering::SeqCst);
    s.event(ev(EventKind::TaskFailed, "web"));
    assert!(s.state.lock().unwrap().held.is_some());

    let s = Stream::new(Mode::Plain, String::new(), ["web".to_string()].into(), Arc::default());
    s.event(ev(EventKind::TaskFinished, "web"));
    assert!(s.state.lock().unwrap().held.is_none(), "released once the frontend was restored");
    assert_eq!(s.finish(), "");
  }
}
