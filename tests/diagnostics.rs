//! Every bad input in `tests/fixtures/errors/` is rejected with a rendered
//! diagnostic (code, `file:line:col`, caret, help) and the right exit code:
//! 1 for bad input, 2 for bad usage. A fixture whose first line is
//! `// args: ...` adds those arguments to `opfuse check`.

mod support;

use std::fs;

#[test]
fn bad_inputs_are_diagnosed() {
    support::snapshot_settings().bind(|| {
        insta::glob!("fixtures/errors/*.opf", |path| {
            let text = fs::read(path).expect("fixture is readable");
            let first_line = String::from_utf8_lossy(&text).lines().next().unwrap_or_default().to_string();
            let file = support::relative(path);
            let mut args = vec!["check", file.as_str()];
            if let Some(extra) = first_line.strip_prefix("// args:") {
                args.extend(extra.split_whitespace());
            }
            let run = support::opfuse(&args);
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            let expected_code = if name.starts_with("usage_") { 2 } else { 1 };
            assert_eq!(run.code, expected_code, "{file}:\n{}", run.transcript());
            assert!(run.stdout.is_empty(), "{file} printed to stdout on failure");
            if expected_code == 1 {
                assert!(
                    run.stderr.contains(&format!("--> {file}:")),
                    "{file}: no location in\n{}",
                    run.stderr
                );
            }
            if let Some(code) = name.split('_').next().filter(|c| c.starts_with('E')) {
                assert!(
                    run.stderr.contains(&format!("error[{code}]")),
                    "{file}: expected {code} in\n{}",
                    run.stderr
                );
            }
            insta::assert_snapshot!("errors", run.transcript());
        });
    });
}

#[test]
fn every_code_has_a_fixture_and_an_explanation() {
    let fixtures: Vec<String> = fs::read_dir(support::root().join("tests/fixtures/errors"))
        .expect("fixture folder exists")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    for code in opfuse_syntax::Code::ALL {
        assert!(fixtures.iter().any(|f| f.starts_with(code.as_str())), "no fixture for {code}");
        let run = support::opfuse(&["explain", code.as_str()]);
        assert_eq!(run.code, 0);
        assert!(run.stdout.starts_with(&format!("{code}: {}", code.title())));
    }
    assert_eq!(support::opfuse(&["explain", "E9999"]).code, 2);
}

#[test]
fn missing_files_and_bad_flags_are_errors_not_panics() {
    let run = support::opfuse(&["check", "no/such/file.opf"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.starts_with("error: cannot read `no/such/file.opf`"), "{}", run.stderr);
    assert_eq!(support::opfuse(&["check", "examples/mlp.opf", "--dim", "S"]).code, 2);
    assert_eq!(support::opfuse(&["check", "examples/mlp.opf", "--dim", "S=-3"]).code, 2);
    assert_eq!(support::opfuse(&["check"]).code, 2);
}
