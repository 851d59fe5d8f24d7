//! The tape one store's host calls go through: recording them while a handler runs, or
//! answering them from a transcript when `sluice dlq debug` runs the attempt again.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::record::{HostCall, LogLine, MAX_BYTES, MAX_HTTP_BODY, RecordedCall, RecordedEvent, Transcript};

/// What answers a host call.
#[derive(Debug)]
pub enum Cue<T> {
    /// The host, as usual (recording, or a replay that may go live).
    Live,
    /// The transcript: this is the answer the handler got then.
    Replayed(T),
    /// Nothing: the replayed handler made a call the transcript does not have. The text says
    /// which; the call fails and the replay is reported as diverged.
    Diverged(String),
}

/// A store's tape, shared by its host calls, clocks and random sources.
#[derive(Clone)]
pub struct Tape(Arc<Mutex<Reel>>);

struct Reel {
    replay: Option<Replay>,
    /// What the current call did: recorded, or (in a replay) what the replay was answered.
    calls: Vec<RecordedCall>,
    wall_clock: Vec<u64>,
    monotonic_clock: Vec<u64>,
    random: Vec<u8>,
    insecure_random: Vec<u8>,
    insecure_seed: u128,
    logs: Vec<LogLine>,
    /// HTTP response bodies as read so far, by call index.
    bodies: Vec<(usize, Vec<u8>)>,
    /// Calls whose body was cut at [`MAX_HTTP_BODY`].
    cut_bodies: Vec<usize>,
    /// Bytes recorded so far, counted roughly as stored.
    size: usize,
    cut: Option<String>,
}

/// A transcript being answered from.
struct Replay {
    transcript: Arc<Transcript>,
    /// Which recorded calls answered a call already.
    used: Vec<bool>,
    wall_at: usize,
    monotonic_at: usize,
    random_at: usize,
    insecure_at: usize,
    /// Beyond the recorded random bytes: a fixed sequence.
    fallback: u64,
    /// Whether a call the transcript lacks goes to the host (`--live`).
    live: bool,
    diverged: Option<String>,
}

/// Which clock.
#[derive(Debug, Clone, Copy)]
enum Clock {
    Wall,
    Monotonic,
}

impl Clock {
    fn name(self) -> &'static str {
        match self {
            Self::Wall => "wall-clock",
            Self::Monotonic => "monotonic-clock",
        }
    }
}

/// Which random source.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// `wasi:random/random`.
    Secure,
    /// `wasi:random/insecure`.
    Insecure,
}

impl Tape {
    /// A tape that records.
    pub fn recording() -> Self {
        Self::new(None, rand::random())
    }

    /// A tape that answers from `transcript`; a call it lacks diverges, or with `live` is
    /// made for real.
    pub fn replaying(transcript: Arc<Transcript>, live: bool) -> Self {
        let seed = transcript.insecure_seed.parse().unwrap_or(0);
        let replay = Replay {
            used: vec![false; transcript.calls.len()],
            transcript,
            wall_at: 0,
            monotonic_at: 0,
            random_at: 0,
            insecure_at: 0,
            fallback: 0x5eed_5eed_5eed_5eed,
            live,
            diverged: None,
        };
        Self::new(Some(replay), seed)
    }

    fn new(replay: Option<Replay>, insecure_seed: u128) -> Self {
        Self(Arc::new(Mutex::new(Reel {
            replay,
            calls: Vec::new(),
            wall_clock: Vec::new(),
            monotonic_clock: Vec::new(),
            random: Vec::new(),
            insecure_random: Vec::new(),
            insecure_seed,
            logs: Vec::new(),
            bodies: Vec::new(),
            cut_bodies: Vec::new(),
            size: 0,
            cut: None,
        })))
    }

    fn reel(&self) -> MutexGuard<'_, Reel> {
        self.0.lock().expect("tape lock poisoned")
    }

    /// The seed `wasi:random/insecure-seed` answers with.
    pub fn insecure_seed(&self) -> u128 {
        self.reel().insecure_seed
    }

    /// Starts the next call of a reused instance: what the last one recorded is dropped.
    pub fn rewind(&self) {
        self.reel().take();
    }

    /// How `call` is answered: live while recording; from the transcript in a replay.
    pub fn cue<T: DeserializeOwned>(&self, call: &HostCall) -> Cue<T> {
        let mut reel = self.reel();
        let Some(replay) = reel.replay.as_mut() else {
            return Cue::Live;
        };
        let found = replay
            .transcript
            .calls
            .iter()
            .enumerate()
            .find(|(index, recorded)| !replay.used[*index] && recorded.call == *call);
        let Some((index, recorded)) = found else {
            if replay.live {
                return Cue::Live;
            }
            let why = replay.divergence(call);
            replay.diverged.get_or_insert_with(|| why.clone());
            return Cue::Diverged(why);
        };
        replay.used[index] = true;
        let answer = recorded.answer.clone();
        match serde_json::from_value(answer.clone()) {
            Ok(value) => {
                reel.push_call(call.clone(), answer);
                Cue::Replayed(value)
            }
            Err(error) => {
                let why = format!("the transcript's answer to `{call}` cannot be read: {error}");
                replay.diverged.get_or_insert_with(|| why.clone());
                Cue::Diverged(why)
            }
        }
    }

    /// Records that `call` was answered with `answer` (by the host).
    pub fn note<T: Serialize>(&self, call: HostCall, answer: &T) {
        let answer = serde_json::to_value(answer).unwrap_or(serde_json::Value::Null);
        self.reel().push_call(call, answer);
    }

    /// Adds `bytes` to the body of recorded call `index` (an HTTP response, as the handler
    /// reads it); past [`MAX_HTTP_BODY`] bytes the body is cut.
    pub fn extend_body(&self, index: usize, bytes: &[u8]) {
        let mut reel = self.reel();
        let kept = reel
            .bodies
            .iter()
            .find(|(at, _)| *at == index)
            .map_or(0, |(_, body)| body.len());
        let room = MAX_HTTP_BODY.saturating_sub(kept).min(bytes.len());
        if room < bytes.len() {
            reel.cut_bodies.push(index);
        }
        if room == 0 || !reel.fits(room * 4 / 3, || format!("part of the body of call {}", index + 1)) {
            return;
        }
        match reel.bodies.iter_mut().find(|(at, _)| *at == index) {
            Some((_, body)) => body.extend_from_slice(&bytes[..room]),
            None => reel.bodies.push((index, bytes[..room].to_vec())),
        }
    }

    /// How many calls the tape holds (the index the next one gets).
    pub fn calls(&self) -> usize {
        self.reel().calls.len()
    }

    /// Records a line the handler logged.
    pub fn log(&self, level: &str, message: &str) {
        let mut reel = self.reel();
        if reel.fits(message.len() + 16, || "a log line".to_owned()) {
            reel.logs.push(LogLine {
                level: level.to_owned(),
                message: message.to_owned(),
            });
        }
    }

    /// The wall clock: read and recorded, or the next recorded reading (the last one again
    /// once they run out).
    pub fn wall_now(&self) -> Duration {
        Duration::from_nanos(self.read_clock(Clock::Wall))
    }

    /// The monotonic clock, nanoseconds, like [`Tape::wall_now`].
    pub fn monotonic_now(&self) -> u64 {
        self.read_clock(Clock::Monotonic)
    }

    fn read_clock(&self, clock: Clock) -> u64 {
        let mut reel = self.reel();
        let reel = &mut *reel;
        let readings = match clock {
            Clock::Wall => &mut reel.wall_clock,
            Clock::Monotonic => &mut reel.monotonic_clock,
        };
        if let Some(replay) = &mut reel.replay {
            let (recorded, at) = match clock {
                Clock::Wall => (&replay.transcript.wall_clock, &mut replay.wall_at),
                Clock::Monotonic => (&replay.transcript.monotonic_clock, &mut replay.monotonic_at),
            };
            let nanos = recorded
                .get((*at).min(recorded.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0);
            *at += 1;
            readings.push(nanos);
            return nanos;
        }
        let now = match clock {
            Clock::Wall => SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64,
            Clock::Monotonic => process_start().elapsed().as_nanos() as u64,
        };
        if reel.fits(20, || format!("a {} reading", clock.name())) {
            match clock {
                Clock::Wall => reel.wall_clock.push(now),
                Clock::Monotonic => reel.monotonic_clock.push(now),
            }
        }
        now
    }

    /// Fills `dest` from `source`: drawn and recorded, or the recorded bytes in order (then a
    /// fixed sequence once they run out).
    pub fn fill(&self, source: Source, dest: &mut [u8]) {
        let mut reel = self.reel();
        if let Some(replay) = &mut reel.replay {
            replay.fill(source, dest);
            return;
        }
        rand::fill(dest);
        if reel.fits(dest.len() * 4 / 3 + 1, || format!("{} random bytes", dest.len())) {
            match source {
                Source::Secure => reel.random.extend_from_slice(dest),
                Source::Insecure => reel.insecure_random.extend_from_slice(dest),
            }
        }
    }

    /// The first call a replay could not answer, if any.
    pub fn diverged(&self) -> Option<String> {
        self.reel().replay.as_ref()?.diverged.clone()
    }

    /// The transcript of the call so far (recording), or of the replay: `event` handled at
    /// delivery `attempt` by `function` at `version`, ending with `outcome`. The tape is
    /// emptied.
    pub fn finish(
        &self,
        function: &str,
        version: &str,
        event: &crate::event::Event,
        attempt: u32,
        outcome: Option<String>,
    ) -> Transcript {
        let mut reel = self.reel();
        let diverged = reel.replay.as_ref().and_then(|replay| replay.diverged.clone());
        let taken = reel.take();
        let recorded_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Transcript {
            format: super::record::FORMAT,
            function: function.to_owned(),
            version: version.to_owned(),
            attempt,
            recorded_at,
            event: RecordedEvent::of(event),
            calls: taken.calls,
            wall_clock: taken.wall_clock,
            monotonic_clock: taken.monotonic_clock,
            random: taken.random,
            insecure_random: taken.insecure_random,
            insecure_seed: taken.insecure_seed.to_string(),
            logs: taken.logs,
            outcome,
            cut: taken.cut,
            diverged,
        }
    }
}

impl Reel {
    /// What the reel recorded, leaving it empty (a replay keeps its place in the transcript).
    fn take(&mut self) -> Reel {
        for (index, body) in std::mem::take(&mut self.bodies) {
            if let Some(call) = self.calls.get_mut(index) {
                use base64::Engine;
                call.answer["body"] = base64::engine::general_purpose::STANDARD.encode(body).into();
            }
        }
        for index in std::mem::take(&mut self.cut_bodies) {
            if let Some(call) = self.calls.get_mut(index) {
                call.answer["body_cut"] = true.into();
            }
        }
        Reel {
            replay: None,
            calls: std::mem::take(&mut self.calls),
            wall_clock: std::mem::take(&mut self.wall_clock),
            monotonic_clock: std::mem::take(&mut self.monotonic_clock),
            random: std::mem::take(&mut self.random),
            insecure_random: std::mem::take(&mut self.insecure_random),
            insecure_seed: self.insecure_seed,
            logs: std::mem::take(&mut self.logs),
            bodies: Vec::new(),
            cut_bodies: Vec::new(),
            size: std::mem::replace(&mut self.size, 0),
            cut: self.cut.take(),
        }
    }

    fn push_call(&mut self, call: HostCall, answer: serde_json::Value) {
        let size = call.op.len() + call.target.len() + answer_size(&answer);
        let number = self.calls.len() + 1;
        if self.fits(size, || format!("call {number} (`{call}`)")) {
            self.calls.push(RecordedCall { call, answer });
        }
    }

    /// Whether `size` more bytes fit the transcript; counts them if so, and when not marks
    /// the cut at `what` (what was not recorded). A replay keeps everything: it only repeats
    /// a transcript that fitted.
    fn fits(&mut self, size: usize, what: impl FnOnce() -> String) -> bool {
        if self.replay.is_some() {
            return true;
        }
        if self.cut.is_none() && self.size + size <= MAX_BYTES {
            self.size += size;
            return true;
        }
        if self.cut.is_none() {
            self.cut = Some(format!(
                "the transcript reached its {} KiB limit after {} calls; {} and everything later (calls, clock readings, random bytes, log lines) was not recorded",
                MAX_BYTES / 1024,
                self.calls.len(),
                what()
            ));
        }
        false
    }
}

impl Replay {
    fn divergence(&self, call: &HostCall) -> String {
        let recorded: Vec<String> = self
            .transcript
            .calls
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|(recorded, _)| format!("`{}`", recorded.call))
            .collect();
        let left = match recorded.as_slice() {
            [] => "the transcript has no unused call left".to_owned(),
            calls => format!("unused in the transcript: {}", calls.join(", ")),
        };
        let cut = match &self.transcript.cut {
            Some(cut) => format!(" (the recording was cut: {cut})"),
            None => String::new(),
        };
        format!("the handler called `{call}`, which the transcript does not have ({left}){cut}")
    }

    fn fill(&mut self, source: Source, dest: &mut [u8]) {
        let (recorded, at) = match source {
            Source::Secure => (&self.transcript.random, &mut self.random_at),
            Source::Insecure => (&self.transcript.insecure_random, &mut self.insecure_at),
        };
        for byte in dest {
            *byte = match recorded.get(*at) {
                Some(&recorded) => recorded,
                None => {
                    // xorshift64: the same bytes on every replay.
                    self.fallback ^= self.fallback << 13;
                    self.fallback ^= self.fallback >> 7;
                    self.fallback ^= self.fallback << 17;
                    self.fallback as u8
                }
            };
            *at += 1;
        }
    }
}

/// Bytes an answer takes in the stored transcript, roughly.
fn answer_size(answer: &serde_json::Value) -> usize {
    match answer {
        serde_json::Value::Null | serde_json::Value::Bool(_) => 5,
        serde_json::Value::Number(_) => 4,
        serde_json::Value::String(text) => text.len() + 2,
        serde_json::Value::Array(items) => items.iter().map(answer_size).sum::<usize>() + 2,
        serde_json::Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| key.len() + 3 + answer_size(value))
            .sum::<usize>(),
    }
}

/// The instant the monotonic clock counts from.
fn process_start() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn event() -> Event {
        Event::new("orders.placed".into(), "{}".into(), Vec::new(), None)
    }

    fn recorded() -> Transcript {
        let tape = Tape::recording();
        tape.note(HostCall::new("kv.get", "limits/acme"), &Ok::<_, String>("12.5"));
        let wall = tape.wall_now();
        let mut random = [0; 8];
        tape.fill(Source::Secure, &mut random);
        tape.note(HostCall::new("kv.get", "limits/acme"), &Ok::<_, String>("13"));
        tape.log("info", "checked");
        let transcript = tape.finish("credit", "v1", &event(), 2, Some("boom".into()));
        assert_eq!(transcript.wall_clock, [wall.as_nanos() as u64]);
        assert_eq!(transcript.random, random);
        transcript
    }

    #[test]
    fn a_replay_gets_the_recorded_answers_clock_and_random_bytes_in_order() {
        let transcript = Arc::new(recorded());
        assert_eq!((transcript.attempt, transcript.calls.len()), (2, 2));
        let tape = Tape::replaying(transcript.clone(), false);
        let call = HostCall::new("kv.get", "limits/acme");
        let answers: Vec<Result<String, String>> = (0..2)
            .map(|_| match tape.cue(&call) {
                Cue::Replayed(answer) => answer,
                other => panic!("expected an answer, got {other:?}"),
            })
            .collect();
        assert_eq!(answers, [Ok("12.5".to_owned()), Ok("13".to_owned())]);
        let wall = tape.wall_now();
        assert_eq!(wall.as_nanos() as u64, transcript.wall_clock[0]);
        assert_eq!(tape.wall_now(), wall, "past the readings the clock stands still");
        let mut random = [0; 8];
        tape.fill(Source::Secure, &mut random);
        assert_eq!(random.as_slice(), transcript.random.as_slice());
        let (mut more, mut again) = ([0; 4], [0; 4]);
        tape.fill(Source::Secure, &mut more);
        Tape::replaying(transcript.clone(), false).fill(Source::Secure, &mut [0; 8]);
        let second = Tape::replaying(transcript.clone(), false);
        second.fill(Source::Secure, &mut [0; 8]);
        second.fill(Source::Secure, &mut again);
        assert_eq!(
            more, again,
            "beyond the recording the bytes are the same on every replay"
        );
        assert_eq!(tape.diverged(), None);
    }

    #[test]
    fn a_call_the_transcript_lacks_diverges_and_is_named() {
        let transcript = Arc::new(recorded());
        let tape = Tape::replaying(transcript.clone(), false);
        let other = HostCall::new("kv.get", "limits/globex");
        let Cue::Diverged(why) = tape.cue::<Result<String, String>>(&other) else {
            panic!("a missing call must diverge");
        };
        assert!(why.contains("`kv.get limits/globex`"), "{why}");
        assert!(
            why.contains("unused in the transcript: `kv.get limits/acme`"),
            "{why}"
        );
        assert_eq!(tape.diverged().as_deref(), Some(why.as_str()));
        let live = Tape::replaying(transcript, true);
        assert!(matches!(live.cue::<Result<String, String>>(&other), Cue::Live));
        assert_eq!(live.diverged(), None);
    }

    #[test]
    fn recording_stops_at_the_size_limit_and_says_where() {
        let tape = Tape::recording();
        let big = "x".repeat(MAX_BYTES / 4);
        for n in 0..6 {
            tape.note(HostCall::new("kv.get", format!("b/{n}")), &big);
        }
        let transcript = tape.finish("f", "v", &event(), 1, None);
        assert_eq!(transcript.calls.len(), 3);
        let cut = transcript.cut.expect("the transcript is cut");
        assert!(
            cut.contains("after 3 calls; call 4 (`kv.get b/3`) and everything later"),
            "{cut}"
        );
    }

    #[test]
    fn http_bodies_are_kept_up_to_their_limit() {
        let tape = Tape::recording();
        tape.note(
            HostCall::new("http", "GET http://x/"),
            &serde_json::json!({"status": 200}),
        );
        tape.extend_body(0, b"hello ");
        tape.extend_body(0, &vec![b'a'; MAX_HTTP_BODY]);
        let transcript = tape.finish("f", "v", &event(), 1, None);
        let answer = &transcript.calls[0].answer;
        assert_eq!(answer["body_cut"], true);
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD
            .decode(answer["body"].as_str().unwrap())
            .unwrap();
        assert_eq!(body.len(), MAX_HTTP_BODY);
        assert!(body.starts_with(b"hello a"));
    }
}
