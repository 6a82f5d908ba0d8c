//! `pad`, `tile`, `reverse` and `roll`: every output axis reads the input
//! through a table from output coordinate to input coordinate (or to a
//! fill value), so one copy loop serves all four and lowering only builds
//! the tables. This is the interpreter's `read_axes` on f32 buffers.

use opfuse_ir::Attrs;

use super::{axis_of, to_usize};

/// How one output axis reads the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxisRead {
    /// The input stride this axis moves along.
    pub stride: usize,
    /// Per output coordinate, the input coordinate; `None` reads the fill.
    pub source: Vec<Option<usize>>,
}

/// An output whose element at each multi-index reads the input through one
/// [`AxisRead`] per output axis, or `fill` where any axis reads nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Remap {
    pub axes: Vec<AxisRead>,
    pub fill: f32,
}

impl Remap {
    /// Negative pads crop; positive ones add entries chosen by `mode`
    /// (numpy.pad's semantics: reflections repeat for pads wider than the
    /// axis). Modes the interpreter does not know read the fill, as there.
    pub fn pad(attrs: &Attrs, input: &[u64], output: &[u64]) -> Option<Remap> {
        let pads = attrs.get("pads")?.as_ints()?;
        let axes = match attrs.get("axes")?.as_ints()? {
            axes if axes.is_empty() => (0..input.len()).collect(),
            axes => axes.iter().map(|&a| axis_of(a, input.len())).collect::<Option<Vec<_>>>()?,
        };
        if pads.len() != 2 * axes.len() {
            return None;
        }
        let mut begins = vec![0i64; input.len()];
        for (&axis, &begin) in axes.iter().zip(&pads) {
            *begins.get_mut(axis)? = begin;
        }
        let mode = attrs.get("mode")?.as_str()?;
        let fill = attrs.get("value")?.as_float()? as f32;
        Remap::each_axis(input, output, fill, |axis, o| {
            let extent = i64::try_from(*input.get(axis)?).ok()?;
            padded_source(mode, i64::try_from(o).ok()? - begins.get(axis)?, extent)
        })
    }

    /// `repeats[i]` copies of the input along axis i.
    pub fn tile(input: &[u64], output: &[u64]) -> Option<Remap> {
        Remap::each_axis(input, output, 0.0, |axis, o| Some(o % to_usize(*input.get(axis)?)?))
    }

    /// The axes in `axes` (all when empty) read backwards.
    pub fn reverse(attrs: &Attrs, input: &[u64]) -> Option<Remap> {
        let axes = match attrs.get("axes")?.as_ints()? {
            axes if axes.is_empty() => (0..input.len()).collect(),
            axes => axes.iter().map(|&a| axis_of(a, input.len())).collect::<Option<Vec<_>>>()?,
        };
        Remap::each_axis(input, input, 0.0, |axis, o| match axes.contains(&axis) {
            true => to_usize(*input.get(axis)?)?.checked_sub(o + 1),
            false => Some(o),
        })
    }

    /// Output coordinate o along a rolled axis of n entries reads
    /// `(o - shift) mod n`; without `axes`, one shift of the flattened input.
    pub fn roll(attrs: &Attrs, input: &[u64]) -> Option<Remap> {
        let shifts = attrs.get("shifts")?.as_ints()?;
        let axes = attrs.get("axes")?.as_ints()?;
        let source = |o: usize, n: u64, shift: i64| {
            let n = i64::try_from(n.max(1)).ok()?;
            usize::try_from((i64::try_from(o).ok()? - shift).rem_euclid(n)).ok()
        };
        if axes.is_empty() {
            let [shift] = shifts.as_slice() else { return None };
            let total = input.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
            return Remap::each_axis(&[total], &[total], 0.0, |_, o| source(o, total, *shift));
        }
        if shifts.len() != axes.len() {
            return None;
        }
        let axes = axes.iter().map(|&a| axis_of(a, input.len())).collect::<Option<Vec<_>>>()?;
        // A repeated axis takes its first shift, as in the interpreter.
        Remap::each_axis(input, input, 0.0, |axis, o| {
            let shift = axes.iter().zip(&shifts).find(|(&a, _)| a == axis).map_or(0, |(_, &s)| s);
            source(o, *input.get(axis)?, shift)
        })
    }

    /// Fills `output` by the tables; reads past the end of `input` give the
    /// fill rather than panic.
    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        match self.axes.as_slice() {
            [] => {
                if let (Some(out), Some(&value)) = (output.first_mut(), input.first()) {
                    *out = value;
                }
            }
            axes => self.fill_axes(axes, input, 0, output),
        }
    }

    /// One [`AxisRead`] per input axis (the output has the same rank), with
    /// `source(axis, o)` the input coordinate of output coordinate `o`.
    /// `None` from `source` means a fill; lowering fails only on overflow
    /// or a rank mismatch.
    fn each_axis(input: &[u64], output: &[u64], fill: f32, source: impl Fn(usize, usize) -> Option<usize>) -> Option<Remap> {
        if input.len() != output.len() {
            return None;
        }
        let mut stride = 1usize;
        let mut axes = Vec::with_capacity(input.len());
        for (axis, (&extent, &out)) in input.iter().zip(output).enumerate().rev() {
            let sources = (0..to_usize(out)?).map(|o| source(axis, o)).collect();
            axes.push(AxisRead { stride, source: sources });
            stride = stride.checked_mul(to_usize(extent)?)?;
        }
        axes.reverse();
        Some(Remap { axes, fill })
    }

    fn fill_axes(&self, axes: &[AxisRead], input: &[f32], base: usize, output: &mut [f32]) {
        let Some((read, rest)) = axes.split_first() else { return };
        if rest.is_empty() {
            for (out, source) in output.iter_mut().zip(&read.source) {
                let value = source.and_then(|s| input.get(base + s * read.stride));
                *out = value.copied().unwrap_or(self.fill);
            }
            return;
        }
        let block: usize = rest.iter().map(|r| r.source.len()).product();
        for (out, source) in output.chunks_mut(block.max(1)).zip(&read.source) {
            match source {
                Some(s) => self.fill_axes(rest, input, base + s * read.stride, out),
                None => out.fill(self.fill),
            }
        }
    }
}

/// The input coordinate padding mode `mode` reads for coordinate `i` of an
/// axis of `n` entries (`i` may lie outside `0..n`).
fn padded_source(mode: &str, i: i64, n: i64) -> Option<usize> {
    if (0..n).contains(&i) {
        return usize::try_from(i).ok();
    }
    let source = match mode {
        "edge" => i.clamp(0, n - 1),
        "wrap" => i.rem_euclid(n.max(1)),
        "reflect" if n == 1 => 0,
        "reflect" => {
            // Reflection without repeating the edge has period 2(n - 1).
            let period = 2 * (n - 1);
            let folded = i.rem_euclid(period.max(1));
            if folded < n {
                folded
            } else {
                period - folded
            }
        }
        _ => return None,
    };
    usize::try_from(source).ok()
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attr;

    use super::Remap;
    use crate::native::testing::{attrs, ints};

    fn run(remap: &Remap, input: &[f32], len: usize) -> Vec<f32> {
        let mut out = vec![f32::NAN; len];
        remap.run(input, &mut out);
        out
    }

    #[test]
    fn pads_in_each_mode_and_crops_with_negative_pads() {
        let x = [1.0, 2.0, 3.0];
        let pad = |mode: &str, pads: &[i64], out: u64| {
            let a = attrs(&[
                ("pads", ints(pads)),
                ("mode", Attr::Str(mode.to_string())),
                ("value", Attr::Float(9.0)),
                ("axes", ints(&[])),
            ]);
            run(&Remap::pad(&a, &[3], &[out]).unwrap(), &x, out as usize)
        };
        assert_eq!(pad("constant", &[2, 1], 6), [9.0, 9.0, 1.0, 2.0, 3.0, 9.0]);
        assert_eq!(pad("edge", &[2, 1], 6), [1.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
        // np.pad([1, 2, 3], (4, 1), "reflect") repeats the reflection.
        assert_eq!(pad("reflect", &[4, 1], 8), [1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0]);
        assert_eq!(pad("wrap", &[2, 0], 5), [2.0, 3.0, 1.0, 2.0, 3.0]);
        assert_eq!(pad("constant", &[-1, 1], 3), [2.0, 3.0, 9.0]);
    }

    #[test]
    fn tiles_reverses_and_rolls_a_matrix() {
        // [[1, 2, 3], [4, 5, 6]]
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let tiled = run(&Remap::tile(&[2, 3], &[2, 6]).unwrap(), &x, 12);
        assert_eq!(tiled, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 4.0, 5.0, 6.0]);
        let columns = attrs(&[("axes", ints(&[-1]))]);
        let reversed = run(&Remap::reverse(&columns, &[2, 3]).unwrap(), &x, 6);
        assert_eq!(reversed, [3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
        let both = run(&Remap::reverse(&attrs(&[("axes", ints(&[]))]), &[2, 3]).unwrap(), &x, 6);
        assert_eq!(both, [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
        let rolled = attrs(&[("shifts", ints(&[1])), ("axes", ints(&[1]))]);
        assert_eq!(run(&Remap::roll(&rolled, &[2, 3]).unwrap(), &x, 6), [3.0, 1.0, 2.0, 6.0, 4.0, 5.0]);
        let flat = attrs(&[("shifts", ints(&[-2])), ("axes", ints(&[]))]);
        assert_eq!(run(&Remap::roll(&flat, &[2, 3]).unwrap(), &x, 6), [3.0, 4.0, 5.0, 6.0, 1.0, 2.0]);
    }

    #[test]
    fn a_short_input_reads_the_fill_instead_of_panicking() {
        let remap = Remap::tile(&[2, 3], &[2, 6]).unwrap();
        let out = run(&remap, &[1.0, 2.0], 12);
        assert_eq!(out[..4], [1.0, 2.0, 0.0, 1.0]);
    }
}
