//! Chip profiles: `ops/chips.toml`, read with serde and validated. Every
//! figure carries its source; the model reads only the numbers.

use std::collections::BTreeMap;

use opfuse_ir::DType;
use serde::Deserialize;

use crate::ProfileError;

/// The profiles file, embedded so the binary needs no data files at run time.
pub const CHIPS_TOML: &str = include_str!("../../../ops/chips.toml");
const CHIPS_PATH: &str = "ops/chips.toml";

/// One number and where it comes from: a confidence mark and a source, or
/// `assumed: <reasoning>`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure<T = f64> {
    pub value: T,
    pub source: String,
}

impl<T> Figure<T> {
    pub fn is_assumed(&self) -> bool {
        self.source.starts_with("assumed:")
    }
}

/// The precision a matrix unit computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatrixRate {
    Fp16,
    Fp8,
    Int8,
    Fp32,
}

impl MatrixRate {
    /// The rate a matmul over `dtype` inputs runs at.
    pub fn of(dtype: DType) -> MatrixRate {
        match dtype {
            DType::F16 | DType::BF16 => MatrixRate::Fp16,
            DType::F8E4M3 | DType::F8E5M2 => MatrixRate::Fp8,
            DType::I8 | DType::U8 | DType::Bool => MatrixRate::Int8,
            _ => MatrixRate::Fp32,
        }
    }
}

/// Figures per matrix precision; `fp8` is absent on chips without it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateTable {
    pub fp16: Figure,
    pub fp8: Option<Figure>,
    pub int8: Figure,
    pub fp32: Figure,
}

impl RateTable {
    /// The figure for `rate`; fp8 on a chip without it runs at the fp16 rate
    /// (the data is cast up first).
    pub fn get(&self, rate: MatrixRate) -> f64 {
        match rate {
            MatrixRate::Fp16 => self.fp16.value,
            MatrixRate::Fp8 => self.fp8.as_ref().unwrap_or(&self.fp16).value,
            MatrixRate::Int8 => self.int8.value,
            MatrixRate::Fp32 => self.fp32.value,
        }
    }

    fn figures(&self) -> Vec<(&'static str, &Figure)> {
        let mut figures = vec![("fp16", &self.fp16)];
        figures.extend(self.fp8.as_ref().map(|f| ("fp8", f)));
        figures.push(("int8", &self.int8));
        figures.push(("fp32", &self.fp32));
        figures
    }
}

/// An Ascend chip: the Da Vinci cores, their buffers and data movers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AscendProfile {
    pub title: String,
    pub aic_cores: Figure,
    pub aiv_cores: Figure,
    pub clock_ghz: Figure,
    /// Cube and vector sit in separate cores and hand data over through GM.
    pub split_design: Figure<bool>,
    pub cube_macs_per_cycle: RateTable,
    pub vector_bytes_per_cycle: Figure,
    pub l1_kib: Figure,
    pub l0a_kib: Figure,
    pub l0b_kib: Figure,
    pub l0c_kib: Figure,
    pub ub_kib: Figure,
    pub l2_mib: Figure,
    pub hbm_gb: Figure,
    pub hbm_gbps: Figure,
    /// GM (through L2) to L1/UB, per core.
    pub mte2_bytes_per_cycle: Figure,
    /// L1 to L0A/L0B, per core.
    pub mte1_bytes_per_cycle: Figure,
    /// L0C to GM, per core.
    pub fixpipe_bytes_per_cycle: Figure,
    pub launch_us: Figure,
    pub ai_cpu_gflops: Figure,
    pub ai_cpu_gbps: Figure,
    pub ai_cpu_launch_us: Figure,
}

/// A GPU as a roofline: tensor-core and CUDA-core peaks, HBM bandwidth.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuProfile {
    pub title: String,
    pub tensor_tflops: RateTable,
    pub simt_tflops: Figure,
    pub hbm_gb: Figure,
    pub hbm_gbps: Figure,
    pub launch_us: Figure,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Design {
    Ascend(Box<AscendProfile>),
    Gpu(Box<GpuProfile>),
}

/// A named chip profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: String,
    pub design: Design,
}

impl Profile {
    pub fn title(&self) -> &str {
        match &self.design {
            Design::Ascend(chip) => &chip.title,
            Design::Gpu(gpu) => &gpu.title,
        }
    }

    pub fn hbm_bytes(&self) -> f64 {
        self.hbm().0.value * 1e9
    }

    /// HBM bytes per microsecond.
    pub fn hbm_bytes_per_us(&self) -> f64 {
        self.hbm().1.value * 1e3
    }

    /// Peak matrix FLOP/s at `rate`.
    pub fn matrix_flops_per_us(&self, rate: MatrixRate) -> f64 {
        match &self.design {
            Design::Ascend(chip) => chip.aic_cores.value * chip.clock_ghz.value * 1e3 * 2.0 * chip.cube_macs_per_cycle.get(rate),
            Design::Gpu(gpu) => gpu.tensor_tflops.get(rate) * 1e6,
        }
    }

    fn hbm(&self) -> (&Figure, &Figure) {
        match &self.design {
            Design::Ascend(chip) => (&chip.hbm_gb, &chip.hbm_gbps),
            Design::Gpu(gpu) => (&gpu.hbm_gb, &gpu.hbm_gbps),
        }
    }

    /// Every figure as (field, value, source), in file order, for listings.
    pub fn figures(&self) -> Vec<(String, String, &str)> {
        match &self.design {
            Design::Ascend(c) => {
                let mut out = vec![
                    number("aic_cores", &c.aic_cores),
                    number("aiv_cores", &c.aiv_cores),
                    number("clock_ghz", &c.clock_ghz),
                    (
                        "split_design".to_string(),
                        c.split_design.value.to_string(),
                        c.split_design.source.as_str(),
                    ),
                ];
                out.extend(
                    c.cube_macs_per_cycle
                        .figures()
                        .into_iter()
                        .map(|(dtype, f)| number(&format!("cube_macs_per_cycle.{dtype}"), f)),
                );
                for (name, f) in [
                    ("vector_bytes_per_cycle", &c.vector_bytes_per_cycle),
                    ("l1_kib", &c.l1_kib),
                    ("l0a_kib", &c.l0a_kib),
                    ("l0b_kib", &c.l0b_kib),
                    ("l0c_kib", &c.l0c_kib),
                    ("ub_kib", &c.ub_kib),
                    ("l2_mib", &c.l2_mib),
                    ("hbm_gb", &c.hbm_gb),
                    ("hbm_gbps", &c.hbm_gbps),
                    ("mte2_bytes_per_cycle", &c.mte2_bytes_per_cycle),
                    ("mte1_bytes_per_cycle", &c.mte1_bytes_per_cycle),
                    ("fixpipe_bytes_per_cycle", &c.fixpipe_bytes_per_cycle),
                    ("launch_us", &c.launch_us),
                    ("ai_cpu_gflops", &c.ai_cpu_gflops),
                    ("ai_cpu_gbps", &c.ai_cpu_gbps),
                    ("ai_cpu_launch_us", &c.ai_cpu_launch_us),
                ] {
                    out.push(number(name, f));
                }
                out
            }
            Design::Gpu(g) => {
                let mut out: Vec<_> = g
                    .tensor_tflops
                    .figures()
                    .into_iter()
                    .map(|(dtype, f)| number(&format!("tensor_tflops.{dtype}"), f))
                    .collect();
                for (name, f) in [
                    ("simt_tflops", &g.simt_tflops),
                    ("hbm_gb", &g.hbm_gb),
                    ("hbm_gbps", &g.hbm_gbps),
                    ("launch_us", &g.launch_us),
                ] {
                    out.push(number(name, f));
                }
                out
            }
        }
    }
}

fn number<'a>(name: &str, figure: &'a Figure) -> (String, String, &'a str) {
    (name.to_string(), format!("{}", figure.value), figure.source.as_str())
}

/// All profiles: the Ascend ones in the catalog's chip order, then the GPUs by name.
#[derive(Clone, Debug, PartialEq)]
pub struct Profiles(Vec<Profile>);

impl Profiles {
    /// The profiles of `ops/chips.toml`.
    pub fn builtin() -> Result<Profiles, ProfileError> {
        Profiles::parse(CHIPS_TOML, CHIPS_PATH)
    }

    /// Parses and validates a profiles file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Profiles, ProfileError> {
        let error = |message: String| ProfileError {
            file: file.to_string(),
            message,
        };
        let raw: RawProfiles = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        let mut profiles = Vec::new();
        let mut ascend: Vec<(String, AscendProfile)> = raw.ascend.into_iter().collect();
        ascend.sort_by_key(|(name, _)| opfuse_ops::Chip::ALL.iter().position(|c| c.name() == name));
        for (name, chip) in ascend {
            profiles.push(Profile {
                name,
                design: Design::Ascend(Box::new(chip)),
            });
        }
        for (name, gpu) in raw.gpu {
            profiles.push(Profile {
                name,
                design: Design::Gpu(Box::new(gpu)),
            });
        }
        for profile in &profiles {
            for (field, value, source) in profile.figures() {
                let numeric = value.parse::<f64>();
                if numeric.as_ref().is_ok_and(|v| !(v.is_finite() && *v > 0.0)) {
                    return Err(error(format!(
                        "`{}.{field}` must be a positive number, found {value}",
                        profile.name
                    )));
                }
                if !(source.starts_with('[') || source.starts_with("assumed:")) {
                    return Err(error(format!(
                        "`{}.{field}` has source `{source}`; start it with a mark such as `[O]` or write `assumed: <reason>`",
                        profile.name
                    )));
                }
            }
        }
        for chip in opfuse_ops::Chip::ALL {
            let found = profiles
                .iter()
                .any(|p| p.name == chip.name() && matches!(p.design, Design::Ascend(_)));
            if !found {
                return Err(error(format!("the catalog's chip `{chip}` has no Ascend profile")));
            }
        }
        Ok(Profiles(profiles))
    }

    pub fn all(&self) -> &[Profile] {
        &self.0
    }

    pub fn get(&self, name: &str) -> Result<&Profile, ProfileError> {
        self.0.iter().find(|p| p.name == name).ok_or_else(|| ProfileError {
            file: CHIPS_PATH.to_string(),
            message: format!("`{name}` is not a chip profile; the profiles are {}", self.names().join(", ")),
        })
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|p| p.name.as_str()).collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfiles {
    ascend: BTreeMap<String, AscendProfile>,
    gpu: BTreeMap<String, GpuProfile>,
}
