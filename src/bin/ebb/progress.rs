//! A progress bar on stderr for large `COPY`s, only when stderr is a terminal.

use std::io::IsTerminal;

use ebb::{CopyProgress, Session};
use indicatif::{ProgressBar, ProgressStyle};

/// Files smaller than this load too fast for a bar to be worth drawing.
const LARGE_FILE_BYTES: u64 = 8 << 20;

/// Show a bar for every large `COPY` the session runs.
pub fn install(session: &mut Session) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let mut bar: Option<ProgressBar> = None;
    session.set_progress(move |progress: &CopyProgress| {
        if progress.total_bytes < LARGE_FILE_BYTES {
            return;
        }
        let current = bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(progress.total_bytes);
            let style = ProgressStyle::with_template("{msg} {wide_bar} {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(format!("COPY {}", progress.path.display()));
            bar
        });
        current.set_position(progress.read_bytes);
        if progress.read_bytes >= progress.total_bytes
            && let Some(done) = bar.take()
        {
            done.finish_and_clear();
        }
    });
}
