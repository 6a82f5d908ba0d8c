//! Parsing: tokens to the syntax tree, with every error as a diagnostic.

use lalrpop_util::ParseError;
use opfuse_ir::Span;

use crate::ast::File;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::grammar::FileParser;
use crate::lexer::{lex, LexError, Token};

/// Brackets may nest this deep. Elaboration recurses on nesting, so this
/// bound is what keeps any input from exhausting the stack.
pub const MAX_NESTING: usize = 64;

/// Parses a whole file. Lexical errors are all reported; after the first
/// syntax error the parser stops, since what follows is rarely meaningful.
pub fn parse(source: &str) -> Result<File, Vec<Diagnostic>> {
    let (tokens, lex_errors) = lex(source);
    if !lex_errors.is_empty() {
        return Err(lex_errors.into_iter().map(|(e, span)| lex_diagnostic(&e, span)).collect());
    }
    check_nesting(&tokens)?;
    let end = source.len();
    FileParser::new()
        .parse(tokens.into_iter().map(Ok::<_, LexError>))
        .map_err(|e| vec![parse_diagnostic(e, end)])
}

fn check_nesting(tokens: &[(usize, Token<'_>, usize)]) -> Result<(), Vec<Diagnostic>> {
    let mut depth = 0usize;
    for (start, token, end) in tokens {
        match token {
            Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NESTING {
            let span = Span::new(*start, *end);
            return Err(vec![Diagnostic::new(
                Code::E0021,
                span,
                format!("brackets nest deeper than {MAX_NESTING} levels"),
            )
            .label("this bracket is too deep")]);
        }
    }
    Ok(())
}

fn lex_diagnostic(error: &LexError, span: Span) -> Diagnostic {
    match error {
        LexError::InvalidCharacter => Diagnostic::new(Code::E0001, span, "unexpected character")
            .label("not part of the language")
            .help("names use letters, digits, `_` and `.`; comments start with `//`"),
        LexError::IntegerTooLarge => Diagnostic::new(Code::E0001, span, "integer literal does not fit in 64 bits").label("too large"),
        LexError::UnterminatedString => Diagnostic::new(Code::E0001, span, "string is not closed").label("missing the closing `\"`"),
    }
}

fn parse_diagnostic(error: ParseError<usize, Token<'_>, LexError>, end: usize) -> Diagnostic {
    match error {
        ParseError::InvalidToken { location } => Diagnostic::new(Code::E0001, Span::new(location, location + 1), "unexpected character"),
        ParseError::UnrecognizedEof { location, expected } => {
            let at = location.min(end);
            Diagnostic::new(Code::E0003, Span::new(at, at), "unexpected end of file")
                .label(format!("expected {}", describe_expected(&expected)))
        }
        ParseError::UnrecognizedToken {
            token: (start, token, stop),
            expected,
        } => Diagnostic::new(
            Code::E0002,
            Span::new(start, stop),
            format!("unexpected {}", describe_token(&token)),
        )
        .label(format!("expected {}", describe_expected(&expected))),
        ParseError::ExtraToken {
            token: (start, token, stop),
        } => Diagnostic::new(
            Code::E0002,
            Span::new(start, stop),
            format!("unexpected {}", describe_token(&token)),
        )
        .label("expected the end of the file"),
        ParseError::User { error } => lex_diagnostic(&error, Span::new(end, end)),
    }
}

fn describe_token(token: &Token<'_>) -> String {
    match token {
        Token::Ident(name) => format!("name `{name}`"),
        Token::Int(v) => format!("integer `{v}`"),
        Token::Float(v) => format!("number `{v}`"),
        Token::Str(s) => format!("string {s:?}"),
        other => format!("`{}`", token_text(other)),
    }
}

fn token_text(token: &Token<'_>) -> &'static str {
    match token {
        Token::Dim => "dim",
        Token::Graph => "graph",
        Token::Param => "param",
        Token::For => "for",
        Token::In => "in",
        Token::Return => "return",
        Token::True => "true",
        Token::False => "false",
        Token::LParen => "(",
        Token::RParen => ")",
        Token::LBracket => "[",
        Token::RBracket => "]",
        Token::LBrace => "{",
        Token::RBrace => "}",
        Token::Comma => ",",
        Token::Colon => ":",
        Token::Eq => "=",
        Token::Arrow => "->",
        Token::DotDot => "..",
        Token::Plus => "+",
        Token::Minus => "-",
        Token::Star => "*",
        Token::Slash => "/",
        Token::At => "@",
        Token::Ident(_) | Token::Int(_) | Token::Float(_) | Token::Str(_) => "",
    }
}

/// Turns the grammar's terminal names into words: `"name"` -> a name, and
/// collapses the expression-start tokens into "an expression".
fn describe_expected(expected: &[String]) -> String {
    let terminals: Vec<&str> = expected.iter().map(|s| s.trim_matches('"')).collect();
    let expression_starts = ["name", "integer", "float", "string", "(", "[", "-", "true", "false"];
    let is_expression = expression_starts.iter().all(|t| terminals.contains(t));
    let mut words: Vec<String> = Vec::new();
    if is_expression {
        words.push("an expression".into());
    }
    for t in &terminals {
        if is_expression && expression_starts.contains(t) {
            continue;
        }
        words.push(match *t {
            "name" => "a name".into(),
            "integer" => "an integer".into(),
            "float" => "a number".into(),
            "string" => "a string".into(),
            other => format!("`{other}`"),
        });
    }
    match words.len() {
        0 => "nothing more".into(),
        1 => words.remove(0),
        _ => {
            let last = words.pop().unwrap_or_default();
            format!("{} or {last}", words.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_error(source: &str) -> String {
        match parse(source) {
            Ok(_) => "ok".into(),
            Err(diags) => format!("{} {}: {}", diags[0].code, diags[0].message, diags[0].label),
        }
    }

    #[test]
    fn parses_the_design_sketch() {
        let source = "dim B = 1, S = 128\n\
            graph mlp(x: f32[B, S]) -> f32[B, S] {\n\
              param w1: f32[S, S]\n\
              h = gelu(x @ w1, approximate = \"tanh\")\n\
              a, b = split(h, axis = -1, sizes = [S / 2, S / 2])\n\
              for i in 0..4 { h = h * 2 }\n\
              return h @ w1 + x\n\
            }";
        assert_eq!(first_error(source), "ok");
    }

    #[test]
    fn errors_say_what_was_expected() {
        assert_eq!(
            first_error("graph g(x: f32[2]) -> f32[2] { y = }"),
            "E0002 unexpected `}`: expected an expression"
        );
        assert_eq!(first_error("graph g("), "E0003 unexpected end of file: expected a name or `)`");
        assert_eq!(first_error("dim = 3"), "E0002 unexpected `=`: expected a name");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("dim A = {}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(first_error(&deep).starts_with("E0021"));
    }
}
