//! Reductions the row kernels do not take (axes that no row walks as one
//! run, like 0 and 2 of 3; integer and bool inputs) through the
//! interpreter's own grouping and reducers
//! (`opfuse_ops::eval::reduction::{reducer, reduce_values}`, in f64) on
//! the stage's f32 buffer, rounded to the output dtype.

use opfuse_ir::{Attr, Attrs, DType};
use opfuse_ops::eval::reduction::{reduce_values, reducer};

use super::axis_of;

#[derive(Clone, Debug, PartialEq)]
pub struct AxesReduction {
    op: &'static str,
    dims: Vec<u64>,
    axes: Vec<usize>,
    /// The input's dtype (the empty reductions' limits) and the output's.
    dtype: DType,
    output_len: usize,
}

impl AxesReduction {
    /// `None` for an op without a reducer, or attributes that reduce
    /// nothing (`noop_with_empty_axes`: the row path or the interpreter).
    pub fn lower(op: &'static str, attrs: &Attrs, x: &[u64], output: &[u64], dtype: DType) -> Option<AxesReduction> {
        reducer(op, dtype).as_ref()?;
        let listed = attrs.get("axes").and_then(Attr::as_ints).unwrap_or_default();
        let noop = attrs.get("noop_with_empty_axes").and_then(Attr::as_bool).unwrap_or(false);
        let mut axes = match (listed.is_empty(), noop) {
            (true, true) => return None,
            (true, false) => (0..x.len()).collect(),
            (false, _) => listed.iter().map(|&a| axis_of(a, x.len())).collect::<Option<Vec<_>>>()?,
        };
        axes.sort_unstable();
        axes.dedup();
        let kept: u64 = (0..x.len()).filter(|a| !axes.contains(a)).filter_map(|a| x.get(a)).product();
        let output_len = usize::try_from(output.iter().product::<u64>()).ok()?;
        (u64::try_from(output_len).ok()? == kept).then(|| AxesReduction {
            op,
            dims: x.to_vec(),
            axes,
            dtype,
            output_len,
        })
    }

    pub fn run(&self, x: &[f32], output: &mut [f32]) {
        let (Some(reduce), true) = (reducer(self.op, self.dtype), output.len() == self.output_len) else {
            return;
        };
        let data: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for (target, value) in output.iter_mut().zip(reduce_values(&reduce, &self.dims, &self.axes, &data)) {
            *target = self.dtype.round(value) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, DType};

    use super::AxesReduction;
    use crate::native::testing::{attrs, ints};

    #[test]
    fn reduces_axes_that_are_not_next_to_each_other() {
        // x [2, 2, 2] = 0..8; sum over axes 0 and 2 leaves the middle axis:
        // (0 + 1 + 4 + 5, 2 + 3 + 6 + 7).
        let sum = AxesReduction::lower("sum", &attrs(&[("axes", ints(&[0, -1]))]), &[2, 2, 2], &[2], DType::F32).unwrap();
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let mut out = [f32::NAN; 2];
        sum.run(&x, &mut out);
        assert_eq!(out, [10.0, 18.0]);
        // The max of no elements of an integer type is its lowest value.
        let max = AxesReduction::lower("reduce_max", &attrs(&[("axes", ints(&[0]))]), &[0, 3], &[3], DType::I8).unwrap();
        let mut out = [f32::NAN; 3];
        max.run(&[], &mut out);
        assert_eq!(out, [-128.0; 3]);
        // Reducing nothing is not a reduction.
        let noop = attrs(&[("axes", ints(&[])), ("noop_with_empty_axes", Attr::Bool(true))]);
        assert_eq!(AxesReduction::lower("sum", &noop, &[2, 2], &[2, 2], DType::F32), None);
    }
}
