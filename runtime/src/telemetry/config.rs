//! Where spans go and which are recorded, read the standard OpenTelemetry way: from the
//! `OTEL_*` environment variables, with an endpoint flag of `sluice up` taking precedence.

use std::time::Duration;

use super::sampler::Sampler;

/// How a host exports its spans (OTLP over HTTP with protobuf bodies).
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    /// The URL spans are POSTed to, `.../v1/traces`.
    pub endpoint: http::Uri,
    /// Extra headers sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`), e.g. an API key.
    pub headers: Vec<(String, String)>,
    /// How long one export may take.
    pub timeout: Duration,
    /// The resource's attributes; `service.name` is always among them.
    pub resource: Vec<(String, String)>,
    /// Which spans are recorded.
    pub sampler: Sampler,
    /// Most finished spans waiting for export; more are dropped (and counted).
    pub max_queue: usize,
    /// Most spans in one export.
    pub max_batch: usize,
    /// Longest a finished span waits for its export.
    pub schedule_delay: Duration,
}

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` sets one.
pub const DEFAULT_SERVICE_NAME: &str = "sluice";

impl TracingConfig {
    /// Export to `endpoint` (the full traces URL) with every other setting at its default.
    pub fn new(endpoint: http::Uri) -> Self {
        Self {
            endpoint,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            resource: vec![("service.name".to_owned(), DEFAULT_SERVICE_NAME.to_owned())],
            sampler: Sampler::default(),
            max_queue: 2048,
            max_batch: 512,
            schedule_delay: Duration::from_secs(5),
        }
    }

    /// The configuration the `OTEL_*` variables `var` returns describe, with `endpoint` (a
    /// flag: the base URL, like `OTEL_EXPORTER_OTLP_ENDPOINT`) in place of theirs. `None`
    /// when tracing is off: no endpoint is set, `OTEL_SDK_DISABLED=true` or
    /// `OTEL_TRACES_EXPORTER=none`. An error names the variable that is wrong.
    pub fn from_env(
        endpoint: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|value| value.trim() == "none")
        {
            return Ok(None);
        }
        if let Some(exporter) = var("OTEL_TRACES_EXPORTER").filter(|value| value.trim() != "otlp") {
            return Err(format!(
                "OTEL_TRACES_EXPORTER = {exporter:?}: sluice exports traces with otlp (or none)"
            ));
        }
        let url = match (endpoint, var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
            (Some(base), _) => traces_url(base),
            (None, Some(traces)) => traces,
            (None, None) => match var("OTEL_EXPORTER_OTLP_ENDPOINT") {
                Some(base) => traces_url(&base),
                None => return Ok(None),
            },
        };
        let mut config = Self::new(parse_endpoint(&url)?);
        let either = |name: &str| {
            var(&format!("OTEL_EXPORTER_OTLP_TRACES_{name}"))
                .or_else(|| var(&format!("OTEL_EXPORTER_OTLP_{name}")))
        };
        if let Some(protocol) = either("PROTOCOL").filter(|protocol| protocol.trim() != "http/protobuf") {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL = {protocol:?}: sluice exports OTLP over http/protobuf only"
            ));
        }
        if let Some(headers) = either("HEADERS") {
            config.headers = pairs(&headers, "OTEL_EXPORTER_OTLP_HEADERS")?;
        }
        if let Some(timeout) = either("TIMEOUT") {
            config.timeout = Duration::from_millis(number(&timeout, "OTEL_EXPORTER_OTLP_TIMEOUT")?);
        }
        if let Some(attributes) = var("OTEL_RESOURCE_ATTRIBUTES") {
            config.resource = pairs(&attributes, "OTEL_RESOURCE_ATTRIBUTES")?;
        }
        let service = var("OTEL_SERVICE_NAME").or_else(|| {
            let named = config.resource.iter().find(|(key, _)| key == "service.name");
            Some(named.map_or(DEFAULT_SERVICE_NAME.to_owned(), |(_, name)| name.clone()))
        });
        config.resource.retain(|(key, _)| key != "service.name");
        config
            .resource
            .insert(0, ("service.name".to_owned(), service.expect("always set")));
        if let Some(sampler) = var("OTEL_TRACES_SAMPLER") {
            config.sampler = Sampler::from_name(&sampler, var("OTEL_TRACES_SAMPLER_ARG").as_deref())?;
        }
        let batch = |name: &str| var(name).map(|value| number(&value, name)).transpose();
        if let Some(size) = batch("OTEL_BSP_MAX_QUEUE_SIZE")? {
            config.max_queue = size.max(1) as usize;
        }
        if let Some(size) = batch("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")? {
            config.max_batch = size.max(1) as usize;
        }
        if let Some(delay) = batch("OTEL_BSP_SCHEDULE_DELAY")? {
            config.schedule_delay = Duration::from_millis(delay);
        }
        Ok(Some(config))
    }
}

/// `base` + `/v1/traces`, as OTLP/HTTP exporters build the traces URL from a base endpoint.
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim().trim_end_matches('/'))
}

fn parse_endpoint(url: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = url
        .trim()
        .parse()
        .map_err(|error| format!("OTLP endpoint {url:?}: expected an http:// or https:// URL ({error})"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(format!(
            "OTLP endpoint {url:?}: expected an http:// or https:// URL with a host"
        )),
    }
}

/// `key=value,key=value` with percent-encoded values (the W3C baggage form the OTLP
/// variables use).
fn pairs(text: &str, variable: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{variable}: {pair:?} is not key=value"))?;
            Ok((key.trim().to_owned(), percent_decode(value.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|digits| u8::from_str_radix(digits, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn number(text: &str, variable: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{variable} = {text:?}: expected a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::sampler::Root;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn tracing_is_off_without_an_endpoint_or_when_disabled() {
        assert_eq!(TracingConfig::from_env(None, env(&[])), Ok(None));
        let disabled = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert_eq!(TracingConfig::from_env(None, env(&disabled)), Ok(None));
        let none = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ];
        assert_eq!(TracingConfig::from_env(None, env(&none)), Ok(None));
    }

    #[test]
    fn the_standard_variables_configure_the_export() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret,tenant=a"),
            ("OTEL_SERVICE_NAME", "orders"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=ignored,deployment.environment=prod",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ];
        let config = TracingConfig::from_env(None, env(&vars)).unwrap().unwrap();
        assert_eq!(config.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(
            config.headers,
            [("api-key".into(), "s=cret".into()), ("tenant".into(), "a".into())]
        );
        assert_eq!(
            config.resource,
            [
                ("service.name".into(), "orders".into()),
                ("deployment.environment".into(), "prod".into())
            ]
        );
        assert_eq!(config.sampler, Sampler::ParentBased(Root::TraceIdRatio(0.25)));
        assert_eq!(config.schedule_delay, Duration::from_millis(100));
        let traces = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example/custom",
            ),
        ];
        let config = TracingConfig::from_env(None, env(&traces)).unwrap().unwrap();
        assert_eq!(config.endpoint, "https://traces.example/custom");
        assert_eq!(config.resource, [("service.name".into(), "sluice".into())]);
        let flag = TracingConfig::from_env(Some("http://127.0.0.1:9"), env(&traces))
            .unwrap()
            .unwrap();
        assert_eq!(flag.endpoint, "http://127.0.0.1:9/v1/traces");
    }

    #[test]
    fn a_wrong_variable_is_named() {
        let grpc = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        assert!(
            TracingConfig::from_env(None, env(&grpc))
                .unwrap_err()
                .contains("http/protobuf only")
        );
        let url = [("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")];
        assert!(
            TracingConfig::from_env(None, env(&url))
                .unwrap_err()
                .contains("http:// or https://")
        );
        let sampler = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_SAMPLER", "x"),
        ];
        assert!(
            TracingConfig::from_env(None, env(&sampler))
                .unwrap_err()
                .contains("OTEL_TRACES_SAMPLER")
        );
    }
}
