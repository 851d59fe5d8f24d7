//! The marketplace's HTTP neighbours in one small server: the notification service's webhook
//! (`POST /hooks/listing-created`) and the dashboard (`PUT /dashboard/weeks/<week>`), which
//! the test can take down (503) and bring back.
//!
//! The webhook counts raw calls and remembers each call's `Idempotency-Key`, so a test can
//! tell "one call per listing" from "one accepted call per listing". The dashboard keeps, per
//! week, the view with the highest `revision`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the receiver has seen.
#[derive(Debug, Default)]
pub struct Seen {
    /// The `Idempotency-Key` of every webhook call, in arrival order (raw calls).
    pub webhook_keys: Vec<String>,
    /// Dashboard PUTs answered 503 while it was down.
    pub refused: u64,
    /// Per week, the newest view the dashboard accepted.
    pub weeks: BTreeMap<String, Value>,
}

/// A running receiver; it stops with the test's runtime.
pub struct Receiver {
    /// `127.0.0.1:PORT`, for `permissions.http`.
    pub authority: String,
    seen: Arc<Mutex<Seen>>,
    dashboard_up: Arc<AtomicBool>,
}

impl Receiver {
    /// Starts on a free loopback port with the dashboard up.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let authority = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let dashboard_up = Arc::new(AtomicBool::new(true));
        let (state, up) = (seen.clone(), dashboard_up.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, state.clone(), up.clone()));
            }
        });
        Self {
            authority,
            seen,
            dashboard_up,
        }
    }

    /// Takes the dashboard down (`false`: every PUT gets 503) or brings it back.
    pub fn set_dashboard_up(&self, up: bool) {
        self.dashboard_up.store(up, Ordering::SeqCst);
    }

    /// Reads what was seen.
    pub fn seen<T>(&self, read: impl FnOnce(&Seen) -> T) -> T {
        read(&self.seen.lock().unwrap())
    }
}

/// One request per connection, as the Sluice host's HTTP client sends them.
async fn serve(stream: TcpStream, seen: Arc<Mutex<Seen>>, dashboard_up: Arc<AtomicBool>) {
    let mut stream = BufReader::new(stream);
    let Some((method, path, key, body)) = read_request(&mut stream).await else {
        return;
    };
    let status = match (method.as_str(), path.strip_prefix("/dashboard/weeks/")) {
        ("POST", _) if path == "/hooks/listing-created" => {
            seen.lock().unwrap().webhook_keys.push(key.unwrap_or_default());
            "200 OK"
        }
        ("PUT", Some(_)) if !dashboard_up.load(Ordering::SeqCst) => {
            seen.lock().unwrap().refused += 1;
            "503 Service Unavailable"
        }
        ("PUT", Some(week)) => {
            let view: Value = serde_json::from_slice(&body).expect("the dashboard gets JSON");
            let mut seen = seen.lock().unwrap();
            let newer = |old: &Value| old["revision"].as_u64() < view["revision"].as_u64();
            if seen.weeks.get(week).is_none_or(newer) {
                seen.weeks.insert(week.to_owned(), view);
            }
            "204 No Content"
        }
        _ => "404 Not Found",
    };
    let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.get_mut().write_all(response.as_bytes()).await;
    let _ = stream.get_mut().shutdown().await;
}

/// Method, path, `Idempotency-Key` and body of one request.
async fn read_request(
    stream: &mut BufReader<TcpStream>,
) -> Option<(String, String, Option<String>, Vec<u8>)> {
    let mut line = String::new();
    stream.read_line(&mut line).await.ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let (mut length, mut key) = (0, None);
    loop {
        let mut header = String::new();
        stream.read_line(&mut header).await.ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "idempotency-key" => key = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some((method, path, key, body))
}
