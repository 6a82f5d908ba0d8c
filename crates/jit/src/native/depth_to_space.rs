//! `depth_to_space` and its inverse `space_to_depth` on `[N, C, H, W]`:
//! output `(n, c, y, x)` of `depth_to_space` reads channel
//! `(i * b + j) * C' + c` (DCR) or `c * b² + i * b + j` (CRD) at
//! `(y / b, x / b)`, where `i = y % b`, `j = x % b` and `C'` is the output's
//! channel count; `space_to_depth` moves the same elements back.

use opfuse_ir::{Attr, Attrs};

use super::to_usize;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepthToSpace {
    /// The `[N, C, H, W]` extents of the deep side (depth_to_space's input,
    /// space_to_depth's output).
    pub deep: [usize; 4],
    pub block: usize,
    /// DCR (depth, column, row) rather than CRD.
    pub dcr: bool,
    /// Whether this is `space_to_depth`, the inverse.
    pub inverse: bool,
}

impl DepthToSpace {
    pub fn lower(attrs: &Attrs, input: &[u64], output: &[u64], inverse: bool) -> Option<DepthToSpace> {
        let deep = if inverse { output } else { input };
        let &[n, c, h, w] = deep else { return None };
        let dcr = match attrs.get("mode").and_then(Attr::as_str)? {
            "DCR" => true,
            "CRD" => false,
            _ => return None,
        };
        let block = to_usize(u64::try_from(attrs.get("blocksize").and_then(Attr::as_int)?).ok()?)?;
        (block > 0).then_some(DepthToSpace {
            deep: [to_usize(n)?, to_usize(c)?, to_usize(h)?, to_usize(w)?],
            block,
            dcr,
            inverse,
        })
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let [n, c, h, w] = self.deep;
        let b = self.block.max(1);
        let out_c = c / (b * b);
        let mut shallow_at = 0;
        for bn in 0..n {
            for cc in 0..out_c {
                for y in 0..h * b {
                    for xx in 0..w * b {
                        let (i, j) = (y % b, xx % b);
                        let channel = match self.dcr {
                            true => (i * b + j) * out_c + cc,
                            false => cc * b * b + i * b + j,
                        };
                        let deep_at = ((bn * c + channel) * h + y / b) * w + xx / b;
                        let (from, to) = match self.inverse {
                            false => (deep_at, shallow_at),
                            true => (shallow_at, deep_at),
                        };
                        if let (Some(&value), Some(target)) = (input.get(from), output.get_mut(to)) {
                            *target = value;
                        }
                        shallow_at += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DepthToSpace;

    #[test]
    fn moves_blocks_of_channels_into_space_and_back() {
        // [1, 4, 1, 1] with block 2: DCR puts channel i * 2 + j at (i, j).
        let deep = [1.0, 2.0, 3.0, 4.0];
        let run = |dcr: bool, inverse: bool, input: &[f32]| {
            let op = DepthToSpace {
                deep: [1, 4, 1, 1],
                block: 2,
                dcr,
                inverse,
            };
            let mut out = [0.0; 4];
            op.run(input, &mut out);
            out
        };
        assert_eq!(run(true, false, &deep), [1.0, 2.0, 3.0, 4.0]);
        // [1, 8, 1, 1] DCR to [1, 2, 2, 2]: channel (i * 2 + j) * 2 + c.
        let op = DepthToSpace {
            deep: [1, 8, 1, 1],
            block: 2,
            dcr: true,
            inverse: false,
        };
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let mut space = [0.0; 8];
        op.run(&x, &mut space);
        assert_eq!(space, [0.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 7.0]);
        let crd = DepthToSpace { dcr: false, ..op.clone() };
        let mut crd_space = [0.0; 8];
        crd.run(&x, &mut crd_space);
        assert_eq!(crd_space, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let mut back = [0.0; 8];
        DepthToSpace { inverse: true, ..op }.run(&space, &mut back);
        assert_eq!(back.to_vec(), x);
        assert_eq!(run(false, true, &deep), deep);
    }
}
