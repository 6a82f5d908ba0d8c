//! Vector kernels: UB-sized tiles streamed from GM by MTE2 and back by MTE3,
//! computed at the Vector unit's lanes per cycle, rows padded to 32 bytes.

use crate::kernel::Kernel;
use crate::profile::AscendProfile;

/// Busy time of each part of a vector kernel, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VectorTiming {
    pub vector_us: f64,
    /// Moving the (padded) tiles between GM and UB on the AIV cores' movers.
    pub mte_us: f64,
    /// Loading the first tile, which nothing hides.
    pub prologue_us: f64,
}

/// UB and L1 addresses are 32-byte aligned: each row of a tile starts on a block.
pub const ALIGNMENT_BYTES: u64 = 32;

/// Double-buffered tiles of two inputs and one output share the UB.
const UB_STREAMS: f64 = 6.0;

pub fn vector_timing(chip: &AscendProfile, kernel: &Kernel) -> VectorTiming {
    let element = kernel.dtype.size_bytes().max(1);
    let row = kernel.row.max(1);
    let padded_row = (row * element).div_ceil(ALIGNMENT_BYTES) * ALIGNMENT_BYTES / element;
    let padding = padded_row as f64 / row as f64;
    let cores = chip.aiv_cores.value;
    let cycles_per_us = chip.clock_ghz.value * 1e3;
    let lanes = chip.vector_bytes_per_cycle.value / element as f64;
    let bytes = kernel.hbm_bytes as f64 * padding;
    let tile_bytes = (chip.ub_kib.value * 1024.0 / UB_STREAMS).min(bytes / cores);
    VectorTiming {
        vector_us: kernel.flops as f64 * padding / lanes / cores / cycles_per_us,
        mte_us: bytes / (cores * chip.mte2_bytes_per_cycle.value) / cycles_per_us,
        prologue_us: tile_bytes / chip.mte2_bytes_per_cycle.value / cycles_per_us,
    }
}
