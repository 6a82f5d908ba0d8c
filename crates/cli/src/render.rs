//! Renders front-end diagnostics as text: `error[CODE]: message`, then
//! `--> file:line:col`, the source line with carets under the span, and
//! `= help:`.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};
use opfuse_syntax::Diagnostic;

pub fn diagnostics(file_name: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let file = SimpleFile::new(file_name, source);
    let config = Config {
        chars: Chars::ascii(),
        ..Config::default()
    };
    let mut out = String::new();
    for diagnostic in diagnostics {
        let clamp = |range: std::ops::Range<usize>| {
            let end = range.end.min(source.len());
            let start = range.start.min(end);
            start..end
        };
        let mut labels = vec![Label::primary((), clamp(diagnostic.span.range())).with_message(&diagnostic.label)];
        labels.extend(
            diagnostic
                .secondary
                .iter()
                .map(|(span, text)| Label::secondary((), clamp(span.range())).with_message(text)),
        );
        let mut report = Report::error()
            .with_code(diagnostic.code.as_str())
            .with_message(&diagnostic.message)
            .with_labels(labels);
        if let Some(help) = &diagnostic.help {
            report = report.with_notes(vec![format!("help: {help}")]);
        }
        match term::emit_into_string(&config, &file, &report) {
            Ok(text) => out.push_str(&text),
            Err(_) => out.push_str(&format!("error[{}]: {}\n", diagnostic.code, diagnostic.message)),
        }
    }
    let count = diagnostics.len();
    out.push_str(&format!(
        "error: {file_name}: {count} error{} found\n",
        if count == 1 { "" } else { "s" }
    ));
    out
}
