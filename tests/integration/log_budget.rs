//! `limits.log_lines_per_second`, against the shipped `sluice up` and its own log: handler
//! lines over a function's budget are left out and counted; lines the log filter hides take
//! nothing from it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use sluice_tests::{FunctionsDir, KillOnDrop, Manifest, NatsServer, WAIT, next_message, sluice_command};

/// `sluice up` serving the probe as `chatty` on `chatty.in`, writing its log to a file,
/// once it has answered an event on `probe.out`.
struct ChattyHost {
    process: KillOnDrop,
    log: PathBuf,
    client: async_nats::Client,
    out: async_nats::Subscriber,
    _dir: FunctionsDir,
    _state: tempfile::TempDir,
}

impl ChattyHost {
    /// Starts the host with a budget of `budget` lines a second and `SLUICE_LOG` set to
    /// `filter` (when given). Core NATS drops events sent before the host subscribed, so
    /// warm-up events are sent until one is answered.
    async fn start(server: &NatsServer, budget: u64, filter: Option<&str>) -> Self {
        let dir = FunctionsDir::new();
        let manifest = Manifest::new()
            .subjects(["chatty.in"])
            .publish(["probe.out"])
            .log_lines_per_second(budget);
        dir.add("chatty", "probe", manifest);
        let state = tempfile::tempdir().unwrap();
        let log = state.path().join("sluice.log");
        let mut command = sluice_command();
        command
            .args(["up", "--no-watch", "--functions"])
            .arg(dir.path())
            .args(["--nats", &server.url(), "--state-dir"])
            .arg(state.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(filter) = filter {
            command.env("SLUICE_LOG", filter);
        }
        let process = KillOnDrop(command.spawn().unwrap());
        let client = server.client().await;
        let mut out = client.subscribe("probe.out").await.unwrap();
        let mut answered = false;
        for n in 0..100 {
            publish_log(&client, &format!("warm-{n}"), "line from warm-up").await;
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), out.next()).await {
                answered = true;
                break;
            }
        }
        assert!(answered, "the host answers within 20 s");
        Self {
            process,
            log,
            client,
            out,
            _dir: dir,
            _state: state,
        }
    }

    /// Publishes a `log` event `id` whose line is `message`.
    async fn send(&self, id: &str, message: &str) {
        publish_log(&self.client, id, message).await;
    }

    /// The next answer's payload, as text.
    async fn answer(&mut self, what: &str) -> String {
        let answer = next_message(&mut self.out, WAIT, what).await;
        String::from_utf8_lossy(&answer.payload).into_owned()
    }

    /// The host's log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

/// Publishes `{"op":"log"}` to `chatty.in` as event `id`, with `message` as the line.
async fn publish_log(client: &async_nats::Client, id: &str, message: &str) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", id);
    let payload = json!({"op": "log", "message": message}).to_string();
    client
        .publish_with_headers("chatty.in", headers, payload.into())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_log_lines_over_the_budget_are_left_out_and_counted() {
    // Every event's line (the log call, and what the handler prints to stdout and stderr)
    // is either written or counted in the warning that comes before the next line written.
    const BUDGET: usize = 5;
    const BURST: usize = 40;
    let server = NatsServer::start();
    let mut host = ChattyHost::start(&server, BUDGET as u64, None).await;
    // A new second, then a burst: at most the budget of each second it spans is written.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    for n in 0..BURST {
        host.send(&format!("burst-{n}"), "line from the burst").await;
    }
    // Every handled event answers once (the warm-up's, and a late warm-up event too): count
    // them all.
    let mut handled = 1;
    let mut burst_answered = 0;
    while burst_answered < BURST {
        handled += 1;
        if host
            .answer("the burst's answers")
            .await
            .contains("line from the burst")
        {
            burst_answered += 1;
        }
    }
    let seconds = started.elapsed().as_secs() as usize + 1;
    // The next second's line is written, after the warning that counts what was left out.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    host.send("last", "line from the last event").await;
    while !host
        .answer("the last event's answer")
        .await
        .contains("line from the last event")
    {
        handled += 1;
    }
    let text = sluice_tests::until_ok(
        WAIT,
        Duration::from_millis(50),
        "the last event's lines in the log",
        async || {
            let text = host.log();
            match text.matches("line from the last event").count() {
                3 => Ok(text),
                _ => Err("not all three written yet"),
            }
        },
    )
    .await;

    let lines = |marker: &str| text.lines().filter(|line| line.contains(marker)).count();
    let left_out: usize = text
        .lines()
        .filter(|line| line.contains("handler log lines were left out"))
        .map(|line| {
            let count = line.split(" handler log lines").next().unwrap();
            count.rsplit(' ').next().unwrap().parse::<usize>().unwrap()
        })
        .sum();
    // Three lines per event: the log call, stdout, stderr.
    let burst_written = lines("line from the burst");
    assert!(
        burst_written <= BUDGET * (seconds + 1),
        "{burst_written} burst lines written in {seconds} s at {BUDGET} a second:\n{text}"
    );
    assert_eq!(
        lines("line from warm-up") + burst_written + left_out,
        3 * handled,
        "every line before the last event is written or counted:\n{text}"
    );
    assert_eq!(lines("line from the last event"), 3, "{text}");
    assert!(text.contains("over limits.log_lines_per_second = 5"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_lines_the_log_filter_hides_take_nothing_from_the_budget() {
    // `SLUICE_LOG` silences handlers' info lines: a burst over the budget is then not
    // "left out", there is nothing to count.
    let server = NatsServer::start();
    let mut host = ChattyHost::start(&server, 2, Some("info,sluice::handler=warn")).await;
    for n in 0..20 {
        host.send(&format!("burst-{n}"), "line from the burst").await;
    }
    for _ in 0..20 {
        host.answer("the burst's answers").await;
    }
    // A line in the next second would carry the count, if anything had been counted.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    host.send("last", "line from the last event").await;
    host.answer("the last event's answer").await;
    // A graceful stop writes out the whole log.
    let stopped = std::process::Command::new("kill")
        .args(["-INT", &host.process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let text = tokio::task::block_in_place(|| {
        host.process.0.wait().unwrap();
        host.log()
    });
    assert!(text.contains("sluice is up"), "{text}");
    assert!(
        !text.contains("line from"),
        "handler info lines are filtered:\n{text}"
    );
    assert!(!text.contains("left out"), "{text}");
}
