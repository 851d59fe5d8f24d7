//! Which traces are recorded: the OpenTelemetry samplers `OTEL_TRACES_SAMPLER` names.

use super::context::SpanContext;

/// Decides whether a new span is recorded, from its parent's decision and its trace id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    /// Every span.
    AlwaysOn,
    /// No span.
    AlwaysOff,
    /// This share of traces (0 to 1), chosen by trace id, so every host agrees.
    TraceIdRatio(f64),
    /// A span with a parent follows the parent's decision; a root span is decided by `root`.
    ParentBased(Root),
}

/// How a [`Sampler::ParentBased`] decides a span that starts a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Root {
    /// Record it.
    AlwaysOn,
    /// Do not.
    AlwaysOff,
    /// Record this share of new traces.
    TraceIdRatio(f64),
}

impl Default for Sampler {
    /// `parentbased_always_on`, the OpenTelemetry default.
    fn default() -> Self {
        Self::ParentBased(Root::AlwaysOn)
    }
}

impl Sampler {
    /// Whether a span of trace `trace_id` whose parent is `parent` (`None` for a root span)
    /// is recorded.
    pub fn samples(&self, parent: Option<&SpanContext>, trace_id: &[u8; 16]) -> bool {
        match (self, parent) {
            (Self::AlwaysOn, _) => true,
            (Self::AlwaysOff, _) => false,
            (Self::TraceIdRatio(ratio), _) => by_ratio(*ratio, trace_id),
            (Self::ParentBased(_), Some(parent)) => parent.sampled,
            (Self::ParentBased(Root::AlwaysOn), None) => true,
            (Self::ParentBased(Root::AlwaysOff), None) => false,
            (Self::ParentBased(Root::TraceIdRatio(ratio)), None) => by_ratio(*ratio, trace_id),
        }
    }

    /// The sampler `OTEL_TRACES_SAMPLER` = `name` with `OTEL_TRACES_SAMPLER_ARG` = `arg`.
    pub fn from_name(name: &str, arg: Option<&str>) -> Result<Self, String> {
        let ratio = || -> Result<f64, String> {
            let Some(arg) = arg else { return Ok(1.0) };
            match arg.trim().parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
                _ => Err(format!(
                    "OTEL_TRACES_SAMPLER_ARG = {arg:?}: expected a ratio between 0 and 1"
                )),
            }
        };
        Ok(match name.trim() {
            "always_on" => Self::AlwaysOn,
            "always_off" => Self::AlwaysOff,
            "traceidratio" => Self::TraceIdRatio(ratio()?),
            "parentbased_always_on" => Self::ParentBased(Root::AlwaysOn),
            "parentbased_always_off" => Self::ParentBased(Root::AlwaysOff),
            "parentbased_traceidratio" => Self::ParentBased(Root::TraceIdRatio(ratio()?)),
            other => {
                return Err(format!(
                    "OTEL_TRACES_SAMPLER = {other:?}: expected always_on, always_off, traceidratio, \
                     parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
                ));
            }
        })
    }
}

/// The trace-id ratio rule of OpenTelemetry's SDKs: the low 63 bits of the id's last 8 bytes
/// below `ratio` of their range.
fn by_ratio(ratio: f64, trace_id: &[u8; 16]) -> bool {
    let bound = (ratio.clamp(0.0, 1.0) * (1u64 << 63) as f64) as u64;
    let low = u64::from_be_bytes(trace_id[8..].try_into().expect("8 bytes")) >> 1;
    low < bound || ratio >= 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_decides_for_its_children_and_a_ratio_decides_roots() {
        let sampled = SpanContext {
            trace_id: [1; 16],
            span_id: [1; 8],
            sampled: true,
        };
        let unsampled = SpanContext {
            sampled: false,
            ..sampled
        };
        let ratio = Sampler::ParentBased(Root::TraceIdRatio(0.0));
        assert!(ratio.samples(Some(&sampled), &[0; 16]));
        assert!(!ratio.samples(Some(&unsampled), &[0; 16]));
        assert!(!ratio.samples(None, &[0xff; 16]));
        assert!(Sampler::default().samples(None, &[7; 16]));
        let tenth = Sampler::TraceIdRatio(0.1);
        let recorded = (0..10_000u64)
            .filter(|n| {
                let mut id = [0u8; 16];
                id[8..].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
                tenth.samples(None, &id)
            })
            .count();
        assert!((900..1100).contains(&recorded), "{recorded} of 10000 at 0.1");
    }

    #[test]
    fn sampler_names_are_the_standard_ones() {
        assert_eq!(
            Sampler::from_name("parentbased_traceidratio", Some("0.01")),
            Ok(Sampler::ParentBased(Root::TraceIdRatio(0.01)))
        );
        assert_eq!(Sampler::from_name("always_off", None), Ok(Sampler::AlwaysOff));
        assert!(
            Sampler::from_name("traceidratio", Some("2"))
                .unwrap_err()
                .contains("between 0 and 1")
        );
        assert!(
            Sampler::from_name("sometimes", None)
                .unwrap_err()
                .contains("always_on")
        );
    }
}
