//! The control socket: a Unix stream socket where `dmvpnd show ...` asks a running daemon.
//!
//! Protocol: the client sends one line, `show <dmvpn|nhrp|routes|stats> [json]`, and reads
//! the answer until the daemon closes the connection. One request per connection; the daemon
//! answers from its event loop, so a request sees a consistent node.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::show::What;

/// Longest request line accepted.
const MAX_REQUEST: u64 = 256;

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) what: What,
    pub(crate) json: bool,
}

pub(crate) fn parse_request(line: &str) -> Result<Request, String> {
    let mut words = line.split_whitespace();
    if words.next() != Some("show") {
        return Err("expected: show <dmvpn|nhrp|routes|stats> [json]".into());
    }
    let what = words
        .next()
        .and_then(What::parse)
        .ok_or("unknown show command (dmvpn, nhrp, routes, stats)")?;
    let json = match words.next() {
        None => false,
        Some("json") => true,
        Some(w) => return Err(format!("unexpected {w:?}")),
    };
    if let Some(w) = words.next() {
        return Err(format!("unexpected {w:?}"));
    }
    Ok(Request { what, json })
}

/// Reads one request from an accepted connection (blocking, with a short timeout so a
/// stuck client cannot stall the daemon for long).
pub(crate) fn read_request(stream: &UnixStream) -> Result<Request, String> {
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(stream.take(MAX_REQUEST))
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    parse_request(&line)
}

/// Writes the answer and closes.
pub(crate) fn answer(mut stream: UnixStream, text: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    let _ = stream.write_all(text.as_bytes());
}

/// Client side: sends `show ...` to the daemon at `path` and returns its answer.
pub(crate) fn query(path: &Path, what: What, json: bool) -> anyhow::Result<String> {
    let mut s = UnixStream::connect(path).with_context(|| {
        format!(
            "connecting to the control socket {} (is dmvpnd run going? --control PATH)",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let line = format!(
        "show {}{}\n",
        what.as_str(),
        if json { " json" } else { "" }
    );
    s.write_all(line.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    if let Some(e) = out.strip_prefix("error: ") {
        anyhow::bail!("{}", e.trim_end());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(
            parse_request("show dmvpn\n"),
            Ok(Request {
                what: What::Dmvpn,
                json: false
            })
        );
        assert_eq!(
            parse_request("show stats json"),
            Ok(Request {
                what: What::Stats,
                json: true
            })
        );
        assert!(parse_request("show ipsec").is_err());
        assert!(parse_request("reload").is_err());
        assert!(parse_request("show nhrp json extra").is_err());
        assert!(parse_request("").is_err());
    }
}
