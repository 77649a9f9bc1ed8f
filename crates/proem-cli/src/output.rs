//! How client commands print: the API's JSON as-is under `--json` (and nothing else on stdout),
//! otherwise aligned tables, relative times and status lines on stderr. Colour only on a
//! terminal and never with `NO_COLOR`; the spinner only on a terminal.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Output settings of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// `--json`: stdout carries the API's JSON only.
    pub json: bool,
    colour_out: bool,
    colour_err: bool,
    err_is_tty: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let out_tty = std::io::stdout().is_terminal();
        let err_tty = std::io::stderr().is_terminal();
        Self {
            json,
            colour_out: out_tty && !no_colour,
            colour_err: err_tty && !no_colour,
            err_is_tty: err_tty,
        }
    }

    /// Prints an API body exactly as the server sent it, one document per line.
    pub fn raw_json(&self, body: &[u8]) {
        let text = String::from_utf8_lossy(body);
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", text.trim_end());
    }

    /// Prints a JSON value this client composed (e.g. every page of a list merged).
    pub fn json_value(&self, value: &serde_json::Value) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{value}");
    }

    /// A line on stdout (human mode only; callers skip it under `--json`).
    pub fn line(&self, text: impl AsRef<str>) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", text.as_ref());
    }

    /// A status line on stderr.
    pub fn status(&self, text: impl AsRef<str>) {
        eprintln!("{}", text.as_ref());
    }

    /// `label: value` status line on stderr, the label dimmed on a terminal.
    pub fn field(&self, label: &str, value: impl AsRef<str>) {
        eprintln!(
            "{} {}",
            self.err_paint(Style::Dim, &format!("{label:<8}")),
            value.as_ref()
        );
    }

    /// Text styled for stdout.
    pub fn paint(&self, style: Style, text: &str) -> String {
        paint(self.colour_out, style, text)
    }

    /// Text styled for stderr.
    pub fn err_paint(&self, style: Style, text: &str) -> String {
        paint(self.colour_err, style, text)
    }

    /// Prints a table on stdout: a header row and aligned columns; the last column is not padded.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let render = |cells: Vec<String>, style: Option<Style>| {
            let last = cells.len().saturating_sub(1);
            let line = cells
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == last {
                        c
                    } else {
                        let pad = widths[i].saturating_sub(c.chars().count());
                        format!("{c}{}", " ".repeat(pad))
                    }
                })
                .collect::<Vec<_>>()
                .join("  ");
            match style {
                Some(s) => self.paint(s, &line),
                None => line,
            }
        };
        let mut stdout = std::io::stdout().lock();
        let header = headers.iter().map(|h| (*h).to_owned()).collect();
        let _ = writeln!(stdout, "{}", render(header, Some(Style::Bold)));
        for row in rows {
            let _ = writeln!(stdout, "{}", render(row.clone(), None));
        }
    }

    /// Starts a spinner on stderr (only on a terminal and not under `--json`); it stops and
    /// erases itself when the returned guard is stopped or dropped.
    pub fn spinner(&self, label: &str) -> Spinner {
        if self.json || !self.err_is_tty {
            return Spinner::none();
        }
        let stop = CancellationToken::new();
        let token = stop.clone();
        let label = label.to_owned();
        let colour = self.colour_err;
        let handle = tokio::spawn(async move {
            const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
            let mut i = 0;
            loop {
                eprint!(
                    "\r{} {label}",
                    paint(colour, Style::Cyan, FRAMES[i % FRAMES.len()])
                );
                let _ = std::io::stderr().flush();
                i += 1;
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(80)) => {}
                }
            }
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        });
        Spinner {
            stop: Some(stop),
            handle: Some(handle),
        }
    }
}

/// A running spinner; see [`Out::spinner`].
pub struct Spinner {
    stop: Option<CancellationToken>,
    handle: Option<JoinHandle<()>>,
}

impl Spinner {
    fn none() -> Self {
        Self {
            stop: None,
            handle: None,
        }
    }

    /// Stops the spinner and waits until its line is erased.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Style {
    Bold,
    Dim,
    Yellow,
    Cyan,
}

fn paint(on: bool, style: Style, text: &str) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match style {
        Style::Bold => "1",
        Style::Dim => "2",
        Style::Yellow => "33",
        Style::Cyan => "36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// "3 minutes ago", "in 2 days", or the input unchanged when it is not an RFC 3339 time.
pub fn relative(utc: &str) -> String {
    let Ok(at) = OffsetDateTime::parse(utc, &Rfc3339) else {
        return utc.to_owned();
    };
    relative_to(at, OffsetDateTime::now_utc())
}

fn relative_to(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (now - at).whole_seconds();
    let (amount, future) = (secs.unsigned_abs(), secs < 0);
    if amount < 45 {
        return if future { "in a moment" } else { "just now" }.to_owned();
    }
    let (n, unit) = match amount {
        s if s < 90 * 60 => (s.div_ceil(60).max(1), "minute"),
        s if s < 36 * 3600 => ((s + 1800) / 3600, "hour"),
        s if s < 45 * 86_400 => ((s + 43_200) / 86_400, "day"),
        s if s < 545 * 86_400 => ((s + 15 * 86_400) / (30 * 86_400), "month"),
        s => ((s + 182 * 86_400) / (365 * 86_400), "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// Millicents as cents with decimals (spec "Cost units"): 503 → `0.503¢`.
pub fn cost(millicents: i64) -> String {
    let cents = millicents as f64 / 1000.0;
    format!("{cents:.3}¢")
}

/// The first line of `text`, cut to `max` characters with an ellipsis.
pub fn excerpt(text: &str, max: usize) -> String {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut out: String = first.chars().take(max).collect();
    if first.chars().count() > max || text.trim().lines().count() > 1 {
        out.push('…');
    }
    out
}

/// `value` or `-` for a missing cell.
pub fn or_dash(value: Option<&str>) -> String {
    value
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = OffsetDateTime::parse("2026-05-29T14:32:00Z", &Rfc3339)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let at = |s: &str| OffsetDateTime::parse(s, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(relative_to(at("2026-05-29T14:31:50Z"), now), "just now");
        assert_eq!(
            relative_to(at("2026-05-29T14:29:00Z"), now),
            "3 minutes ago"
        );
        assert_eq!(relative_to(at("2026-05-29T12:32:00Z"), now), "2 hours ago");
        assert_eq!(relative_to(at("2026-05-26T14:32:00Z"), now), "3 days ago");
        assert_eq!(relative_to(at("2026-08-27T14:32:00Z"), now), "in 3 months");
        assert_eq!(relative("not a time"), "not a time");
    }

    #[test]
    fn costs_render_in_cents() {
        assert_eq!(cost(503), "0.503¢");
        assert_eq!(cost(0), "0.000¢");
    }

    #[test]
    fn excerpts_cut_long_and_multi_line_text() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("a long line of text", 6), "a long…");
        assert_eq!(excerpt("one\ntwo", 10), "one…");
    }
}
