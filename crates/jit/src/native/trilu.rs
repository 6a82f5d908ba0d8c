//! `trilu`: zeroes what lies outside a triangle of each trailing matrix
//! (row i, column j is kept where `j - i >= k` for the upper triangle, or
//! `j - i <= k` for the lower).

use opfuse_ir::{Attr, Attrs};

use super::to_usize;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trilu {
    pub rows: usize,
    pub cols: usize,
    pub upper: bool,
    pub k: i64,
}

impl Trilu {
    pub fn lower(attrs: &Attrs, input: &[u64]) -> Option<Trilu> {
        let &[.., rows, cols] = input else { return None };
        Some(Trilu {
            rows: to_usize(rows)?,
            cols: to_usize(cols)?,
            upper: attrs.get("upper").and_then(Attr::as_bool)?,
            k: attrs.get("k").and_then(Attr::as_int)?,
        })
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let matrix = (self.rows * self.cols).max(1);
        for (x, out) in input.chunks(matrix).zip(output.chunks_mut(matrix)) {
            for (i, (x_row, out_row)) in x.chunks(self.cols.max(1)).zip(out.chunks_mut(self.cols.max(1))).enumerate() {
                for (j, (&value, target)) in x_row.iter().zip(out_row).enumerate() {
                    let diagonal = j as i64 - i as i64;
                    let kept = if self.upper { diagonal >= self.k } else { diagonal <= self.k };
                    *target = if kept { value } else { 0.0 };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Trilu;

    #[test]
    fn keeps_the_upper_or_lower_triangle_of_each_matrix() {
        let x: Vec<f32> = (1..=12).map(|v| v as f32).collect();
        let run = |upper: bool, k: i64| {
            let mut out = vec![f32::NAN; 12];
            Trilu {
                rows: 2,
                cols: 3,
                upper,
                k,
            }
            .run(&x, &mut out);
            out
        };
        // Two [2, 3] matrices.
        assert_eq!(run(true, 0), [1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 7.0, 8.0, 9.0, 0.0, 11.0, 12.0]);
        assert_eq!(run(false, 0), [1.0, 0.0, 0.0, 4.0, 5.0, 0.0, 7.0, 0.0, 0.0, 10.0, 11.0, 0.0]);
        assert_eq!(run(true, 1)[..6], [0.0, 2.0, 3.0, 0.0, 0.0, 6.0]);
        assert_eq!(run(false, -1)[..6], [0.0, 0.0, 0.0, 4.0, 0.0, 0.0]);
    }
}
