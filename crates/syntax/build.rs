//! Generates the parser from `grammar/opfuse.lalrpop`, the language's one
//! definition, into OUT_DIR (never into the source tree).

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    lalrpop::Configuration::new()
        .set_out_dir(out_dir)
        .emit_rerun_directives(true)
        .process_file("../../grammar/opfuse.lalrpop")
        .expect("grammar/opfuse.lalrpop is a valid LALRPOP grammar");
}
