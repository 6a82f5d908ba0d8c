//! A whole graph on one chip: every kernel's cost, in program order, run
//! one after another.

use opfuse_ir::VerifiedGraph;
use opfuse_ops::{Catalog, Chip};

use crate::cost::{kernel_cost, KernelCost};
use crate::kernel::{kernels_of, Kernel};
use crate::profile::{Design, Profile};

/// One kernel and its modelled cost.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelEstimate {
    pub kernel: Kernel,
    pub cost: KernelCost,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub chip: String,
    pub kernels: Vec<KernelEstimate>,
}

impl Estimate {
    pub fn total_us(&self) -> f64 {
        self.kernels.iter().map(|k| k.cost.time_us).sum()
    }

    pub fn flops(&self) -> u128 {
        self.kernels.iter().map(|k| k.kernel.flops).sum()
    }

    pub fn hbm_bytes(&self) -> u128 {
        self.kernels.iter().map(|k| k.kernel.hbm_bytes).sum()
    }
}

/// Each node of `graph` as one kernel on `profile`. The catalog decides
/// where an op runs on an Ascend chip; on a GPU every op runs natively.
pub fn estimate_graph(graph: &VerifiedGraph, catalog: &Catalog, profile: &Profile) -> Estimate {
    let chip = match profile.design {
        Design::Ascend(_) => Chip::from_name(&profile.name),
        Design::Gpu(_) => None,
    };
    estimate_kernels(kernels_of(graph, catalog, chip), profile)
}

pub fn estimate_kernels(kernels: Vec<Kernel>, profile: &Profile) -> Estimate {
    Estimate {
        chip: profile.name.clone(),
        kernels: kernels
            .into_iter()
            .map(|kernel| KernelEstimate {
                cost: kernel_cost(profile, &kernel),
                kernel,
            })
            .collect(),
    }
}
