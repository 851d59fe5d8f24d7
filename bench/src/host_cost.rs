//! Scenario 4: what one event costs inside the host, without NATS: a fresh instance (or a
//! reused one), the call, and the drop, in a loop.

use std::sync::Arc;
use std::time::Instant;

use sluice_runtime::{Event, Function, Runner, SluiceEngine};

use crate::report::Report;
use crate::workload::{self, Size};

/// A component to measure and where it comes from.
struct Subject {
    label: &'static str,
    wasm: std::path::PathBuf,
    manifest: String,
    pooling: bool,
    calls: usize,
}

/// Runs scenario 4 and adds its rows.
pub async fn run(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    let native = native_cost(size.calls);
    report.add(
        "host cost per event",
        "native Rust: parse, sum, serialize",
        micros(native),
        String::new(),
    );
    let rust = sluice_tests::guest("order-total");
    let manifest = |reuse: u32| {
        format!("[limits]\nevents_per_instance = {reuse}\n[permissions]\npublish = [\"orders.totalled\"]\n")
    };
    let mut subjects = vec![
        Subject {
            label: "Rust order-total, fresh instance, pooling",
            wasm: rust.clone(),
            manifest: manifest(1),
            pooling: true,
            calls: size.calls,
        },
        Subject {
            label: "Rust order-total, fresh instance, no pooling",
            wasm: rust.clone(),
            manifest: manifest(1),
            pooling: false,
            calls: size.calls,
        },
        Subject {
            label: "Rust order-total, events_per_instance = 100",
            wasm: rust,
            manifest: manifest(100),
            pooling: true,
            calls: size.calls,
        },
    ];
    let target = Some(crate::machine::target_dir().join("functions"));
    for (label_fresh, label_reuse, name) in [
        (
            "Python py-order-total, fresh instance",
            "Python py-order-total, events_per_instance = 100",
            "py-order-total",
        ),
        (
            "JavaScript js-order-total, fresh instance",
            "JavaScript js-order-total, events_per_instance = 100",
            "js-order-total",
        ),
    ] {
        let Some(wasm) = target
            .as_ref()
            .map(|t| t.join(format!("{name}.wasm")))
            .filter(|w| w.is_file())
        else {
            println!("({name}: not built; run scripts/build-polyglot.sh to include it)");
            continue;
        };
        let calls = (size.calls / 20).max(20);
        let heavy = |reuse: u32| {
            format!(
                "[limits]\nmemory = \"128MiB\"\ntimeout = \"10s\"\nevents_per_instance = {reuse}\n\
                 [permissions]\npublish = [\"orders.totalled\"]\n"
            )
        };
        subjects.push(Subject {
            label: label_fresh,
            wasm: wasm.clone(),
            manifest: heavy(1),
            pooling: true,
            calls,
        });
        subjects.push(Subject {
            label: label_reuse,
            wasm,
            manifest: heavy(100),
            pooling: true,
            calls: calls * 5,
        });
    }
    let mut baseline = None;
    for subject in subjects {
        let (median, mean) = measure(&subject).await?;
        let rust_fresh = *baseline.get_or_insert(median);
        let note = format!(
            "mean {}, {:.1}× native, {:.2}× Rust fresh",
            micros(mean),
            median / native,
            median / rust_fresh
        );
        report.add(
            "host cost per event",
            subject.label,
            format!("median {}", micros(median)),
            note,
        );
        report.bar("host cost per event (µs, median)", subject.label, median * 1e6);
    }
    Ok(())
}

/// Median and mean seconds per event for `subject`.
async fn measure(subject: &Subject) -> anyhow::Result<(f64, f64)> {
    let dir = sluice_tests::FunctionsDir::new();
    std::fs::copy(&subject.wasm, dir.path().join("bench.wasm"))?;
    std::fs::write(dir.path().join("bench.toml"), &subject.manifest)?;
    let engine = if subject.pooling {
        SluiceEngine::new()?
    } else {
        SluiceEngine::without_pooling()?
    };
    let function = Function::load(&engine, &dir.path().join("bench.wasm"))?;
    let runner = Runner::offline(Arc::new(engine), function);
    let event = Arc::new(Event::new(
        "orders.placed".into(),
        workload::order(1).into(),
        vec![],
        None,
    ));
    for _ in 0..(subject.calls / 10).max(10) {
        runner.invoke(&event, 1).await?;
    }
    let mut samples = Vec::with_capacity(subject.calls);
    let started = Instant::now();
    for _ in 0..subject.calls {
        let call = Instant::now();
        runner.invoke(&event, 1).await?;
        samples.push(call.elapsed().as_secs_f64());
    }
    let mean = started.elapsed().as_secs_f64() / subject.calls as f64;
    samples.sort_by(f64::total_cmp);
    Ok((samples[samples.len() / 2], mean))
}

fn native_cost(calls: usize) -> f64 {
    let payload = workload::order(1);
    let started = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(workload::total(std::hint::black_box(&payload)));
    }
    started.elapsed().as_secs_f64() / calls as f64
}

/// Seconds as microseconds, one decimal.
pub fn micros(seconds: f64) -> String {
    format!("{:.1} µs", seconds * 1e6)
}
