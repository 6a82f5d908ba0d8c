//! The registry of diagnostic codes: one stable code per kind of problem.
//!
//! Codes are never reused or renumbered; `opfuse explain CODE` prints the
//! entry. Each entry says what the problem is and how to fix it.

use std::fmt;

macro_rules! codes {
    ($($code:ident, $title:literal, $explanation:literal;)*) => {
        /// A diagnostic code such as `E0004`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($code),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$code),*];

            /// A few words naming the problem.
            pub fn title(self) -> &'static str {
                match self { $(Code::$code => $title),* }
            }

            /// What it means and how to fix it.
            pub fn explanation(self) -> &'static str {
                match self { $(Code::$code => $explanation),* }
            }

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code)),* }
            }
        }
    };
}

codes! {
    E0001, "invalid token",
        "The text contains a character or literal the language does not have: a stray symbol, an integer beyond 64 bits, or a string without its closing quote.";
    E0002, "unexpected token",
        "The parser met a token where the grammar allows something else. The message lists what would have been accepted there.";
    E0003, "unexpected end of file",
        "The file ends in the middle of a construct, usually an unclosed `{`, `(` or `[`.";
    E0004, "unknown name",
        "A name is used that no input, param, assignment, loop variable or `dim` defines at that point. Names are defined in order: define it before its first use.";
    E0005, "unknown operator",
        "A call names neither a catalog operator nor a graph of the file. An operator outside the catalog is allowed when the result type is written, as in `y: f32[B, H] = my_op(x)`: it becomes an opaque node the audit reports.";
    E0006, "unknown dtype",
        "A type names a dtype the language does not have. The dtypes are f32, f16, bf16, f8e4m3, f8e5m2, i8, i32, i64 and bool.";
    E0007, "unknown attribute",
        "A named argument is not an attribute of the operator. `opfuse ops` lists each operator's attributes.";
    E0008, "attribute of the wrong kind",
        "An attribute got a value of another kind than the operator takes, such as a string where a list of ints is expected.";
    E0009, "missing attribute",
        "The operator has an attribute without a default, and the call does not give it.";
    E0010, "wrong number of arguments",
        "An operator or graph is called with more or fewer tensor arguments than it takes.";
    E0011, "shapes do not fit",
        "The operator's shape rule rejects the input shapes, for example a matmul whose inner dimensions differ or an elementwise op on shapes that do not broadcast.";
    E0012, "dtypes do not fit",
        "The operator needs its inputs to share a dtype, or needs a particular dtype (indices must be integers). Insert a `cast(x, to = \"f32\")` where the dtypes differ.";
    E0013, "type differs from the one written",
        "A written type (on an assignment, a graph's results or a graph's inputs at a call) differs from the type the operators produce.";
    E0014, "defined twice",
        "Two graphs, dims, inputs or params share a name.";
    E0015, "invalid attribute value",
        "An attribute has the right kind but a value the operator rejects, such as a `perm` that is not a permutation or an axis out of range.";
    E0016, "recursive graph call",
        "A graph calls itself, directly or through other graphs. Graphs are inlined at each call, so recursion would never end; use a `for` loop.";
    E0017, "missing return",
        "A graph's body ends without `return`.";
    E0018, "wrong number of names",
        "The number of names on the left of `=` differs from the number of values the right side produces, or a `return` gives a different number of values than the graph declares.";
    E0019, "tensor where a number is expected, or a number where a tensor is expected",
        "Shapes, dims, loop bounds and attributes are numbers known before the model runs; operator arguments are tensors. A number in a tensor argument becomes a scalar constant, but a tensor cannot be used as a number.";
    E0020, "invalid dim arithmetic",
        "Dim arithmetic is on integers: a division must be exact, no value may be negative or overflow 64 bits, and divisors must not be zero.";
    E0021, "nesting too deep",
        "Brackets or calls nest deeper than the limit. Split the expression with intermediate names.";
    E0022, "invalid loop range",
        "A `for` range must have integer bounds, and the loop may unroll at most a million iterations.";
    E0023, "model too large",
        "A tensor's size in bytes does not fit in 64 bits, or the elaborated graph exceeds the node limit.";
    E0024, "misplaced return",
        "`return` must be the last statement of a graph's body, outside any `for` loop: statements after it would never contribute to the results.";
    E0025, "no graph",
        "The file defines no `graph` block, so there is nothing to elaborate.";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_numbered_in_order_without_gaps() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(code.as_str(), format!("E{:04}", i + 1));
        }
    }
}
