//! No input makes the front end panic: arbitrary text, and token soup close
//! enough to the language to reach the parser and the elaborator, always end
//! in a graph or in diagnostics.

use opfuse_ops::Catalog;
use proptest::prelude::*;

fn front_end(source: &str, catalog: &Catalog) {
    let Ok(ast) = opfuse_syntax::parse(source) else {
        return;
    };
    let config = opfuse_syntax::Config {
        entry: None,
        dims: &[("N".to_string(), 3)],
        ops: catalog,
    };
    if let Ok(graph) = opfuse_syntax::elaborate(&ast, &config) {
        opfuse_ir::verify(graph, catalog).expect("an elaborated graph always verifies");
    }
}

const TOKENS: &[&str] = &[
    "graph",
    "g",
    "(",
    ")",
    "x",
    ":",
    "f32",
    "i64",
    "[",
    "]",
    "->",
    "{",
    "}",
    "return",
    "dim",
    "N",
    "=",
    "4",
    "0",
    "-1",
    ",",
    "param",
    "w",
    "@",
    "+",
    "-",
    "*",
    "/",
    "for",
    "i",
    "in",
    "..",
    "relu",
    "softmax",
    "axis",
    "reshape",
    "shape",
    "split",
    "sizes",
    "top_k",
    "k",
    "2.5",
    "\"tanh\"",
    "matmul",
    "concat",
    "transpose",
    "perm",
    "a",
    "b",
    "sum",
    "axes",
    "true",
    "conv",
    "max_pool",
    "kernel",
    "gather",
    "my_op",
    "y",
    "\n",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|tokens| tokens.join(" "))
}

/// Valid programs with one token replaced: errors deep inside elaboration.
fn mutated_program() -> impl Strategy<Value = String> {
    let program = "dim N = 4\ngraph g(x: f32[N, 8], ids: i64[N]) -> f32[N, 8] {\n param w : f32 [ 8 , 8 ]\n h = relu ( x @ w )\n a , b = split ( h , axis = 1 , sizes = [ 4 , 4 ] )\n for i in 0 .. 2 { h = h * 2.5 }\n y = softmax ( concat ( a , b , axis = -1 ) , axis = -1 )\n return y + h\n}";
    let words: Vec<String> = program.split(' ').map(str::to_string).collect();
    let len = words.len();
    (0..len, prop::sample::select(TOKENS)).prop_map(move |(at, token)| {
        let mut words = words.clone();
        words[at] = token.to_string();
        words.join(" ")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(source in any::<String>()) {
        front_end(&source, &Catalog::builtin().expect("catalog loads"));
    }

    #[test]
    fn token_soup_never_panics(source in token_soup()) {
        front_end(&source, &Catalog::builtin().expect("catalog loads"));
    }

    #[test]
    fn mutated_programs_never_panic(source in mutated_program()) {
        front_end(&source, &Catalog::builtin().expect("catalog loads"));
    }
}
