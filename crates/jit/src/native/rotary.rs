//! `rotary_embedding`: pairs of the first `rotary_dim` features of each
//! head (halves, or neighbours when interleaved) rotated by the cos/sin
//! cache row of the token's position, in f64 and rounded to the output
//! dtype as the interpreter does. The features past `rotary_dim` pass
//! through. The interpreter fails on a position id outside the cache; a
//! native stage cannot, so such a token passes through unrotated.

use opfuse_ir::{Attr, Attrs, DType};

use super::to_usize;

#[derive(Clone, Debug, PartialEq)]
pub struct Rotary {
    pub batch: usize,
    pub heads: usize,
    pub seq: usize,
    pub head_size: usize,
    /// Rotated features per head (even).
    pub rotary_dim: usize,
    /// `[B, S, H * D]` rather than `[B, H, S, D]`.
    pub packed: bool,
    pub interleaved: bool,
    /// Cache rows: `max_position` with position ids, else `B * S`.
    pub rows: usize,
    pub positions: bool,
    pub dtype: DType,
}

impl Rotary {
    /// `inputs`: the dims of x, cos_cache, sin_cache and position_ids if
    /// given. Both caches must hold `rows * rotary_dim / 2` values.
    pub fn lower(attrs: &Attrs, inputs: &[Vec<u64>], dtype: DType) -> Option<Rotary> {
        let sizes = inputs
            .iter()
            .map(|d| d.iter().map(|&x| to_usize(x)).collect::<Option<Vec<_>>>())
            .collect::<Option<Vec<_>>>()?;
        let num_heads = to_usize(u64::try_from(attrs.get("num_heads").and_then(Attr::as_int)?).ok()?)?;
        let (x, cos, sin, positions) = match sizes.as_slice() {
            [x, cos, sin] => (x, cos, sin, None),
            [x, cos, sin, positions] => (x, cos, sin, Some(positions)),
            _ => return None,
        };
        let (batch, heads, seq, head_size, packed) = match *x.as_slice() {
            [b, h, s, d] => (b, h, s, d, false),
            [b, s, hidden] if num_heads > 0 && hidden % num_heads == 0 => (b, num_heads, s, hidden / num_heads, true),
            _ => return None,
        };
        let rotary_dim = match attrs.get("rotary_embedding_dim").and_then(Attr::as_int)? {
            0 => head_size,
            d => to_usize(u64::try_from(d).ok()?)?,
        };
        if rotary_dim % 2 != 0 || rotary_dim > head_size {
            return None;
        }
        let rows = match positions {
            Some(p) if p.iter().product::<usize>() == batch.checked_mul(seq)? => *cos.first()?,
            Some(_) => return None,
            None => batch.checked_mul(seq)?,
        };
        let cache = rows.checked_mul(rotary_dim / 2)?;
        let fits = cos.iter().product::<usize>() == cache && sin.iter().product::<usize>() == cache;
        fits.then_some(Rotary {
            batch,
            heads,
            seq,
            head_size,
            rotary_dim,
            packed,
            interleaved: attrs.get("interleaved").and_then(Attr::as_bool)?,
            rows,
            positions: positions.is_some(),
            dtype,
        })
    }

    pub fn run(&self, inputs: &[&[f32]], output: &mut [f32]) {
        let [x, cos, sin, positions] = [0, 1, 2, 3].map(|i| inputs.get(i).copied().unwrap_or_default());
        let n = output.len().min(x.len());
        output[..n].copy_from_slice(&x[..n]);
        let half = self.rotary_dim / 2;
        for b in 0..self.batch {
            for s in 0..self.seq {
                let token = b * self.seq + s;
                let row = match self.positions {
                    true => positions.get(token).and_then(|&p| cache_row(p, self.rows)),
                    false => Some(token),
                };
                let Some(row) = row else { continue };
                for h in 0..self.heads {
                    let base = match self.packed {
                        false => ((b * self.heads + h) * self.seq + s) * self.head_size,
                        true => (token * self.heads + h) * self.head_size,
                    };
                    for k in 0..half {
                        let (first, second) = match self.interleaved {
                            true => (base + 2 * k, base + 2 * k + 1),
                            false => (base + k, base + k + half),
                        };
                        let read = |data: &[f32], at: usize| data.get(at).map_or(f64::NAN, |&v| f64::from(v));
                        let (c, sn) = (read(cos, row * half + k), read(sin, row * half + k));
                        let (x1, x2) = (read(x, first), read(x, second));
                        if let Some(target) = output.get_mut(first) {
                            *target = self.dtype.round(c * x1 - sn * x2) as f32;
                        }
                        if let Some(target) = output.get_mut(second) {
                            *target = self.dtype.round(sn * x1 + c * x2) as f32;
                        }
                    }
                }
            }
        }
    }
}

/// A position id (a whole number as f32) as a row of a cache of `rows`.
fn cache_row(position: f32, rows: usize) -> Option<usize> {
    (position >= 0.0 && (position as f64) < rows as f64).then_some(position as usize)
}

#[cfg(test)]
mod tests {
    use opfuse_ir::DType;

    use super::Rotary;

    fn rotary(interleaved: bool, rotary_dim: usize, positions: bool, rows: usize) -> Rotary {
        Rotary {
            batch: 1,
            heads: 1,
            seq: 1,
            head_size: 4,
            rotary_dim,
            packed: false,
            interleaved,
            rows,
            positions,
            dtype: DType::F32,
        }
    }

    #[test]
    fn rotates_halves_or_neighbours() {
        // A quarter turn (cos 0, sin 1) for pair 0, none for pair 1.
        let x = [1.0, 2.0, 3.0, 4.0];
        let (cos, sin) = ([0.0, 1.0], [1.0, 0.0]);
        let mut y = [f32::NAN; 4];
        // Halves: pairs (1, 3) and (2, 4); (1, 3) -> (-3, 1).
        rotary(false, 4, false, 1).run(&[&x, &cos, &sin], &mut y);
        assert_eq!(y, [-3.0, 2.0, 1.0, 4.0]);
        // Neighbours: pairs (1, 2) and (3, 4); (1, 2) -> (-2, 1).
        rotary(true, 4, false, 1).run(&[&x, &cos, &sin], &mut y);
        assert_eq!(y, [-2.0, 1.0, 3.0, 4.0]);
    }

    #[test]
    fn looks_up_positions_and_passes_bad_ones_through() {
        // Row 1 of a two-row cache turns the first 2 features a quarter.
        let x = [1.0, 2.0, 3.0, 4.0];
        let (cos, sin) = ([1.0, 0.0], [0.0, 1.0]);
        let mut y = [f32::NAN; 4];
        rotary(false, 2, true, 2).run(&[&x, &cos, &sin, &[1.0]], &mut y);
        assert_eq!(y, [-2.0, 1.0, 3.0, 4.0]);
        rotary(false, 2, true, 2).run(&[&x, &cos, &sin, &[2.0]], &mut y);
        assert_eq!(y, x);
    }
}
