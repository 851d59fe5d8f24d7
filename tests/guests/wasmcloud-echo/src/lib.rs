//! `wasmcloud-echo`: a component written for wasmCloud, not for Sluice. It implements the
//! published `wasmcloud:messaging@0.2.0` handler world and uses only its `consumer` import,
//! so it proves that such components deploy into Sluice unchanged.
//!
//! | body | behaviour |
//! |---|---|
//! | `fail` | returns `err("echo refused")` |
//! | `request:SUBJECT` | requests `SUBJECT` (1 s) and publishes the answer's body to `wasmcloud.out` |
//! | `to:SUBJECT` | publishes the body to `SUBJECT` (allowed or not) |
//! | anything else | answers the reply-to when there is one, else publishes the body to `wasmcloud.out` |

// The bindings wit-bindgen generates contain unsafe glue code.
#![allow(unsafe_code, missing_docs)]

wit_bindgen::generate!({
    inline: r#"
        package test:wasmcloud-echo;

        world echo {
            import wasmcloud:messaging/consumer@0.2.0;
            export wasmcloud:messaging/handler@0.2.0;
        }
    "#,
    path: "../../../wit/wasmcloud/deps/messaging",
    generate_all,
});

use exports::wasmcloud::messaging::handler::Guest;
use wasmcloud::messaging::consumer;
use wasmcloud::messaging::types::BrokerMessage;

const OUT: &str = "wasmcloud.out";

struct Echo;

impl Guest for Echo {
    fn handle_message(msg: BrokerMessage) -> Result<(), String> {
        let body = String::from_utf8_lossy(&msg.body).into_owned();
        if body == "fail" {
            return Err("echo refused".into());
        }
        if let Some(subject) = body.strip_prefix("request:") {
            let answer = consumer::request(subject, b"ping", 1000)?;
            return publish(OUT, answer.body);
        }
        if let Some(subject) = body.strip_prefix("to:") {
            return publish(subject, msg.body.clone());
        }
        match msg.reply_to {
            Some(reply_to) => publish(&reply_to, msg.body),
            None => publish(OUT, msg.body),
        }
    }
}

fn publish(subject: &str, body: Vec<u8>) -> Result<(), String> {
    consumer::publish(&BrokerMessage {
        subject: subject.to_owned(),
        body,
        reply_to: None,
    })
}

export!(Echo);
