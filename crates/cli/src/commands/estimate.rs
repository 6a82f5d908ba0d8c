//! `opfuse estimate FILE --chip 910b`: the modelled time of a model on a
//! chip profile, per kernel and in total; with `--phase`, an LLM's time to
//! first token (prefill) or per output token (decode) and its KV cache.

use std::collections::BTreeMap;
use std::fmt::Write;

use clap::ValueEnum;
use opfuse_ascend::llm::{self, KvCache};
use opfuse_ascend::{estimate_graph, Bound, Estimate, Profile, Profiles};
use opfuse_ops::Catalog;
use serde::Serialize;

use crate::load::{self, ModelRequest};
use crate::{table, Failure};

#[derive(clap::Args)]
pub struct EstimateArgs {
    /// The model file (.opf or .onnx).
    #[arg(required_unless_present = "list_chips")]
    pub file: Option<String>,
    /// The chip profile (`--list-chips` lists them).
    #[arg(long, default_value = "910b")]
    pub chip: String,
    /// Compare chips side by side (comma-separated), both phases.
    #[arg(long, value_delimiter = ',', conflicts_with = "phase")]
    pub compare: Vec<String>,
    /// Print the chip profiles with the source of every figure.
    #[arg(long)]
    pub list_chips: bool,
    /// An LLM phase: prefill (time to first token) or decode (time per token).
    #[arg(long, value_enum)]
    pub phase: Option<Phase>,
    /// Prompt length for prefill; the model's dim `S` is set to it.
    #[arg(long, default_value_t = 2048)]
    pub seq: u64,
    /// Tokens already in the KV cache for decode.
    #[arg(long, default_value_t = 4096)]
    pub context: u64,
    /// Sequences per batch; the model's dim `B` is set to it.
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Kernel groups shown in the text and markdown tables (JSON lists all kernels).
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// Override a `dim` default, as NAME=VALUE; may repeat.
    #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = load::parse_dim)]
    pub dims: Vec<(String, i64)>,
    /// The graph to elaborate; the file's last graph by default.
    #[arg(long)]
    pub entry: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    Prefill,
    Decode,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

pub fn run(args: &EstimateArgs) -> Result<String, Failure> {
    let profiles = Profiles::builtin().map_err(|e| Failure::Input(format!("error: the chip profiles do not load: {e}\n")))?;
    if args.list_chips {
        return Ok(list_chips(&profiles, args.format));
    }
    let file = args.file.as_deref().ok_or_else(|| Failure::Usage("give a model file".into()))?;
    let catalog = load::catalog()?;
    if !args.compare.is_empty() {
        let chips = args
            .compare
            .iter()
            .map(|name| chip(&profiles, name))
            .collect::<Result<Vec<_>, _>>()?;
        let (seq, context) = (args.seq, args.context);
        let rows = chips
            .iter()
            .map(|profile| {
                let prefill = phase_run(args, file, &catalog, profile, PhaseRequest::Prefill { seq })?;
                let decode = phase_run(args, file, &catalog, profile, PhaseRequest::Decode { context })?;
                Ok((prefill, decode))
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        return render_compare(&rows, args.format);
    }
    let profile = chip(&profiles, &args.chip)?;
    let request = match args.phase {
        None => None,
        Some(Phase::Prefill) => Some(PhaseRequest::Prefill { seq: args.seq }),
        Some(Phase::Decode) => Some(PhaseRequest::Decode { context: args.context }),
    };
    let report = match request {
        None => {
            let graph = load_graph(args, file, &catalog, &[])?;
            Report {
                estimate: estimate_graph(&graph, &catalog, profile),
                phase: None,
            }
        }
        Some(request) => phase_run(args, file, &catalog, profile, request)?,
    };
    render(&report, args)
}

#[derive(Clone, Copy)]
enum PhaseRequest {
    Prefill { seq: u64 },
    Decode { context: u64 },
}

struct PhaseFacts {
    request: PhaseRequest,
    batch: u64,
    kv: KvCache,
    kv_cache_bytes: u128,
    weight_bytes: u128,
    fit: llm::Fit,
}

struct Report {
    estimate: Estimate,
    phase: Option<PhaseFacts>,
}

fn chip<'a>(profiles: &'a Profiles, name: &str) -> Result<&'a Profile, Failure> {
    profiles.get(name).map_err(|e| Failure::Usage(e.message))
}

fn load_graph(
    args: &EstimateArgs,
    file: &str,
    catalog: &Catalog,
    phase_dims: &[(String, i64)],
) -> Result<opfuse_ir::VerifiedGraph, Failure> {
    let mut dims = args.dims.clone();
    dims.extend(phase_dims.iter().cloned());
    let request = ModelRequest {
        path: file,
        entry: args.entry.as_deref(),
        dims: &dims,
        bind: Default::default(),
    };
    load::load(&request, catalog)
        .map(|loaded| loaded.graph)
        .map_err(|failure| match failure {
            Failure::Usage(message) if !phase_dims.is_empty() => Failure::Usage(format!(
                "{message} (--phase and --compare set the model's dims `S` (sequence) and `B` (batch), which it must declare)"
            )),
            other => other,
        })
}

/// Prefill elaborates the model at `S = seq`; a decode step at `S = 1`, plus
/// one cache-reading kernel per attention at the context length.
fn phase_run(args: &EstimateArgs, file: &str, catalog: &Catalog, profile: &Profile, request: PhaseRequest) -> Result<Report, Failure> {
    let batch = args.batch.max(1);
    let as_dim = |v: u64| i64::try_from(v).map_err(|_| Failure::Usage(format!("{v} is too large")));
    let (seq, cached) = match request {
        PhaseRequest::Prefill { seq } => (seq.max(1), seq.max(1)),
        PhaseRequest::Decode { context } => (1, context),
    };
    let dims = [("S".to_string(), as_dim(seq)?), ("B".to_string(), as_dim(batch)?)];
    let graph = load_graph(args, file, catalog, &dims)?;
    let kv = KvCache::of(&graph, batch * seq);
    let mut estimate = estimate_graph(&graph, catalog, profile);
    if let PhaseRequest::Decode { context } = request {
        let extra = opfuse_ascend::estimate_kernels(kv.decode_kernels(batch, context), profile);
        estimate.kernels.extend(extra.kernels);
    }
    let kv_cache_bytes = kv.bytes_per_token * u128::from(batch) * u128::from(cached);
    let weight_bytes = llm::weight_bytes(&graph);
    Ok(Report {
        estimate,
        phase: Some(PhaseFacts {
            request,
            batch,
            kv,
            kv_cache_bytes,
            weight_bytes,
            fit: llm::fit(weight_bytes, kv_cache_bytes, profile.hbm_bytes()),
        }),
    })
}

#[derive(Serialize)]
struct KernelJson<'a> {
    name: &'a str,
    op: &'a str,
    time_us: f64,
    bound: &'static str,
    flops: u128,
    hbm_bytes: u128,
    utilisation: f64,
}

#[derive(Serialize)]
struct EstimateJson<'a> {
    chip: &'a str,
    total_us: f64,
    hbm_bytes: u128,
    flops: u128,
    #[serde(flatten)]
    phase: Option<PhaseJson>,
    kernels: Vec<KernelJson<'a>>,
}

#[derive(Serialize)]
struct PhaseJson {
    phase: &'static str,
    batch: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttft_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tpot_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_per_s: Option<f64>,
    attention_sites: u64,
    kv_cache_bytes: u128,
    weight_bytes: u128,
    fits: bool,
    chips_needed: u64,
}

fn phase_json(facts: &PhaseFacts, total_us: f64) -> PhaseJson {
    let ms = round(total_us / 1e3);
    let (phase, seq, context, ttft_ms, tpot_ms, tokens_per_s) = match facts.request {
        PhaseRequest::Prefill { seq } => ("prefill", Some(seq), None, Some(ms), None, None),
        PhaseRequest::Decode { context } => (
            "decode",
            None,
            Some(context),
            None,
            Some(ms),
            Some(tokens_per_s(facts.batch, total_us)),
        ),
    };
    PhaseJson {
        phase,
        batch: facts.batch,
        seq,
        context,
        ttft_ms,
        tpot_ms,
        tokens_per_s,
        attention_sites: facts.kv.sites,
        kv_cache_bytes: facts.kv_cache_bytes,
        weight_bytes: facts.weight_bytes,
        fits: facts.fit.fits,
        chips_needed: facts.fit.chips_needed,
    }
}

fn tokens_per_s(batch: u64, step_us: f64) -> f64 {
    if step_us > 0.0 {
        round(batch as f64 * 1e6 / step_us)
    } else {
        0.0
    }
}

/// Four significant decimals keep the JSON stable and readable.
fn round(value: f64) -> f64 {
    (value * 1e4).round() / 1e4
}

fn to_json<T: Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map(|json| json + "\n")
        .map_err(|e| Failure::Input(format!("error: cannot encode the estimate: {e}\n")))
}

fn render(report: &Report, args: &EstimateArgs) -> Result<String, Failure> {
    let estimate = &report.estimate;
    let total_us = estimate.total_us();
    match args.format {
        Format::Json => to_json(&EstimateJson {
            chip: &estimate.chip,
            total_us: round(total_us),
            hbm_bytes: estimate.hbm_bytes(),
            flops: estimate.flops(),
            phase: report.phase.as_ref().map(|facts| phase_json(facts, total_us)),
            kernels: estimate
                .kernels
                .iter()
                .map(|k| KernelJson {
                    name: &k.kernel.name,
                    op: &k.kernel.op,
                    time_us: round(k.cost.time_us),
                    bound: k.cost.bound.name(),
                    flops: k.kernel.flops,
                    hbm_bytes: k.kernel.hbm_bytes,
                    utilisation: round(k.cost.utilisation),
                })
                .collect(),
        }),
        Format::Text | Format::Markdown => Ok(render_table(report, args)),
    }
}

/// Identical kernels (same op, work and bound) as one row.
struct Group {
    example: String,
    count: usize,
    time_us: f64,
    each_us: f64,
    bound: Bound,
    flops: u128,
    hbm_bytes: u128,
    utilisation: f64,
}

fn groups(estimate: &Estimate) -> Vec<Group> {
    let mut by_key: BTreeMap<(String, u128, u128, Bound, u64), Group> = BTreeMap::new();
    for k in &estimate.kernels {
        let key = (
            k.kernel.op.clone(),
            k.kernel.flops,
            k.kernel.hbm_bytes,
            k.cost.bound,
            k.cost.time_us.to_bits(),
        );
        let group = by_key.entry(key).or_insert_with(|| Group {
            example: k.kernel.name.clone(),
            count: 0,
            time_us: 0.0,
            each_us: k.cost.time_us,
            bound: k.cost.bound,
            flops: k.kernel.flops,
            hbm_bytes: k.kernel.hbm_bytes,
            utilisation: k.cost.utilisation,
        });
        group.count += 1;
        group.time_us += k.cost.time_us;
    }
    let mut groups: Vec<Group> = by_key.into_values().collect();
    groups.sort_by(|a, b| b.time_us.total_cmp(&a.time_us).then_with(|| a.example.cmp(&b.example)));
    groups
}

fn render_table(report: &Report, args: &EstimateArgs) -> String {
    let estimate = &report.estimate;
    let markdown = args.format == Format::Markdown;
    let groups = groups(estimate);
    let header = [
        "kernel",
        "count",
        "total us",
        "each us",
        "bound",
        "GFLOP each",
        "HBM MB each",
        "util",
    ]
    .map(String::from);
    let rows: Vec<Vec<String>> = groups
        .iter()
        .take(args.top)
        .map(|g| {
            vec![
                g.example.clone(),
                g.count.to_string(),
                format!("{:.2}", g.time_us),
                format!("{:.2}", g.each_us),
                g.bound.to_string(),
                format!("{:.3}", g.flops as f64 / 1e9),
                format!("{:.3}", g.hbm_bytes as f64 / 1e6),
                format!("{:.0}%", g.utilisation * 100.0),
            ]
        })
        .collect();
    let mut out = String::new();
    let kernels = estimate.kernels.iter().filter(|k| k.cost.bound != Bound::View).count();
    let title = format!(
        "estimate on `{}`: {kernels} kernels ({} views), {} groups; top {} by time",
        estimate.chip,
        estimate.kernels.len() - kernels,
        groups.len(),
        rows.len()
    );
    match markdown {
        true => {
            let _ = writeln!(out, "# Estimate\n\n{title}\n");
            out.push_str(&table::markdown(&header, &rows));
        }
        false => {
            let _ = writeln!(out, "{title}\n");
            out.push_str(&table::aligned(&header, &rows));
        }
    }
    let bullet = if markdown { "- " } else { "  " };
    let _ = writeln!(out, "\ntotals");
    let total_us = estimate.total_us();
    let _ = writeln!(out, "{bullet}time         {:.2} us", total_us);
    let _ = writeln!(out, "{bullet}flops        {:.3} GFLOP", estimate.flops() as f64 / 1e9);
    let _ = writeln!(out, "{bullet}hbm          {:.3} MB", estimate.hbm_bytes() as f64 / 1e6);
    let shares: Vec<String> = llm::time_by_bound(estimate)
        .iter()
        .map(|(b, s)| format!("{b} {:.0}%", s * 100.0))
        .collect();
    let _ = writeln!(out, "{bullet}time by bound {}", shares.join(", "));
    if let Some(facts) = &report.phase {
        match facts.request {
            PhaseRequest::Prefill { seq } => {
                let _ = writeln!(
                    out,
                    "{bullet}prefill      seq {seq}, batch {}: TTFT {:.3} ms",
                    facts.batch,
                    total_us / 1e3
                );
            }
            PhaseRequest::Decode { context } => {
                let _ = writeln!(
                    out,
                    "{bullet}decode       context {context}, batch {}: TPOT {:.3} ms, {:.1} tokens/s",
                    facts.batch,
                    total_us / 1e3,
                    tokens_per_s(facts.batch, total_us)
                );
            }
        }
        let _ = writeln!(
            out,
            "{bullet}memory       weights {:.2} GB + KV cache {:.3} GB ({} attention sites): {}",
            facts.weight_bytes as f64 / 1e9,
            facts.kv_cache_bytes as f64 / 1e9,
            facts.kv.sites,
            if facts.fit.fits {
                "fits one chip".to_string()
            } else {
                format!("needs {} chips", facts.fit.chips_needed)
            }
        );
    }
    out
}

fn render_compare(rows: &[(Report, Report)], format: Format) -> Result<String, Failure> {
    #[derive(Serialize)]
    struct CompareJson<'a> {
        chip: &'a str,
        prefill: PhaseJson,
        prefill_total_us: f64,
        decode: PhaseJson,
        decode_total_us: f64,
    }
    let facts = |r: &Report| r.phase.as_ref().map(|f| phase_json(f, r.estimate.total_us()));
    if format == Format::Json {
        let list: Vec<CompareJson<'_>> = rows
            .iter()
            .filter_map(|(p, d)| {
                Some(CompareJson {
                    chip: &p.estimate.chip,
                    prefill: facts(p)?,
                    prefill_total_us: round(p.estimate.total_us()),
                    decode: facts(d)?,
                    decode_total_us: round(d.estimate.total_us()),
                })
            })
            .collect();
        return to_json(&list);
    }
    let header = [
        "chip",
        "TTFT ms",
        "prefill bound",
        "TPOT ms",
        "tokens/s",
        "decode bound",
        "KV GB",
        "fits",
        "chips",
    ]
    .map(String::from);
    let dominant = |r: &Report| {
        llm::time_by_bound(&r.estimate)
            .first()
            .map_or("-".to_string(), |(b, s)| format!("{b} {:.0}%", s * 100.0))
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(p, d)| {
            let decode = d.phase.as_ref();
            vec![
                p.estimate.chip.clone(),
                format!("{:.3}", p.estimate.total_us() / 1e3),
                dominant(p),
                format!("{:.3}", d.estimate.total_us() / 1e3),
                format!("{:.1}", decode.map_or(0.0, |f| tokens_per_s(f.batch, d.estimate.total_us()))),
                dominant(d),
                format!("{:.3}", decode.map_or(0.0, |f| f.kv_cache_bytes as f64 / 1e9)),
                decode.map_or("-", |f| if f.fit.fits { "yes" } else { "no" }).to_string(),
                decode.map_or(0, |f| f.fit.chips_needed).to_string(),
            ]
        })
        .collect();
    let mut out = match format {
        Format::Markdown => table::markdown(&header, &table),
        _ => table::aligned(&header, &table),
    };
    let best = |pick: fn(&(Report, Report)) -> &Report| {
        rows.iter()
            .min_by(|a, b| pick(a).estimate.total_us().total_cmp(&pick(b).estimate.total_us()))
            .map(pick)
    };
    if let (Some(prefill), Some(decode)) = (best(|r| &r.0), best(|r| &r.1)) {
        let _ = writeln!(
            out,
            "\nprefill: `{}` (lowest TTFT; most of its prefill time is {}-bound)",
            prefill.estimate.chip,
            llm::time_by_bound(&prefill.estimate).first().map_or("-", |(b, _)| b.name())
        );
        let _ = writeln!(
            out,
            "decode: `{}` (lowest TPOT; most of its decode time is {}-bound)",
            decode.estimate.chip,
            llm::time_by_bound(&decode.estimate).first().map_or("-", |(b, _)| b.name())
        );
    }
    Ok(out)
}

fn list_chips(profiles: &Profiles, format: Format) -> String {
    let mut out = String::new();
    for profile in profiles.all() {
        let header = ["field", "value", "source"].map(String::from);
        let rows: Vec<Vec<String>> = profile
            .figures()
            .into_iter()
            .map(|(field, value, source)| vec![field, value, source.to_string()])
            .collect();
        match format {
            Format::Markdown => {
                let _ = writeln!(out, "## {} ({})\n", profile.name, profile.title());
                out.push_str(&table::markdown(&header, &rows));
                out.push('\n');
            }
            _ => {
                let _ = writeln!(out, "{} ({})", profile.name, profile.title());
                out.push_str(&table::aligned(&header, &rows));
                out.push('\n');
            }
        }
    }
    out
}
