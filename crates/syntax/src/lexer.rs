//! The lexer: source text to tokens, with logos.

use logos::Logos;
use opfuse_ir::Span;

/// Why a piece of text is not a token.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LexError {
    #[default]
    InvalidCharacter,
    IntegerTooLarge,
    UnterminatedString,
}

#[derive(Clone, Debug, PartialEq, Logos)]
#[logos(error = LexError)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
pub enum Token<'src> {
    #[token("dim")]
    Dim,
    #[token("graph")]
    Graph,
    #[token("param")]
    Param,
    #[token("for")]
    For,
    #[token("in")]
    In,
    #[token("return")]
    Return,
    #[token("true")]
    True,
    #[token("false")]
    False,
    /// A name; dotted segments (`layer.3.wq`) make one name, as params of
    /// called graphs are named that way.
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")]
    Ident(&'src str),
    #[regex(r"[0-9]+", |lex| lex.slice().parse::<i64>().map_err(|_| LexError::IntegerTooLarge))]
    Int(i64),
    #[regex(r"[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?", |lex| lex.slice().parse::<f64>().ok())]
    #[regex(r"[0-9]+[eE][+-]?[0-9]+", |lex| lex.slice().parse::<f64>().ok())]
    #[token("inf", |_| f64::INFINITY)]
    #[token("nan", |_| f64::NAN)]
    Float(f64),
    #[regex(r#""([^"\\\n]|\\.)*""#, |lex| unescape(lex.slice()))]
    #[regex(r#""([^"\\\n]|\\.)*"#, |_| Err(LexError::UnterminatedString))]
    Str(String),
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("=")]
    Eq,
    #[token("->")]
    Arrow,
    #[token("..")]
    DotDot,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("@")]
    At,
}

/// A token with its byte range.
pub type Spanned<'src> = (usize, Token<'src>, usize);

/// Splits `source` into tokens; every lexical error comes back with its span.
pub fn lex(source: &str) -> (Vec<Spanned<'_>>, Vec<(LexError, Span)>) {
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    let mut lexer = Token::lexer(source);
    while let Some(token) = lexer.next() {
        let range = lexer.span();
        match token {
            Ok(token) => tokens.push((range.start, token, range.end)),
            Err(error) => errors.push((error, Span::new(range.start, range.end))),
        }
    }
    (tokens, errors)
}

fn unescape(quoted: &str) -> String {
    let inner = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or("");
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<Token<'_>> {
        let (tokens, errors) = lex(source);
        assert!(errors.is_empty(), "{errors:?}");
        tokens.into_iter().map(|(_, t, _)| t).collect()
    }

    #[test]
    fn dotted_names_and_ranges() {
        assert_eq!(
            kinds("layer.3.wq for i in 0..N A..B"),
            vec![
                Token::Ident("layer.3.wq"),
                Token::For,
                Token::Ident("i"),
                Token::In,
                Token::Int(0),
                Token::DotDot,
                Token::Ident("N"),
                Token::Ident("A"),
                Token::DotDot,
                Token::Ident("B"),
            ]
        );
    }

    #[test]
    fn numbers_strings_and_comments() {
        assert_eq!(
            kinds("1e-5 0.5 42 \"ta\\\"nh\" // note\n->"),
            vec![
                Token::Float(1e-5),
                Token::Float(0.5),
                Token::Int(42),
                Token::Str("ta\"nh".into()),
                Token::Arrow
            ]
        );
    }

    #[test]
    fn errors_carry_spans() {
        let (_, errors) = lex("x = 99999999999999999999 $ \"open");
        let kinds: Vec<_> = errors.iter().map(|(e, s)| (e.clone(), s.start)).collect();
        assert_eq!(
            kinds,
            vec![
                (LexError::IntegerTooLarge, 4),
                (LexError::InvalidCharacter, 25),
                (LexError::UnterminatedString, 27)
            ]
        );
    }
}
