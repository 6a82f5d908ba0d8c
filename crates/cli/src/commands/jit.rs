//! The JIT side of `opfuse run`: optimize for the CPU, compile every
//! kernel with Cranelift, run, and optionally check against the
//! interpreter and time repeated runs.

use std::fmt::Write;
use std::time::{Duration, Instant};

use opfuse_egraph::{optimize, CpuRoofline, Limits};
use opfuse_ir::{Tensor, VerifiedGraph};
use opfuse_jit::{check, compile, params_of, GemmPath, Options};
use opfuse_ops::{interp, Catalog};

use super::run::{GemmChoice, RunArgs, RunFormat};
use crate::Failure;

/// The output names, the outputs, and the summary to print after them.
pub fn run(
    args: &RunArgs,
    graph: &VerifiedGraph,
    catalog: &Catalog,
    inputs: Vec<Tensor>,
    started: Instant,
    notes: &str,
) -> Result<(Vec<String>, Vec<Tensor>, String), Failure> {
    let fail = |e: &dyn std::fmt::Display| Failure::Input(format!("error: {}: {e}\n{notes}", args.file));
    let optimized = optimize(graph, catalog, None, &CpuRoofline::assumed(), &Limits::default()).map_err(|e| fail(&e))?;
    let kernels: Vec<_> = optimized.kernels.iter().map(|k| k.nodes.clone()).collect();
    let mut executable = compile(optimized.graph, &kernels, catalog.clone()).map_err(|e| fail(&e))?;
    let compile_time = started.elapsed();
    let options = Options {
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1),
        gemm: match args.gemm {
            GemmChoice::Jit => GemmPath::Jit,
            GemmChoice::Library => GemmPath::Library,
        },
    };
    let params = params_of(graph, args.seed);
    executable.bind(&params, &options).map_err(|e| fail(&e))?;
    let mut times = Vec::new();
    let mut stage_times: Vec<Vec<Duration>> = Vec::new();
    let mut timed = |inputs: Vec<Tensor>| {
        let result = executable.run(inputs, &options);
        if let Ok(run) = &result {
            times.push(run.compute);
            stage_times.push(run.stage_times.clone());
        }
        result
    };
    let first = timed(inputs.clone()).map_err(|e| fail(&e))?;
    for _ in 1..args.bench.unwrap_or(1) {
        timed(inputs.clone()).map_err(|e| fail(&e))?;
    }
    let mut text = String::new();
    if args.check {
        let expected = interp::run(catalog, graph, inputs, &params, args.seed).map_err(|e| fail(&e))?;
        let names: Vec<String> = graph.outputs.iter().map(|&id| graph.value_name(id)).collect();
        if let Some(m) = check::compare(&expected, &first.outputs) {
            let name = names.get(m.output).map_or("?", String::as_str);
            return Err(Failure::Input(format!(
                "error: the JIT differs from the interpreter: output `{name}` element {} is {} where the interpreter gives {} (tolerance {:e})\n",
                m.index, m.found, m.expected, m.tolerance
            )));
        }
        let _ = writeln!(text, "check: every output matches the interpreter within its dtype's tolerance");
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    let min = times.first().copied().unwrap_or_default();
    let names = graph.outputs.iter().map(|&id| graph.value_name(id)).collect();
    if args.format == RunFormat::Json {
        let json = serde_json::json!({
            "compile_ms": ms(compile_time),
            "median_ms": ms(median),
            "min_ms": ms(min),
            "peak_bytes": first.peak_bytes,
        });
        return Ok((names, first.outputs, format!("{json:#}\n")));
    }
    let (jit_stages, interpreted) = executable.stage_counts();
    let _ = write!(text, "jit: {} kernels, {jit_stages} compiled stages", kernels.len());
    match executable.preprocessing_stages() {
        0 => {}
        n => {
            let _ = write!(text, " ({n} on weights alone, run once when the params are bound)");
        }
    }
    match executable.interpreted_ops().as_slice() {
        [] => {}
        ops => {
            let _ = write!(text, ", {interpreted} through the interpreter ({})", ops.join(", "));
        }
    }
    let _ = writeln!(
        text,
        "; compile {:.1} ms (parse, optimize, JIT), {} threads",
        ms(compile_time),
        options.threads
    );
    let _ = writeln!(
        text,
        "memory: peak {} bytes of buffers, against {} bytes for every value kept apart",
        first.peak_bytes, first.total_bytes
    );
    if let Some(runs) = args.bench {
        let _ = writeln!(
            text,
            "bench: {runs} runs, median {:.3} ms, min {:.3} ms (the kernels, without converting inputs and outputs)",
            ms(median),
            ms(min)
        );
    }
    if args.profile {
        text.push_str(&profile(&executable.stage_labels(), &stage_times));
    }
    Ok((names, first.outputs, text))
}

/// Each stage's median time over the runs, slowest first.
fn profile(labels: &[String], runs: &[Vec<Duration>]) -> String {
    let mut rows: Vec<(Duration, usize)> = (0..labels.len())
        .map(|stage| {
            let mut times: Vec<Duration> = runs.iter().filter_map(|run| run.get(stage).copied()).collect();
            times.sort();
            (times.get(times.len() / 2).copied().unwrap_or_default(), stage)
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let total: Duration = rows.iter().map(|r| r.0).sum();
    let mut text = String::from("profile: median per stage, slowest first\n");
    for (time, stage) in rows {
        let share = 100.0 * time.as_secs_f64() / total.as_secs_f64().max(f64::MIN_POSITIVE);
        let label = labels.get(stage).map_or("?", String::as_str);
        let _ = writeln!(text, "  {:>10.3} ms {share:>5.1}%  #{stage} {label}", time.as_secs_f64() * 1e3);
    }
    text
}
