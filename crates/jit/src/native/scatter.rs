//! `scatter_elements` and `scatter_nd`: a copy of data with the updates
//! combined in at the indexed places, in row-major order of the indices
//! (so with repeats and no reduction the last update wins). Like the
//! interpreter, the copy is held in f64 while updates combine and rounded
//! to the output dtype once at the end. An index outside its axis (the
//! interpreter's error) skips its update.

use opfuse_ir::{Attr, Attrs, DType};

use super::gather::resolve;
use super::gather_nd::Tuples;
use super::{axis_of, to_usize};

/// How an update combines with the entry already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    Replace,
    Add,
    Mul,
    /// Max and min propagate NaN from either side.
    Max,
    Min,
}

impl Reduction {
    fn lower(attrs: &Attrs) -> Option<Reduction> {
        match attrs.get("reduction").and_then(Attr::as_str)? {
            "none" => Some(Reduction::Replace),
            "add" => Some(Reduction::Add),
            "mul" => Some(Reduction::Mul),
            "max" => Some(Reduction::Max),
            "min" => Some(Reduction::Min),
            _ => None,
        }
    }

    fn combine(self, old: f64, new: f64) -> f64 {
        match self {
            Reduction::Replace => new,
            Reduction::Add => old + new,
            Reduction::Mul => old * new,
            _ if old.is_nan() || new.is_nan() => f64::NAN,
            Reduction::Max => old.max(new),
            Reduction::Min => old.min(new),
        }
    }
}

/// Where the updates go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    /// `scatter_elements`: one element per index, at the index's own
    /// coordinates with the `axis` one replaced by its value.
    Elements {
        axis: usize,
        data_dims: Vec<usize>,
        index_dims: Vec<usize>,
    },
    /// `scatter_nd`: one slice per index tuple.
    Tuples(Tuples),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scatter {
    pub targets: Targets,
    pub reduction: Reduction,
    pub dtype: DType,
}

impl Scatter {
    pub fn elements(attrs: &Attrs, data: &[u64], indices: &[u64], dtype: DType) -> Option<Scatter> {
        let axis = axis_of(attrs.get("axis").and_then(Attr::as_int)?, data.len())?;
        let dims = |d: &[u64]| d.iter().map(|&x| to_usize(x)).collect::<Option<Vec<_>>>();
        let (data_dims, index_dims) = (dims(data)?, dims(indices)?);
        // Every coordinate but the axis's lies inside data (the shape rule's
        // requirement, checked again so `run` needs no bounds on it).
        let fits =
            data_dims.len() == index_dims.len() && data_dims.iter().zip(&index_dims).enumerate().all(|(a, (d, i))| a == axis || i <= d);
        fits.then_some(Scatter {
            targets: Targets::Elements {
                axis,
                data_dims,
                index_dims,
            },
            reduction: Reduction::lower(attrs)?,
            dtype,
        })
    }

    pub fn nd(attrs: &Attrs, data: &[u64], indices: &[u64], dtype: DType) -> Option<Scatter> {
        Some(Scatter {
            targets: Targets::Tuples(Tuples::new(data, indices, 0)?),
            reduction: Reduction::lower(attrs)?,
            dtype,
        })
    }

    pub fn run(&self, data: &[f32], indices: &[f32], updates: &[f32], output: &mut [f32]) {
        let mut out: Vec<f64> = data.iter().map(|&v| f64::from(v)).collect();
        let mut apply = |offset: usize, update: f32| {
            if let Some(slot) = out.get_mut(offset) {
                *slot = self.reduction.combine(*slot, f64::from(update));
            }
        };
        match &self.targets {
            Targets::Elements {
                axis,
                data_dims,
                index_dims,
            } => {
                let strides: Vec<usize> = (0..data_dims.len())
                    .map(|a| data_dims.get(a + 1..).map_or(1, |d| d.iter().product()))
                    .collect();
                let len = data_dims.get(*axis).copied().unwrap_or(0);
                let mut coordinates = vec![0usize; index_dims.len()];
                for (&index, &update) in indices.iter().zip(updates) {
                    if let Some(p) = resolve(index, len) {
                        let offset = coordinates.iter().zip(&strides).enumerate();
                        apply(offset.map(|(a, (&c, &s))| if a == *axis { p } else { c } * s).sum(), update);
                    }
                    for (c, &extent) in coordinates.iter_mut().zip(index_dims).rev() {
                        *c += 1;
                        if *c < extent {
                            break;
                        }
                        *c = 0;
                    }
                }
            }
            Targets::Tuples(tuples) => {
                for t in 0..tuples.tuples {
                    let Some(offset) = tuples.offset(indices, t) else { continue };
                    let slice = updates.get(t * tuples.slice..(t + 1) * tuples.slice).unwrap_or_default();
                    for (s, &update) in slice.iter().enumerate() {
                        apply(offset + s, update);
                    }
                }
            }
        }
        for (target, value) in output.iter_mut().zip(out) {
            *target = self.dtype.round(value) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use opfuse_ir::DType;

    use super::{Reduction, Scatter, Targets, Tuples};

    #[test]
    fn scatter_elements_follows_onnx_examples() {
        // ONNX's ScatterElements example 2: data [1, 5], axis 1, indices [1, 3] (here -2), updates [1.1, 2.1].
        let op = |reduction| Scatter {
            targets: Targets::Elements {
                axis: 1,
                data_dims: vec![1, 5],
                index_dims: vec![1, 2],
            },
            reduction,
            dtype: DType::F64,
        };
        let data = [1.0, 2.0, 3.0, 4.0, 5.0];
        let mut out = [f32::NAN; 5];
        op(Reduction::Replace).run(&data, &[1.0, -2.0], &[1.5, 2.5], &mut out);
        assert_eq!(out, [1.0, 1.5, 3.0, 2.5, 5.0]);
        // Repeats accumulate; an index out of range is skipped.
        op(Reduction::Add).run(&data, &[1.0, 1.0], &[1.5, 2.5], &mut out);
        assert_eq!(out, [1.0, 6.0, 3.0, 4.0, 5.0]);
        op(Reduction::Max).run(&data, &[0.0, 5.0], &[0.5, 9.0], &mut out);
        assert_eq!(out, data);
    }

    #[test]
    fn scatter_nd_writes_slices() {
        // data [4, 2], tuples [[1], [-1]] (rows 1 and 3), updates [[5, 6], [7, 8]].
        let op = |reduction| Scatter {
            targets: Targets::Tuples(Tuples::new(&[4, 2], &[2, 1], 0).unwrap()),
            reduction,
            dtype: DType::F32,
        };
        let data = [1.0; 8];
        let mut out = [f32::NAN; 8];
        op(Reduction::Replace).run(&data, &[1.0, -1.0], &[5.0, 6.0, 7.0, 8.0], &mut out);
        assert_eq!(out, [1.0, 1.0, 5.0, 6.0, 1.0, 1.0, 7.0, 8.0]);
        op(Reduction::Mul).run(&data, &[0.0, 0.0], &[5.0, 6.0, 7.0, 8.0], &mut out);
        assert_eq!(out, [35.0, 48.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        op(Reduction::Min).run(&data, &[4.0, 2.0], &[5.0, 6.0, 0.5, f32::NAN], &mut out);
        assert!(out[5].is_nan());
        assert_eq!((out[4], &out[..4]), (0.5, &[1.0; 4][..]));
    }
}
