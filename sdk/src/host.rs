//! The host calls, routed to the Sluice host inside WebAssembly and to
//! [`testing::TestHost`](crate::testing::TestHost) in native unit tests.

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::bindings::sluice::function::{
        config, kv, log as logging, publisher, requester, secret as secrets,
    };
    pub(crate) use crate::http::wasi::send as http_send;
    use crate::kv::entry::Entry;
    use crate::kv::error::KvError;
    use crate::level::Level;
    use crate::request::error::RequestError;
    use crate::request::reply::Reply;

    pub fn publish(subject: &str, payload: &[u8], headers: &[(String, String)]) -> Result<(), String> {
        publisher::publish(subject, payload, headers)
    }

    pub fn publish_after(
        subject: &str,
        payload: &[u8],
        headers: &[(String, String)],
        delay_ms: u32,
    ) -> Result<String, String> {
        publisher::publish_after(subject, payload, headers, delay_ms)
    }

    pub fn publish_at(
        subject: &str,
        payload: &[u8],
        headers: &[(String, String)],
        unix_ms: u64,
    ) -> Result<String, String> {
        publisher::publish_at(subject, payload, headers, unix_ms)
    }

    pub fn cancel_scheduled(id: &str) -> Result<(), String> {
        publisher::cancel_scheduled(id)
    }

    pub fn config(key: &str) -> Option<String> {
        config::get(key)
    }

    pub fn secret(name: &str) -> Result<String, String> {
        secrets::get(name)
    }

    pub fn begin_event(index: u32) -> Result<(), String> {
        crate::batch_bindings::sluice::function::batch::begin(index)
    }

    pub fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => logging::Level::Trace,
            Level::Debug => logging::Level::Debug,
            Level::Info => logging::Level::Info,
            Level::Warn => logging::Level::Warn,
            Level::Error => logging::Level::Error,
        };
        logging::log(level, message);
    }

    pub fn kv_get(bucket: &str, key: &str) -> Result<Option<Entry>, KvError> {
        kv::get(bucket, key)
            .map(|entry| {
                entry.map(|e| Entry {
                    value: e.value,
                    revision: e.revision,
                })
            })
            .map_err(kv_error)
    }

    pub fn kv_set(bucket: &str, key: &str, value: &[u8]) -> Result<u64, KvError> {
        kv::set(bucket, key, value).map_err(kv_error)
    }

    pub fn kv_delete(bucket: &str, key: &str) -> Result<(), KvError> {
        kv::delete(bucket, key).map_err(kv_error)
    }

    pub fn kv_compare_and_swap(bucket: &str, key: &str, value: &[u8], revision: u64) -> Result<u64, KvError> {
        kv::compare_and_swap(bucket, key, value, revision).map_err(kv_error)
    }

    pub fn kv_keys(bucket: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        kv::keys(bucket, prefix).map_err(kv_error)
    }

    fn kv_error(error: kv::KvError) -> KvError {
        match error {
            kv::KvError::Denied(m) => KvError::Denied(m),
            kv::KvError::Conflict(m) => KvError::Conflict(m),
            kv::KvError::Invalid(m) => KvError::Invalid(m),
            kv::KvError::Unavailable(m) => KvError::Unavailable(m),
        }
    }

    pub fn request(
        subject: &str,
        payload: &[u8],
        headers: &[(String, String)],
        timeout_ms: u32,
    ) -> Result<Reply, RequestError> {
        match requester::request(subject, payload, headers, timeout_ms) {
            Ok(reply) => Ok(Reply::new(reply.payload, reply.headers)),
            Err(requester::RequestError::Denied(m)) => Err(RequestError::Denied(m)),
            Err(requester::RequestError::Timeout(m)) => Err(RequestError::Timeout(m)),
            Err(requester::RequestError::NoResponders(m)) => Err(RequestError::NoResponders(m)),
            Err(requester::RequestError::Failed(m)) => Err(RequestError::Failed(m)),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub(crate) use crate::testing::{
        begin_event, cancel_scheduled, config, http_send, kv_compare_and_swap, kv_delete, kv_get, kv_keys,
        kv_set, log, publish, publish_after, publish_at, request, secret,
    };
}

pub(crate) use imp::{
    begin_event, cancel_scheduled, config, http_send, kv_compare_and_swap, kv_delete, kv_get, kv_keys,
    kv_set, log, publish, publish_after, publish_at, request, secret,
};
