//! The norm ops no row kernel covers: `batch_norm`, `instance_norm` and
//! `group_norm` (statistics per channel or per run of channels, then a
//! per-channel scale and shift), `lp_normalization` and `hardmax` (one lane
//! along an axis at a time) and `mean_variance_normalization` (statistics
//! over a set of axes). They compute in f64 from the f32 buffers, in the
//! interpreter's order of operations, and round to the output dtype as its
//! outputs do, so the two agree bit for bit.

use opfuse_ir::{Attr, Attrs, DType, Graph, Node};
use opfuse_ops::eval::reduction::index_of_max;

use super::{axis_of, split_at_axis, to_usize};

/// The dtypes of `node`'s outputs, in order.
pub(crate) fn output_dtypes(graph: &Graph, node: &Node) -> Option<Vec<DType>> {
    node.outputs.iter().map(|v| graph.ty(*v).map(|t| t.dtype)).collect()
}

/// Where a channel norm takes its mean and variance from.
#[derive(Clone, Debug, PartialEq)]
pub enum Statistics {
    /// `batch_norm`'s running mean and variance (inputs 3 and 4).
    Running,
    /// `batch_norm` in training mode: each channel over the batch, also
    /// returning the running statistics moved by `momentum`.
    Batch { momentum: f64 },
    /// `instance_norm` and `group_norm`: each contiguous run of `run`
    /// elements (one channel's plane, or a group's channels).
    Runs { run: usize },
}

/// `x[N, C, ...]` normalised per channel or per run, then scaled and
/// shifted per channel.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelNorm {
    pub statistics: Statistics,
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
    pub epsilon: f64,
    /// The dtype of each output.
    pub dtypes: Vec<DType>,
}

impl ChannelNorm {
    /// `inputs` are the node's input dims; every per-channel input must
    /// hold exactly one value per channel, so `run` reads them in bounds.
    pub fn lower(name: &str, attrs: &Attrs, inputs: &[Vec<u64>], dtypes: Vec<DType>) -> Option<ChannelNorm> {
        let x = inputs.first()?;
        // Rank 2 and up (`split_at_axis` fails on less).
        let (batch, channels, plane) = split_at_axis(x, 1)?;
        let epsilon = attrs.get("epsilon").and_then(Attr::as_float)?;
        let statistics = match name {
            "batch_norm" => match attrs.get("training_mode").and_then(Attr::as_bool)? {
                false => Statistics::Running,
                true => Statistics::Batch {
                    momentum: attrs.get("momentum").and_then(Attr::as_float)?,
                },
            },
            "instance_norm" => Statistics::Runs { run: plane },
            "group_norm" => {
                let groups = to_usize(u64::try_from(attrs.get("num_groups").and_then(Attr::as_int)?.max(1)).ok()?)?;
                Statistics::Runs {
                    run: channels / groups * plane,
                }
            }
            _ => return None,
        };
        let parameters = if name == "batch_norm" { 5 } else { 3 };
        let per_channel = |dims: &Vec<u64>| dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(to_usize(d)?)) == Some(channels);
        let outputs = if statistics == Statistics::Running || name != "batch_norm" {
            1
        } else {
            3
        };
        let fits = inputs.len() == parameters && inputs.iter().skip(1).all(per_channel) && dtypes.len() == outputs;
        fits.then_some(ChannelNorm {
            statistics,
            batch,
            channels,
            plane,
            epsilon,
            dtypes,
        })
    }

    pub fn run(&self, inputs: &[&[f32]], outputs: &mut [&mut [f32]]) {
        let [x, scale, bias, running_mean, running_var] = [0, 1, 2, 3, 4].map(|i| inputs.get(i).copied().unwrap_or_default());
        let per_channel = |values: &[f32]| {
            (0..self.channels)
                .map(|c| values.get(c).map_or(f64::NAN, |&v| f64::from(v)))
                .collect()
        };
        let (scale, bias): (Vec<f64>, Vec<f64>) = (per_channel(scale), per_channel(bias));
        let channel = |i: usize| (i / self.plane.max(1)) % self.channels.max(1);
        let Some((y, statistics)) = outputs.split_first_mut() else { return };
        let dtype = self.dtypes.first().copied().unwrap_or(DType::F32);
        match self.statistics {
            Statistics::Runs { run } => {
                let step = run.max(1);
                for (chunk, (values, targets)) in x.chunks(step).zip(y.chunks_mut(step)).enumerate() {
                    let (mean, variance) = moments(values.iter().map(|&v| f64::from(v)));
                    let inv_std = 1.0 / (variance + self.epsilon).sqrt();
                    for (j, (&v, target)) in values.iter().zip(targets).enumerate() {
                        // The interpreter's channel of element `j` of the run
                        // (from the unclamped `run`, as its loop has it).
                        let c = channel(chunk * run + j);
                        let value = (f64::from(v) - mean) * inv_std * scale[c] + bias[c];
                        *target = dtype.round(value) as f32;
                    }
                }
            }
            Statistics::Running | Statistics::Batch { .. } => {
                let (mean, var): (Vec<f64>, Vec<f64>) = match self.statistics {
                    Statistics::Batch { .. } => (0..self.channels).map(|c| moments(self.channel_values(x, c))).unzip(),
                    _ => (per_channel(running_mean), per_channel(running_var)),
                };
                for (i, (&v, target)) in x.iter().zip(y.iter_mut()).enumerate() {
                    let c = channel(i);
                    let value = (f64::from(v) - mean[c]) / (var[c] + self.epsilon).sqrt() * scale[c] + bias[c];
                    *target = dtype.round(value) as f32;
                }
                if let Statistics::Batch { momentum } = self.statistics {
                    let running = [(running_mean, &mean), (running_var, &var)];
                    for (index, (output, (old, batch))) in statistics.iter_mut().zip(running).enumerate() {
                        let dtype = self.dtypes.get(index + 1).copied().unwrap_or(DType::F32);
                        for (target, (&r, b)) in output.iter_mut().zip(old.iter().zip(batch)) {
                            *target = dtype.round(f64::from(r) * momentum + b * (1.0 - momentum)) as f32;
                        }
                    }
                }
            }
        }
    }

    /// Channel `c`'s values over the batch, sample by sample.
    fn channel_values<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = f64> + Clone + 'a {
        let (channels, plane) = (self.channels, self.plane);
        (0..self.batch)
            .flat_map(move |n| {
                x.get((n * channels + c) * plane..(n * channels + c + 1) * plane)
                    .unwrap_or_default()
            })
            .map(|&v| f64::from(v))
    }
}

/// Mean and population variance, summed in order as the interpreter does.
fn moments(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let (count, sum) = values.clone().fold((0usize, 0.0), |(n, s), v| (n + 1, s + v));
    let n = count as f64;
    let mean = sum / n;
    let variance = values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, variance)
}

/// What [`Lanes`] does to each lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneOp {
    /// `lp_normalization`: x / ||x||_p (p 1, else 2), 0 where the norm is 0.
    Lp { p: i64 },
    /// `hardmax`: 1 at the first maximum (NaN counts as the maximum).
    Hardmax,
}

/// An op applied to each lane along one axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Lanes {
    pub op: LaneOp,
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    pub dtype: DType,
}

impl Lanes {
    pub fn lower(name: &str, attrs: &Attrs, x: &[u64], dtype: DType) -> Option<Lanes> {
        let axis = axis_of(attrs.get("axis").and_then(Attr::as_int)?, x.len())?;
        let (outer, len, inner) = split_at_axis(x, axis)?;
        let op = match name {
            "lp_normalization" => LaneOp::Lp {
                p: attrs.get("p").and_then(Attr::as_int)?,
            },
            "hardmax" => LaneOp::Hardmax,
            _ => return None,
        };
        Some(Lanes {
            op,
            outer,
            len,
            inner,
            dtype,
        })
    }

    pub fn run(&self, x: &[f32], output: &mut [f32]) {
        let mut lane = vec![0.0f64; self.len];
        for o in 0..self.outer {
            for i in 0..self.inner {
                let at = |k: usize| (o * self.len + k) * self.inner + i;
                for (k, slot) in lane.iter_mut().enumerate() {
                    *slot = x.get(at(k)).map_or(f64::NAN, |&v| f64::from(v));
                }
                self.apply(&mut lane);
                for (k, &value) in lane.iter().enumerate() {
                    if let Some(target) = output.get_mut(at(k)) {
                        *target = self.dtype.round(value) as f32;
                    }
                }
            }
        }
    }

    fn apply(&self, lane: &mut [f64]) {
        match self.op {
            LaneOp::Lp { p } => {
                let norm = match p {
                    1 => lane.iter().map(|v| v.abs()).sum::<f64>(),
                    _ => lane.iter().map(|v| v * v).sum::<f64>().sqrt(),
                };
                lane.iter_mut().for_each(|v| *v = if norm == 0.0 { 0.0 } else { *v / norm });
            }
            LaneOp::Hardmax if lane.is_empty() => {}
            LaneOp::Hardmax => {
                let best = index_of_max(lane);
                lane.iter_mut()
                    .enumerate()
                    .for_each(|(i, v)| *v = if i == best { 1.0 } else { 0.0 });
            }
        }
    }
}

/// `mean_variance_normalization`: (x - mean) / (stddev + 1e-9), with the
/// statistics over `axes` (one group per position of the other axes).
#[derive(Clone, Debug, PartialEq)]
pub struct MeanVariance {
    pub dims: Vec<usize>,
    /// Per axis, whether the statistics reduce over it.
    pub reduced: Vec<bool>,
    pub dtype: DType,
}

impl MeanVariance {
    pub fn lower(attrs: &Attrs, x: &[u64], dtype: DType) -> Option<MeanVariance> {
        let mut reduced = vec![false; x.len()];
        for axis in attrs.get("axes").and_then(Attr::as_ints)? {
            let slot = reduced.get_mut(axis_of(axis, x.len())?)?;
            // A repeated axis is the interpreter's error.
            if std::mem::replace(slot, true) {
                return None;
            }
        }
        let dims = x.iter().map(|&d| to_usize(d)).collect::<Option<_>>()?;
        Some(MeanVariance { dims, reduced, dtype })
    }

    pub fn run(&self, x: &[f32], output: &mut [f32]) {
        let groups: Vec<usize> = self.groups().collect();
        let count = groups.iter().max().map_or(0, |m| m + 1);
        let (mut members, mut sums) = (vec![0usize; count], vec![0.0f64; count]);
        for (&v, &g) in x.iter().zip(&groups) {
            if let (Some(n), Some(s)) = (members.get_mut(g), sums.get_mut(g)) {
                *n += 1;
                *s += f64::from(v);
            }
        }
        let means: Vec<f64> = sums.iter().zip(&members).map(|(s, &n)| s / n as f64).collect();
        let mut squares = vec![0.0f64; count];
        for (&v, &g) in x.iter().zip(&groups) {
            if let (Some(q), Some(mean)) = (squares.get_mut(g), means.get(g)) {
                *q += (f64::from(v) - mean) * (f64::from(v) - mean);
            }
        }
        for ((target, &v), &g) in output.iter_mut().zip(x).zip(&groups) {
            let (mean, square, n) = (means.get(g), squares.get(g), members.get(g));
            if let (Some(mean), Some(square), Some(&n)) = (mean, square, n) {
                let variance = square / n as f64;
                *target = self.dtype.round((f64::from(v) - mean) / (variance.sqrt() + 1e-9)) as f32;
            }
        }
    }

    /// The group of each element in row-major order: its index with the
    /// reduced axes dropped.
    fn groups(&self) -> impl Iterator<Item = usize> + '_ {
        let count: usize = self.dims.iter().product();
        let mut index = vec![0usize; self.dims.len()];
        (0..count).map(move |_| {
            let group = index
                .iter()
                .zip(&self.dims)
                .zip(&self.reduced)
                .filter(|(_, &r)| !r)
                .fold(0, |acc, ((&i, &d), _)| acc * d + i);
            for (i, &d) in index.iter_mut().zip(&self.dims).rev() {
                *i += 1;
                if *i < d {
                    break;
                }
                *i = 0;
            }
            group
        })
    }
}

#[cfg(test)]
mod tests {
    use opfuse_ir::DType;

    use super::{ChannelNorm, LaneOp, Lanes, MeanVariance, Statistics};

    fn channel_norm(statistics: Statistics, dims: (usize, usize, usize), outputs: usize) -> ChannelNorm {
        ChannelNorm {
            statistics,
            batch: dims.0,
            channels: dims.1,
            plane: dims.2,
            epsilon: 0.0,
            dtypes: vec![DType::F32; outputs],
        }
    }

    #[test]
    fn batch_norm_with_running_and_batch_statistics() {
        // (x - 2) / sqrt(4) * 3 + 1 on x [2, 1, 2].
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut y = [f32::NAN; 4];
        channel_norm(Statistics::Running, (2, 1, 2), 1).run(&[&x, &[3.0], &[1.0], &[2.0], &[4.0]], &mut [&mut y]);
        assert_eq!(y, [-0.5, 1.0, 2.5, 4.0]);
        // Batch mean 2.5, variance 1.25; running stats 0.5 * old + 0.5 * batch.
        let (mut y, mut mean, mut var) = ([f32::NAN; 4], [f32::NAN], [f32::NAN]);
        let training = channel_norm(Statistics::Batch { momentum: 0.5 }, (2, 1, 2), 3);
        training.run(&[&x, &[1.0], &[0.0], &[0.5], &[0.75]], &mut [&mut y, &mut mean, &mut var]);
        let sd = 1.25f64.sqrt();
        assert_eq!(y, [-1.5, -0.5, 0.5, 1.5].map(|v: f64| (v / sd) as f32));
        assert_eq!((mean, var), ([1.5], [1.0]));
    }

    #[test]
    fn instance_and_group_norms_normalise_runs() {
        // Channels [0, 2] and [4, 6] each normalise to [-1, 1]; scale [2, 1], bias [0, 7].
        let mut y = [f32::NAN; 4];
        let instance = channel_norm(Statistics::Runs { run: 2 }, (1, 2, 2), 1);
        instance.run(&[&[0.0, 2.0, 4.0, 6.0], &[2.0, 1.0], &[0.0, 7.0]], &mut [&mut y]);
        assert_eq!(y, [-2.0, 2.0, 6.0, 8.0]);
        // Two groups of two one-element channels: [1, 3] and [5, 9].
        let group = channel_norm(Statistics::Runs { run: 2 }, (1, 4, 1), 1);
        group.run(&[&[1.0, 3.0, 5.0, 9.0], &[1.0; 4], &[0.0, 0.0, 0.0, 0.5]], &mut [&mut y]);
        assert_eq!(y, [-1.0, 1.0, -1.0, 1.5]);
    }

    #[test]
    fn lanes_normalise_and_pick_the_first_maximum() {
        let lanes = |op, outer, len, inner| Lanes {
            op,
            outer,
            len,
            inner,
            dtype: DType::F32,
        };
        let mut y = [f32::NAN; 4];
        lanes(LaneOp::Lp { p: 2 }, 2, 2, 1).run(&[3.0, 4.0, 0.0, 0.0], &mut y);
        assert_eq!(y, [0.6, 0.8, 0.0, 0.0]);
        lanes(LaneOp::Lp { p: 1 }, 1, 2, 2).run(&[3.0, 4.0, 1.0, 0.0], &mut y);
        assert_eq!(y, [0.75, 1.0, 0.25, 0.0]);
        // Along axis 0 of [[1, 5], [1, 2]]: the first of the tied 1s, then 5.
        lanes(LaneOp::Hardmax, 1, 2, 2).run(&[1.0, 5.0, 1.0, 2.0], &mut y);
        assert_eq!(y, [1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn mean_variance_normalises_over_the_axes() {
        // [2, 2] over axis 1: rows [1, 3] and [2, 2] (stddev 0 gives 0).
        let op = MeanVariance {
            dims: vec![2, 2],
            reduced: vec![false, true],
            dtype: DType::F32,
        };
        let mut y = [f32::NAN; 4];
        op.run(&[1.0, 3.0, 2.0, 2.0], &mut y);
        let one = (1.0 / (1.0 + 1e-9)) as f32;
        assert_eq!(y, [-one, one, 0.0, 0.0]);
    }
}
