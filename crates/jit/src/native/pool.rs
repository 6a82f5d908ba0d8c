//! Pooling over `[N, C, spatial...]` with any number of spatial axes:
//! `max_pool`, `avg_pool` and `lp_pool` over `kernel` windows, their
//! global forms (one window per plane) and PyTorch's adaptive pools. Every
//! pool is a window per output coordinate of each spatial axis (its first
//! input position, tap count and taps on the padding), fixed at lowering;
//! the windows of an output position are the product of its axes' windows,
//! and the innermost axis reads a contiguous run when undilated. Sums run in
//! f64, as the interpreter's do.

use opfuse_ir::{Attr, Attrs};

use super::to_usize;

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub reduce: Reduce,
    /// `N * C`: the planes pooled one after another.
    pub lanes: usize,
    /// The elements of one input plane.
    pub plane: usize,
    /// Per spatial axis: its input stride within a plane, its dilation and
    /// the window of each of its output coordinates.
    pub axes: Vec<PoolAxis>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reduce {
    /// The maximum; NaN wins, and a window wholly on the padding is -inf.
    Max,
    /// The mean over the window's input taps, and over its pad taps too
    /// (as zeros) with `include_pad`.
    Average { include_pad: bool },
    /// `(sum |x|^p)^(1/p)`.
    Lp { p: f64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolAxis {
    pub stride: usize,
    pub dilation: usize,
    pub windows: Vec<AxisWindow>,
}

/// Taps `start + j * dilation` for `j < taps` on the input, and how many
/// taps of the window fall on the padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisWindow {
    pub start: usize,
    pub taps: usize,
    pub pads: usize,
}

impl Pool {
    /// `max_pool` (without its `indices` output), `avg_pool` and `lp_pool`.
    pub fn windowed(op: &str, attrs: &Attrs, input: &[u64], output: &[u64]) -> Option<Pool> {
        let reduce = match op {
            "max_pool" if attrs.get("indices").and_then(Attr::as_bool) == Some(false) => Reduce::Max,
            "avg_pool" => Reduce::Average {
                include_pad: attrs.get("count_include_pad").and_then(Attr::as_bool)?,
            },
            "lp_pool" => Reduce::Lp {
                p: attrs.get("p").and_then(Attr::as_int)? as f64,
            },
            _ => return None,
        };
        let (lanes, spatial, out) = split_lanes(input, output)?;
        let n = spatial.len();
        let list = |name: &str, len: usize, fill: u64| -> Option<Vec<u64>> {
            match attrs.get(name).and_then(Attr::as_ints)? {
                values if values.is_empty() => Some(vec![fill; len]),
                values if values.len() == len => values.iter().map(|&v| u64::try_from(v).ok()).collect(),
                _ => None,
            }
        };
        let kernel = list("kernel", n, 1)?;
        let strides = list("strides", n, 1)?;
        let dilations = list("dilations", n, 1)?;
        let pads = list("pads", 2 * n, 0)?;
        let auto_pad = attrs.get("auto_pad").and_then(Attr::as_str)?;
        let mut plane_stride = 1usize;
        let mut axes = Vec::with_capacity(n);
        for a in (0..n).rev() {
            let (extent, outputs) = (*spatial.get(a)?, *out.get(a)?);
            let (stride, dilation, kernel) = (*strides.get(a)?, *dilations.get(a)?, *kernel.get(a)?);
            let span = dilation.checked_mul(kernel.checked_sub(1)?)?.checked_add(1)?;
            let (begin, end) = match auto_pad {
                "NOTSET" | "VALID" => (*pads.get(a)?, *pads.get(a + n)?),
                "SAME_UPPER" | "SAME_LOWER" => {
                    let total = (outputs.max(1) - 1).checked_mul(stride)?.checked_add(span)?.saturating_sub(extent);
                    let (small, large) = (total / 2, total - total / 2);
                    if auto_pad == "SAME_UPPER" {
                        (small, large)
                    } else {
                        (large, small)
                    }
                }
                _ => return None,
            };
            let geometry = Geometry {
                extent,
                stride,
                dilation,
                kernel,
                begin,
                end,
            };
            let windows = (0..outputs).map(|o| geometry.window(o)).collect::<Option<Vec<_>>>()?;
            axes.push(PoolAxis {
                stride: plane_stride,
                dilation: to_usize(dilation)?,
                windows,
            });
            plane_stride = plane_stride.checked_mul(to_usize(extent)?)?;
        }
        axes.reverse();
        Some(Pool {
            reduce,
            lanes,
            plane: plane_stride,
            axes,
        })
    }

    /// `global_avg_pool`, `global_max_pool` and `global_lp_pool`: one window
    /// covering each plane.
    pub fn global(op: &str, attrs: &Attrs, input: &[u64], output: &[u64]) -> Option<Pool> {
        let reduce = match op {
            "global_max_pool" => Reduce::Max,
            "global_avg_pool" => Reduce::Average { include_pad: false },
            "global_lp_pool" => Reduce::Lp {
                p: attrs.get("p").and_then(Attr::as_int)? as f64,
            },
            _ => return None,
        };
        let (lanes, spatial, out) = split_lanes(input, output)?;
        if out.iter().any(|&o| o != 1) {
            return None;
        }
        Pool::per_axis(reduce, lanes, spatial, |_, extent| {
            Some(vec![AxisWindow {
                start: 0,
                taps: extent,
                pads: 0,
            }])
        })
    }

    /// `adaptive_avg_pool` and `adaptive_max_pool`: output coordinate `o` of
    /// `out` pools input positions `[floor(o * in / out), ceil((o + 1) * in / out))`.
    pub fn adaptive(op: &str, input: &[u64], output: &[u64]) -> Option<Pool> {
        let reduce = match op {
            "adaptive_max_pool" => Reduce::Max,
            "adaptive_avg_pool" => Reduce::Average { include_pad: false },
            _ => return None,
        };
        let (lanes, spatial, out) = split_lanes(input, output)?;
        Pool::per_axis(reduce, lanes, spatial, |a, extent| {
            let outputs = to_usize(*out.get(a)?)?;
            (0..outputs)
                .map(|o| {
                    let start = o.checked_mul(extent)? / outputs;
                    let end = (o + 1).checked_mul(extent)?.div_ceil(outputs);
                    Some(AxisWindow {
                        start,
                        taps: end.checked_sub(start)?,
                        pads: 0,
                    })
                })
                .collect()
        })
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        match self.reduce {
            Reduce::Max => self.run_with(input, output, Max),
            Reduce::Average { include_pad } => self.run_with(input, output, Average { include_pad }),
            Reduce::Lp { p } => self.run_with(input, output, Lp { p }),
        }
    }

    fn run_with<T: Total>(&self, input: &[f32], output: &mut [f32], total: T) {
        let positions: usize = self.axes.iter().map(|a| a.windows.len()).product();
        let lanes = input.chunks(self.plane.max(1)).zip(output.chunks_mut(positions.max(1)));
        let mut chosen = Vec::with_capacity(self.axes.len());
        let mut states = Vec::new();
        for (x, out) in lanes.take(self.lanes) {
            self.pool_axis(0, &mut chosen, &mut states, x, out, total);
        }
    }

    /// Fills `out`, the outputs from spatial axis `a` on, for the windows
    /// `chosen` on the axes before it. The last axis reduces a whole output
    /// row at once: each tap updates every window of the row in turn, so
    /// the row's windows are independent work rather than one chain of
    /// dependent maxima or sums per window.
    fn pool_axis<T: Total>(
        &self,
        a: usize,
        chosen: &mut Vec<AxisWindow>,
        states: &mut Vec<T::State>,
        x: &[f32],
        out: &mut [f32],
        total: T,
    ) {
        let Some((axis, later)) = self.axes.get(a..).and_then(<[PoolAxis]>::split_first) else {
            return;
        };
        if later.is_empty() {
            states.clear();
            states.resize_with(axis.windows.len(), T::State::default);
            let outer = self.axes.get(..a).unwrap_or_default();
            row_taps(outer, chosen, axis, x, 0, &total, states);
            for ((target, state), window) in out.iter_mut().zip(states.iter()).zip(&axis.windows) {
                chosen.push(*window);
                *target = total.finish(state, chosen);
                chosen.pop();
            }
            return;
        }
        let block: usize = later.iter().map(|r| r.windows.len()).product();
        for (target, window) in out.chunks_mut(block.max(1)).zip(&axis.windows) {
            chosen.push(*window);
            self.pool_axis(a + 1, chosen, states, x, target, total);
            chosen.pop();
        }
    }

    /// A pool whose windows `windows(axis, extent)` gives per spatial axis,
    /// undilated.
    fn per_axis(reduce: Reduce, lanes: usize, spatial: &[u64], windows: impl Fn(usize, usize) -> Option<Vec<AxisWindow>>) -> Option<Pool> {
        let mut plane = 1usize;
        let mut axes = Vec::with_capacity(spatial.len());
        for (a, &extent) in spatial.iter().enumerate().rev() {
            let extent = to_usize(extent)?;
            axes.push(PoolAxis {
                stride: plane,
                dilation: 1,
                windows: windows(a, extent)?,
            });
            plane = plane.checked_mul(extent)?;
        }
        axes.reverse();
        Some(Pool {
            reduce,
            lanes,
            plane,
            axes,
        })
    }
}

/// `N * C`, the input's spatial extents and the output's, for a pool's
/// `[N, C, spatial...]` input and output.
fn split_lanes<'a>(input: &'a [u64], output: &'a [u64]) -> Option<(usize, &'a [u64], &'a [u64])> {
    let ([n, c, spatial @ ..], [on, oc, out @ ..]) = (input, output) else {
        return None;
    };
    let same = (n, c) == (on, oc) && !spatial.is_empty() && spatial.len() == out.len();
    same.then_some((to_usize(*n)?.checked_mul(to_usize(*c)?)?, spatial, out))
}

/// One spatial axis of a windowed pool, as the catalog's attributes and the
/// input extent give it.
struct Geometry {
    extent: u64,
    stride: u64,
    dilation: u64,
    kernel: u64,
    begin: u64,
    end: u64,
}

impl Geometry {
    /// The window at output coordinate `o`: the taps `j < kernel` whose
    /// position `o * stride - begin + j * dilation` lies in the input, and
    /// how many lie on the padding (ceil mode's last window may reach past
    /// it; those taps count nowhere), as the interpreter's `axis_window`.
    fn window(&self, o: u64) -> Option<AxisWindow> {
        let i = |v: u64| i128::from(v);
        let (dilation, kernel) = (i(self.dilation).max(1), i(self.kernel));
        let start = i(o) * i(self.stride) - i(self.begin);
        let ceil_div = |a: i128, b: i128| -((-a).div_euclid(b));
        let taps_within = |low: i128, high: i128| {
            let first = ceil_div(low - start, dilation).max(0);
            let end = ceil_div(high - start, dilation).min(kernel);
            (first, end.max(first))
        };
        let (first, end) = taps_within(0, i(self.extent));
        let (pad_first, pad_end) = taps_within(-i(self.begin), i(self.extent) + i(self.end));
        Some(AxisWindow {
            start: match end > first {
                true => usize::try_from(start + first * dilation).ok()?,
                false => 0,
            },
            taps: usize::try_from(end - first).ok()?,
            pads: usize::try_from((pad_end - pad_first) - (end - first)).ok()?,
        })
    }
}

/// Adds to `states` (one per window of the last axis, `row`) the taps of
/// the `outer` axes' `windows` at `base` in `plane`, then of each row
/// window; taps past the end of `plane` are skipped.
fn row_taps<T: Total>(
    outer: &[PoolAxis],
    windows: &[AxisWindow],
    row: &PoolAxis,
    plane: &[f32],
    base: usize,
    total: &T,
    states: &mut [T::State],
) {
    if let (Some((axis, rest)), Some((window, inner))) = (outer.split_first(), windows.split_first()) {
        let first = base + window.start * axis.stride;
        for j in 0..window.taps {
            row_taps(rest, inner, row, plane, first + j * axis.dilation * axis.stride, total, states);
        }
        return;
    }
    let step = row.dilation * row.stride;
    if let ([state], [window]) = (&mut *states, row.windows.as_slice()) {
        // One window per row (a global pool): a plain run over its taps.
        let taps = plane.get(base + window.start * row.stride..).unwrap_or_default();
        for &value in taps.iter().step_by(step.max(1)).take(window.taps) {
            total.add(state, value);
        }
        return;
    }
    let most = row.windows.iter().map(|w| w.taps).max().unwrap_or(0);
    for j in 0..most {
        for (state, window) in states.iter_mut().zip(&row.windows) {
            let at = base + window.start * row.stride + j * step;
            if let (true, Some(&value)) = (j < window.taps, plane.get(at)) {
                total.add(state, value);
            }
        }
    }
}

/// One kind of reduction, monomorphized so the innermost loop is tight.
trait Total: Copy {
    type State: Default;
    fn add(&self, state: &mut Self::State, value: f32);
    fn finish(&self, state: &Self::State, windows: &[AxisWindow]) -> f32;
}

/// The maximum and whether a NaN was seen (NaN wins).
#[derive(Clone, Copy)]
struct Max;

struct MaxState {
    max: f32,
    nan: bool,
}

impl Default for MaxState {
    fn default() -> MaxState {
        MaxState {
            max: f32::NEG_INFINITY,
            nan: false,
        }
    }
}

impl Total for Max {
    type State = MaxState;

    fn add(&self, state: &mut MaxState, value: f32) {
        // A plain comparison (one `maxss`) rather than `f32::max`, whose
        // NaN rule costs more; NaN is tracked apart.
        state.nan |= value.is_nan();
        state.max = if value > state.max { value } else { state.max };
    }

    fn finish(&self, state: &MaxState, _: &[AxisWindow]) -> f32 {
        if state.nan {
            f32::NAN
        } else {
            state.max
        }
    }
}

#[derive(Clone, Copy)]
struct Average {
    include_pad: bool,
}

impl Total for Average {
    type State = f64;

    fn add(&self, state: &mut f64, value: f32) {
        *state += f64::from(value);
    }

    fn finish(&self, state: &f64, windows: &[AxisWindow]) -> f32 {
        let count: usize = match self.include_pad {
            true => windows.iter().map(|w| w.taps + w.pads).product(),
            false => windows.iter().map(|w| w.taps).product(),
        };
        (state / count as f64) as f32
    }
}

#[derive(Clone, Copy)]
struct Lp {
    p: f64,
}

impl Total for Lp {
    type State = f64;

    fn add(&self, state: &mut f64, value: f32) {
        *state += f64::from(value).abs().powf(self.p);
    }

    fn finish(&self, state: &f64, _: &[AxisWindow]) -> f32 {
        state.powf(1.0 / self.p) as f32
    }
}

#[cfg(test)]
mod tests {
    use opfuse_ir::{Attr, Attrs};

    use super::Pool;
    use crate::native::testing::{attrs, ints};

    fn window_attrs(kernel: &[i64], strides: &[i64], pads: &[i64]) -> Vec<(&'static str, Attr)> {
        vec![
            ("kernel", ints(kernel)),
            ("strides", ints(strides)),
            ("pads", ints(pads)),
            ("dilations", ints(&[])),
            ("auto_pad", Attr::Str("NOTSET".into())),
            ("ceil_mode", Attr::Bool(false)),
        ]
    }

    fn run(pool: &Pool, input: &[f32], len: usize) -> Vec<f32> {
        let mut out = vec![f32::NAN; len];
        pool.run(input, &mut out);
        out
    }

    #[test]
    fn max_and_average_pools_over_a_padded_plane() {
        // One [3, 3] plane 1..9, 2x2 windows at stride 2 with one pad at the end.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut max = window_attrs(&[2, 2], &[2, 2], &[0, 0, 1, 1]);
        max.push(("indices", Attr::Bool(false)));
        let pool = Pool::windowed("max_pool", &attrs(&max), &[1, 1, 3, 3], &[1, 1, 2, 2]).unwrap();
        assert_eq!(run(&pool, &x, 4), [5.0, 6.0, 8.0, 9.0]);
        let mut average = window_attrs(&[2, 2], &[2, 2], &[0, 0, 1, 1]);
        average.push(("count_include_pad", Attr::Bool(false)));
        let pool = Pool::windowed("avg_pool", &attrs(&average), &[1, 1, 3, 3], &[1, 1, 2, 2]).unwrap();
        assert_eq!(run(&pool, &x, 4), [3.0, 4.5, 7.5, 9.0]);
        average.pop();
        average.push(("count_include_pad", Attr::Bool(true)));
        let pool = Pool::windowed("avg_pool", &attrs(&average), &[1, 1, 3, 3], &[1, 1, 2, 2]).unwrap();
        assert_eq!(run(&pool, &x, 4), [3.0, 2.25, 3.75, 2.25]);
    }

    #[test]
    fn lp_dilated_global_and_adaptive_pools() {
        // A [1, 2, 4] input: two 1-d planes.
        let x = [3.0, -1.0, 4.0, 1.0, 1.0, 2.0, 3.0, 4.0];
        let mut lp = window_attrs(&[2], &[1], &[]);
        lp.push(("p", Attr::Int(2)));
        lp[3] = ("dilations", ints(&[2]));
        let pool = Pool::windowed("lp_pool", &attrs(&lp), &[1, 2, 4], &[1, 2, 2]).unwrap();
        assert_eq!(run(&pool, &x, 4), [5.0, 2f32.sqrt(), 10f32.sqrt(), 20f32.sqrt()]);
        let global = Pool::global("global_max_pool", &Attrs::new(), &[1, 2, 4], &[1, 2, 1]).unwrap();
        assert_eq!(run(&global, &x, 2), [4.0, 4.0]);
        let mean = Pool::global("global_avg_pool", &Attrs::new(), &[1, 2, 4], &[1, 2, 1]).unwrap();
        assert_eq!(run(&mean, &x, 2), [1.75, 2.5]);
        // Four entries into three windows: [0, 2), [1, 3), [2, 4).
        let adaptive = Pool::adaptive("adaptive_avg_pool", &[1, 2, 4], &[1, 2, 3]).unwrap();
        assert_eq!(run(&adaptive, &x, 6), [1.0, 1.5, 2.5, 1.5, 2.5, 3.5]);
        let nan = Pool::adaptive("adaptive_max_pool", &[1, 1, 4], &[1, 1, 2]).unwrap();
        assert!(run(&nan, &[1.0, f32::NAN, 2.0, 0.0], 2)[0].is_nan());
    }
}
