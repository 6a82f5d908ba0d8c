//! Convolution and pooling over the spatial axes of `[N, C, spatial...]`.

use opfuse_ir::{Shape, TensorType};

use super::elements;
use crate::args::{attr_error, same_dtype, shape_error, Args, InferResult};

/// Window geometry along the spatial axes, with list defaults filled in.
struct Window {
    kernel: Vec<u64>,
    strides: Vec<u64>,
    pads: Vec<u64>,
    dilations: Vec<u64>,
}

impl Window {
    fn read(args: &Args<'_>, kernel: Vec<u64>, with_dilations: bool) -> InferResult<Window> {
        let n = kernel.len();
        let list = |name: &str, len: usize, fill: u64, min: u64| -> InferResult<Vec<u64>> {
            let values = args.ints(name)?;
            if values.is_empty() {
                return Ok(vec![fill; len]);
            }
            if values.len() != len {
                return Err(attr_error(name, format!("`{name}` needs {len} entries, found {}", values.len())));
            }
            values
                .iter()
                .map(|&v| {
                    u64::try_from(v)
                        .ok()
                        .filter(|&v| v >= min)
                        .ok_or_else(|| attr_error(name, format!("`{name}` entries must be at least {min}, found {v}")))
                })
                .collect()
        };
        Ok(Window {
            strides: list("strides", n, 1, 1)?,
            pads: list("pads", 2 * n, 0, 0)?,
            dilations: if with_dilations { list("dilations", n, 1, 1)? } else { vec![1; n] },
            kernel,
        })
    }

    /// Output extents for input extents `spatial`.
    fn output(&self, spatial: &[u64]) -> InferResult<Vec<u64>> {
        let n = self.kernel.len();
        (0..n)
            .map(|i| {
                let padded = spatial[i] + self.pads[i] + self.pads[i + n];
                let span = self.dilations[i] * (self.kernel[i].max(1) - 1) + 1;
                if padded < span {
                    return Err(shape_error(
                        0,
                        format!("spatial axis {i} is {} (padded {padded}) but the window spans {span}", spatial[i]),
                    ));
                }
                Ok((padded - span) / self.strides[i] + 1)
            })
            .collect()
    }
}

/// `x[N, C, s...]`, `w[M, C / groups, k...]`, optional `bias[M]` -> `[N, M, o...]`.
pub fn conv(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let dtype = same_dtype(args, &[0, 1])?;
    let (x, w) = (&args.input(0)?.shape, &args.input(1)?.shape);
    if x.rank() < 3 {
        return Err(shape_error(0, format!("conv input must be [N, C, spatial...], found {x}")));
    }
    if w.rank() != x.rank() {
        return Err(shape_error(
            1,
            format!("weights must have rank {} like the input, found {w}", x.rank()),
        ));
    }
    let groups = args.int("groups")?;
    let groups = u64::try_from(groups)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| attr_error("groups", format!("`groups` must be at least 1, found {groups}")))?;
    let (channels, out_channels) = (x.0[1], w.0[0]);
    if channels % groups != 0 || out_channels % groups != 0 {
        return Err(attr_error(
            "groups",
            format!("{groups} groups do not divide {channels} input and {out_channels} output channels"),
        ));
    }
    if w.0[1] * groups != channels {
        return Err(shape_error(
            1,
            format!(
                "weights take {} channels per group, but the input has {channels} in {groups} group(s)",
                w.0[1]
            ),
        ));
    }
    if let Some(bias) = args.optional_input(2) {
        same_dtype(args, &[0, 2])?;
        if bias.shape.dims() != [out_channels] {
            return Err(shape_error(2, format!("bias must be [{out_channels}], found {}", bias.shape)));
        }
    }
    let window = Window::read(args, w.0[2..].to_vec(), true)?;
    let mut out = vec![x.0[0], out_channels];
    out.extend(window.output(&x.0[2..])?);
    Ok(vec![TensorType::new(dtype, out)])
}

/// `2 * (C / groups) * prod(kernel)` per output element, plus the bias add.
pub fn conv_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let Some(w) = args.inputs.get(1) else {
        return 0;
    };
    let per_output: u128 = w.shape.dims().iter().skip(1).map(|&d| d as u128).product();
    let out = outputs.iter().map(elements).sum::<u128>();
    let bias = if args.inputs.len() > 2 { out } else { 0 };
    2 * per_output * out + bias
}

/// Max and average pooling over `kernel` windows.
pub fn pool(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    let kernel = args.ints("kernel")?;
    let spatial = x.rank().saturating_sub(2);
    if x.rank() < 3 || kernel.len() != spatial {
        return Err(attr_error(
            "kernel",
            format!("`kernel` needs one entry per spatial axis of {} ({spatial})", x.shape),
        ));
    }
    let kernel = kernel
        .iter()
        .map(|&k| {
            u64::try_from(k)
                .ok()
                .filter(|&k| k >= 1)
                .ok_or_else(|| attr_error("kernel", format!("kernel extents must be at least 1, found {k}")))
        })
        .collect::<InferResult<Vec<u64>>>()?;
    let window = Window::read(args, kernel, false)?;
    let mut out = x.shape.0[..2].to_vec();
    out.extend(window.output(&x.shape.0[2..])?);
    Ok(vec![TensorType::new(x.dtype, out)])
}

/// One FLOP per window element per output.
pub fn pool_flops(args: &Args<'_>, outputs: &[TensorType]) -> u128 {
    let window: u128 = args
        .attrs
        .get("kernel")
        .and_then(|k| k.as_ints())
        .unwrap_or_default()
        .iter()
        .map(|&k| k.max(0) as u128)
        .product();
    window * outputs.iter().map(elements).sum::<u128>()
}

/// `[N, C, s...] -> [N, C, 1...]`.
pub fn global_pool(args: &Args<'_>) -> InferResult<Vec<TensorType>> {
    let x = args.input(0)?;
    if x.rank() < 3 {
        return Err(shape_error(0, format!("input must be [N, C, spatial...], found {}", x.shape)));
    }
    let mut out = x.shape.0[..2].to_vec();
    out.resize(x.rank(), 1);
    Ok(vec![TensorType {
        dtype: x.dtype,
        shape: Shape(out),
    }])
}
