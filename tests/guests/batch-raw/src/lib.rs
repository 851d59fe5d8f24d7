//! `batch-raw`: a `batch-handler` component built from the WIT with plain wit-bindgen, doing
//! what the SDK does not let a handler do: it publishes to `raw.out` before saying which event
//! the output is for (the host must refuse it) and, for a batch of more than one event, returns
//! one result fewer than it got events (the host must fail the whole batch).

// The bindings wit-bindgen generates contain unsafe glue code.
#![allow(unsafe_code, missing_docs)]

wit_bindgen::generate!({
    path: "../../../wit",
    world: "batch-handler",
});

use sluice::function::{batch, publisher};

struct Raw;

impl Guest for Raw {
    fn handle_batch(events: Vec<Event>) -> Vec<Result<(), Failure>> {
        let early = publisher::publish("raw.out", b"before begin", &[]);
        let mut results = Vec::new();
        for index in 0..events.len() as u32 {
            batch::begin(index).expect("a valid index");
            let note = match &early {
                Ok(()) => "early publish accepted".to_owned(),
                Err(why) => format!("early publish refused: {why}"),
            };
            publisher::publish("raw.out", note.as_bytes(), &[]).expect("allowed");
            results.push(Ok(()));
        }
        if events.len() > 1 {
            results.pop();
        }
        results
    }
}

export!(Raw);
