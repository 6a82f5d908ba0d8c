//! The time of one kernel on one chip, and the unit that bounds it.

use std::fmt;

use crate::cube;
use crate::kernel::{Kernel, Placement};
use crate::profile::{AscendProfile, Design, GpuProfile, MatrixRate, Profile};
use crate::vector;

/// What a kernel's time is spent waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bound {
    /// The Cube (or a GPU's tensor cores).
    Cube,
    /// The Vector unit (or a GPU's CUDA cores).
    Vector,
    /// HBM bandwidth.
    Hbm,
    /// An on-chip data mover: MTE2 (GM to L1/UB), MTE1 (L1 to L0), FixPipe.
    Mte,
    /// The cube-to-vector handoff of a mixed kernel.
    Handoff,
    /// The launch overhead: the kernel does too little to hide it.
    Launch,
    /// The AI CPU fallback.
    AiCpu,
    /// No kernel: a view of its input.
    View,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::Cube => "cube",
            Bound::Vector => "vector",
            Bound::Hbm => "hbm",
            Bound::Mte => "mte",
            Bound::Handoff => "handoff",
            Bound::Launch => "launch",
            Bound::AiCpu => "ai_cpu",
            Bound::View => "view",
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The modelled time of one kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelCost {
    pub time_us: f64,
    pub bound: Bound,
    /// The roofline time (peak compute or HBM bandwidth, whichever binds)
    /// over the modelled time: 1 is the chip's roofline.
    pub utilisation: f64,
}

pub fn kernel_cost(profile: &Profile, kernel: &Kernel) -> KernelCost {
    if kernel.placement == Placement::View {
        return KernelCost {
            time_us: 0.0,
            bound: Bound::View,
            utilisation: 0.0,
        };
    }
    let roofline = roofline_us(profile, kernel);
    let (time_us, bound) = match &profile.design {
        Design::Ascend(chip) => ascend_time(chip, profile, kernel),
        Design::Gpu(gpu) => gpu_time(gpu, profile, kernel),
    };
    KernelCost {
        time_us,
        bound,
        utilisation: if time_us > 0.0 { roofline / time_us } else { 0.0 },
    }
}

/// The time at the chip's peak compute or HBM bandwidth, whichever is longer.
fn roofline_us(profile: &Profile, kernel: &Kernel) -> f64 {
    let memory = kernel.hbm_bytes as f64 / profile.hbm_bytes_per_us();
    let peak = match (&profile.design, kernel.gemm) {
        (_, Some(_)) => profile.matrix_flops_per_us(MatrixRate::of(kernel.dtype)),
        (Design::Ascend(chip), None) => {
            chip.aiv_cores.value * chip.clock_ghz.value * 1e3 * chip.vector_bytes_per_cycle.value / kernel.dtype.size_bytes().max(1) as f64
        }
        (Design::Gpu(gpu), None) => gpu.simt_tflops.value * 1e6,
    };
    memory.max(kernel.flops as f64 / peak)
}

/// The slowest of `parts`, then launch overhead on top; a kernel is launch
/// bound when the launch costs more than its work.
fn slowest(parts: &[(f64, Bound)], launch_us: f64, extra_us: f64) -> (f64, Bound) {
    let (work, bound) = parts
        .iter()
        .copied()
        .fold((0.0, Bound::Launch), |best, part| if part.0 > best.0 { part } else { best });
    let bound = if launch_us >= work + extra_us { Bound::Launch } else { bound };
    (launch_us + work + extra_us, bound)
}

fn ascend_time(chip: &AscendProfile, profile: &Profile, kernel: &Kernel) -> (f64, Bound) {
    let hbm_us = kernel.hbm_bytes as f64 / profile.hbm_bytes_per_us();
    if kernel.placement == Placement::AiCpu {
        let work = kernel.flops as f64 / (chip.ai_cpu_gflops.value * 1e3) + kernel.hbm_bytes as f64 / (chip.ai_cpu_gbps.value * 1e3);
        return (chip.ai_cpu_launch_us.value + work, Bound::AiCpu);
    }
    match kernel.gemm {
        Some(gemm) => {
            let timing = cube::gemm_timing(chip, gemm, kernel.dtype);
            let handoff_us = handoff_us(chip, kernel.handoff_bytes as f64);
            let parts = [
                (timing.cube_us, Bound::Cube),
                (hbm_us, Bound::Hbm),
                (timing.mte2_us.max(timing.mte1_us).max(timing.fixpipe_us), Bound::Mte),
                (handoff_us, Bound::Handoff),
            ];
            slowest(&parts, chip.launch_us.value, timing.prologue_us)
        }
        None => {
            let timing = vector::vector_timing(chip, kernel);
            let parts = [(timing.vector_us, Bound::Vector), (hbm_us, Bound::Hbm), (timing.mte_us, Bound::Mte)];
            slowest(&parts, chip.launch_us.value, timing.prologue_us)
        }
    }
}

/// Moving the cube's result to the vector cores inside one kernel. A split
/// design writes it to GM through FixPipe and reads it back through MTE2 on
/// the AIV cores (L2 absorbs it, HBM does not see it); the 950's L0C to UB
/// path moves it once, at the FixPipe rate.
pub fn handoff_us(chip: &AscendProfile, bytes: f64) -> f64 {
    let cycles_per_us = chip.clock_ghz.value * 1e3;
    let write = bytes / (chip.aic_cores.value * chip.fixpipe_bytes_per_cycle.value) / cycles_per_us;
    match chip.split_design.value {
        true => write + bytes / (chip.aiv_cores.value * chip.mte2_bytes_per_cycle.value) / cycles_per_us,
        false => write,
    }
}

/// A GPU kernel as a roofline: tensor cores for matrix products, CUDA cores
/// for the rest, against HBM bandwidth.
fn gpu_time(gpu: &GpuProfile, profile: &Profile, kernel: &Kernel) -> (f64, Bound) {
    let hbm_us = kernel.hbm_bytes as f64 / profile.hbm_bytes_per_us();
    let compute = match kernel.gemm {
        Some(_) => (
            kernel.flops as f64 / profile.matrix_flops_per_us(MatrixRate::of(kernel.dtype)),
            Bound::Cube,
        ),
        None => (kernel.flops as f64 / (gpu.simt_tflops.value * 1e6), Bound::Vector),
    };
    slowest(&[compute, (hbm_us, Bound::Hbm)], gpu.launch_us.value, 0.0)
}

#[cfg(test)]
mod tests {
    use opfuse_ir::DType;
    use opfuse_ops::OpClass;

    use super::*;
    use crate::cube::{tiled, Tile};
    use crate::kernel::Gemm;
    use crate::profile::Profiles;

    fn profile(name: &str) -> Profile {
        Profiles::builtin()
            .expect("chips.toml loads")
            .get(name)
            .expect("a built-in profile")
            .clone()
    }

    fn ascend(profile: &Profile) -> &AscendProfile {
        match &profile.design {
            Design::Ascend(chip) => chip,
            Design::Gpu(_) => panic!("not an Ascend profile"),
        }
    }

    fn kernel(gemm: Option<Gemm>, flops: u128, hbm_bytes: u128, row: u64) -> Kernel {
        Kernel {
            name: "k".into(),
            op: "k".into(),
            class: OpClass::Elementwise,
            dtype: DType::F16,
            flops,
            hbm_bytes,
            gemm,
            handoff_bytes: 0,
            row,
            placement: Placement::AiCore,
        }
    }

    fn close(got: f64, expected: f64) {
        assert!(
            (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "got {got}, expected {expected}"
        );
    }

    #[test]
    fn gemm_on_tile_boundaries_and_just_over() {
        let p = profile("910b");
        let tile = Tile { m: 128, n: 256, k: 64 };
        // 512 x 1536 is 4 x 6 = 24 tiles of 128 x 256: one wave on 24 AIC cores,
        // each 128 * 256 * 1024 / 4096 = 8192 Cube cycles at 1.8 GHz.
        let exact = tiled(
            ascend(&p),
            Gemm {
                batch: 1,
                m: 512,
                n: 1536,
                k: 1024,
            },
            DType::F16,
            tile,
        );
        close(exact.cube_us, 8192.0 / 1800.0);
        // (128 + 256) * 1024 * 2 bytes of A and B panels per tile at 79 B per cycle.
        close(exact.mte2_us, 384.0 * 1024.0 * 2.0 / 79.0 / 1800.0);
        // One row more pads to 528 = 5 tiles of 128: 30 tiles, two waves.
        let over = tiled(
            ascend(&p),
            Gemm {
                batch: 1,
                m: 513,
                n: 1536,
                k: 1024,
            },
            DType::F16,
            tile,
        );
        close(over.cube_us, 2.0 * 8192.0 / 1800.0);
        // K pads to the 16-element fractal: 1025 costs as 1040.
        let k_over = tiled(
            ascend(&p),
            Gemm {
                batch: 1,
                m: 512,
                n: 1536,
                k: 1025,
            },
            DType::F16,
            tile,
        );
        close(k_over.cube_us, 8192.0 / 1024.0 * 1040.0 / 1800.0);
    }

    #[test]
    fn elementwise_add_is_bound_by_hbm() {
        let p = profile("910b");
        let elements: u128 = 4096 * 4096;
        let bytes = 3 * elements * 2;
        let cost = kernel_cost(&p, &kernel(None, elements, bytes, 4096));
        assert_eq!(cost.bound, Bound::Hbm);
        // launch + bytes / 1.6 TB/s + the first 32 KiB UB tile at 79 B per cycle.
        let expected = 3.0 + bytes as f64 / 1.6e6 + 32768.0 / 79.0 / 1800.0;
        close(cost.time_us, expected);
        assert!(cost.utilisation > 0.9, "{}", cost.utilisation);
    }

    #[test]
    fn decode_matvec_sits_at_the_hbm_bound() {
        // One token through a 4096 x 4096 fp16 weight: 32 MiB read for 33.5 MFLOP.
        // (950DT is left out: its 4 TB/s outruns 32 cores x the assumed 79 B
        // per cycle of MTE2, so the model calls its decode mover-bound.)
        for chip in ["910b", "910c", "h100"] {
            let p = profile(chip);
            let bytes = 4096u128 * 4096 * 2 + 2 * 4096 * 2;
            let gemv = kernel(
                Some(Gemm {
                    batch: 1,
                    m: 1,
                    n: 4096,
                    k: 4096,
                }),
                2 * 4096 * 4096,
                bytes,
                4096,
            );
            let cost = kernel_cost(&p, &gemv);
            assert_eq!(cost.bound, Bound::Hbm, "{chip}");
            let floor = bytes as f64 / p.hbm_bytes_per_us();
            assert!(
                cost.time_us >= floor && cost.time_us <= floor + 3.0 + 1.0,
                "{chip}: {} vs {floor}",
                cost.time_us
            );
        }
    }

    #[test]
    fn split_design_pays_the_handoff_twice() {
        let split = ascend(&profile("910b")).clone();
        let mut joined = split.clone();
        joined.split_design.value = false;
        let bytes = 1e6;
        assert!(handoff_us(&split, bytes) > handoff_us(&joined, bytes));
    }

    #[test]
    fn fallback_ops_cost_ai_cpu_time() {
        let p = profile("910b");
        let mut k = kernel(None, 1_000_000, 1_000_000, 16);
        k.placement = Placement::AiCpu;
        let cost = kernel_cost(&p, &k);
        assert_eq!(cost.bound, Bound::AiCpu);
        close(cost.time_us, 50.0 + 1e6 / 20e3 + 1e6 / 20e3);
    }
}
