//! The targets' costs of a kernel: a roofline of a CPU, or the Ascend model.

use opfuse_ascend::{kernel_cost, Kernel, Placement, Profile};

use crate::extract::Cost;

/// A roofline of the CPU the JIT runs on. Assumed figures for a 16-core
/// x86 server: 16 cores x 2 FMA units x 8 f32 lanes x 2 FLOPs x 3 GHz is
/// about 1.5 TFLOP/s, of which sustained code reaches about a third (500
/// GFLOP/s); DRAM streams at about 50 GB/s; starting a parallel loop over
/// the cores (one kernel) costs about 5 us.
pub struct CpuRoofline {
    pub flops_per_us: f64,
    pub bytes_per_us: f64,
    pub launch_us: f64,
}

impl CpuRoofline {
    pub fn assumed() -> CpuRoofline {
        CpuRoofline {
            flops_per_us: 500e3,
            bytes_per_us: 50e3,
            launch_us: 5.0,
        }
    }
}

impl Cost for CpuRoofline {
    fn time_us(&self, kernel: &Kernel) -> f64 {
        if kernel.placement == Placement::View {
            return 0.0;
        }
        let compute = kernel.flops as f64 / self.flops_per_us;
        let memory = kernel.hbm_bytes as f64 / self.bytes_per_us;
        compute.max(memory) + self.launch_us
    }
}

/// The Ascend cost model of one chip profile.
pub struct AscendModel {
    pub profile: Profile,
}

impl Cost for AscendModel {
    fn time_us(&self, kernel: &Kernel) -> f64 {
        kernel_cost(&self.profile, kernel).time_us
    }
}
