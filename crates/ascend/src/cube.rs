//! Cube kernels: a matrix product tiled to L0A/L0B/L0C and L1 in 16x16
//! fractals, with the Cube, MTE2 (GM to L1), MTE1 (L1 to L0) and FixPipe (L0C
//! to GM) pipelines overlapping under double buffering.

use opfuse_ir::DType;

use crate::kernel::Gemm;
use crate::profile::{AscendProfile, MatrixRate};

/// A base tile: the block of the output one core computes at a time, and
/// the K step it loads per iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub m: u64,
    pub n: u64,
    pub k: u64,
}

/// Busy time of each pipeline of the busiest core, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CubeTiming {
    pub tile: Tile,
    pub cube_us: f64,
    pub mte2_us: f64,
    pub mte1_us: f64,
    pub fixpipe_us: f64,
    /// Loading the first K step and draining the last tile, which nothing hides.
    pub prologue_us: f64,
}

impl CubeTiming {
    /// The pipelines overlap; the slowest one and the prologue remain.
    pub fn time_us(&self) -> f64 {
        self.cube_us.max(self.mte2_us).max(self.mte1_us).max(self.fixpipe_us) + self.prologue_us
    }
}

const FRACTAL: u64 = 16;
const TILE_SIDES: [u64; 5] = [16, 32, 64, 128, 256];

/// The fastest tiling of `gemm` over `dtype` operands on `chip`.
pub fn gemm_timing(chip: &AscendProfile, gemm: Gemm, dtype: DType) -> CubeTiming {
    let element = dtype.size_bytes().max(1);
    let mut best: Option<CubeTiming> = None;
    for m in TILE_SIDES {
        for n in TILE_SIDES {
            for k in TILE_SIDES {
                let tile = Tile { m, n, k };
                if !fits(chip, tile, element) {
                    continue;
                }
                let timing = tiled(chip, gemm, dtype, tile);
                if best.is_none_or(|b| timing.time_us() < b.time_us()) {
                    best = Some(timing);
                }
            }
        }
    }
    best.unwrap_or_else(|| tiled(chip, gemm, dtype, Tile { m: 16, n: 16, k: 16 }))
}

/// Double-buffered A and B tiles in L0A/L0B and L1; the fp32 accumulator in L0C.
fn fits(chip: &AscendProfile, tile: Tile, element: u64) -> bool {
    let kib = |figure: f64| (figure * 1024.0) as u64;
    2 * tile.m * tile.k * element <= kib(chip.l0a_kib.value)
        && 2 * tile.k * tile.n * element <= kib(chip.l0b_kib.value)
        && tile.m * tile.n * 4 <= kib(chip.l0c_kib.value)
        && 2 * (tile.m + tile.n) * tile.k * element <= kib(chip.l1_kib.value)
}

/// The timing of `gemm` cut into `tile`s spread over the AIC cores.
pub fn tiled(chip: &AscendProfile, gemm: Gemm, dtype: DType, tile: Tile) -> CubeTiming {
    let element = dtype.size_bytes().max(1);
    // A fractal row holds 32 bytes along K: 16 fp16, 32 int8 or fp8, 8 fp32.
    let k_fractal = (32 / element).max(1);
    let m = round_up(gemm.m.max(1), FRACTAL);
    let n = round_up(gemm.n.max(1), FRACTAL);
    let k = round_up(gemm.k.max(1), k_fractal);
    let tile_m = tile.m.min(m);
    let tile_n = tile.n.min(n);
    let tile_k = tile.k.min(k);
    let output_tiles = gemm.batch.max(1) as f64 * m.div_ceil(tile_m) as f64 * n.div_ceil(tile_n) as f64;
    // Too few output tiles for the cores: split K across them (partial sums
    // accumulate in GM), as decode-time matrix-vector kernels do.
    let k_split = (chip.aic_cores.value / output_tiles).floor().clamp(1.0, k.div_ceil(tile_k) as f64);
    let tiles = output_tiles * k_split;
    let k = round_up((k as f64 / k_split).ceil() as u64, k_fractal);
    let waves = (tiles / chip.aic_cores.value).ceil();
    let cycles_per_us = chip.clock_ghz.value * 1e3;
    let per_core = |cycles_per_tile: f64| waves * cycles_per_tile / cycles_per_us;
    let macs = chip.cube_macs_per_cycle.get(MatrixRate::of(dtype));
    let panel_bytes = ((tile_m + tile_n) * k * element) as f64;
    let step_bytes = ((tile_m + tile_n) * tile_k * element) as f64;
    let out_bytes = (tile_m * tile_n * element) as f64;
    let mte2 = chip.mte2_bytes_per_cycle.value;
    let mte1 = chip.mte1_bytes_per_cycle.value;
    let fixpipe = chip.fixpipe_bytes_per_cycle.value;
    CubeTiming {
        tile: Tile {
            m: tile_m,
            n: tile_n,
            k: tile_k,
        },
        cube_us: per_core((tile_m * tile_n * k) as f64 / macs),
        mte2_us: per_core(panel_bytes / mte2),
        mte1_us: per_core(panel_bytes / mte1),
        fixpipe_us: per_core(out_bytes / fixpipe),
        prologue_us: (step_bytes / mte2 + step_bytes / mte1 + out_bytes / fixpipe) / cycles_per_us,
    }
}

fn round_up(value: u64, multiple: u64) -> u64 {
    value.div_ceil(multiple) * multiple
}
