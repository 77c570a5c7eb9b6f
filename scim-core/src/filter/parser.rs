//! Recursive-descent parser for filters and paths, with bounded depth (RFC 7644 §3.4.2.2, §3.10).

use super::{CompValue, CompareOp, Filter, FilterError, MAX_DEPTH, MAX_FILTER_LEN, MAX_TERMS};
use crate::path::{split_token, AttrPath, PatchPath};

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Str(String),
    Word(&'a str),
    End,
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    pos: usize,
    terms: usize,
}

type PResult<T> = Result<T, FilterError>;

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$' | b':' | b'.' | b'+')
}

pub(crate) fn parse_filter(input: &str) -> PResult<Filter> {
    let mut p = Parser::new(input)?;
    if input.trim().is_empty() {
        return Err(p.err(0, "empty filter"));
    }
    let f = p.or_expr(0, false)?;
    p.expect_end()?;
    Ok(f)
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> PResult<Self> {
        if src.len() > MAX_FILTER_LEN {
            return Err(FilterError {
                offset: MAX_FILTER_LEN,
                message: format!("input longer than {MAX_FILTER_LEN} bytes"),
            });
        }
        Ok(Parser {
            src,
            pos: 0,
            terms: 0,
        })
    }

    fn err(&self, offset: usize, msg: impl Into<String>) -> FilterError {
        FilterError {
            offset,
            message: msg.into(),
        }
    }

    fn skip_ws(&mut self) {
        let bytes = self.src.as_bytes();
        while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    /// Reads the next token without skipping whitespace first; returns it and its end offset.
    fn lex_at(&self, start: usize) -> PResult<(Tok<'a>, usize)> {
        let bytes = self.src.as_bytes();
        if start >= bytes.len() {
            return Ok((Tok::End, start));
        }
        match bytes[start] {
            b'(' => Ok((Tok::LParen, start + 1)),
            b')' => Ok((Tok::RParen, start + 1)),
            b'[' => Ok((Tok::LBracket, start + 1)),
            b']' => Ok((Tok::RBracket, start + 1)),
            b'"' => {
                let mut i = start + 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(self.err(start, "unterminated string")),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                let raw = &self.src[start..=i];
                let s: String = serde_json::from_str(raw)
                    .map_err(|e| self.err(start, format!("invalid string literal: {e}")))?;
                Ok((Tok::Str(s), i + 1))
            }
            b if is_word_byte(b) => {
                let mut i = start;
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                Ok((Tok::Word(&self.src[start..i]), i))
            }
            _ => {
                let ch = self.src[start..].chars().next().unwrap_or('?');
                Err(self.err(start, format!("unexpected character {ch:?}")))
            }
        }
    }

    fn peek(&mut self) -> PResult<(Tok<'a>, usize)> {
        self.skip_ws();
        let (t, _) = self.lex_at(self.pos)?;
        Ok((t, self.pos))
    }

    fn next(&mut self) -> PResult<(Tok<'a>, usize)> {
        self.skip_ws();
        let start = self.pos;
        let (t, end) = self.lex_at(start)?;
        self.pos = end;
        Ok((t, start))
    }

    pub(crate) fn expect_end(&mut self) -> PResult<()> {
        match self.next()? {
            (Tok::End, _) => Ok(()),
            (t, at) => Err(self.err(at, format!("unexpected {}", describe(&t)))),
        }
    }

    fn keyword(&mut self, kw: &str) -> PResult<bool> {
        if let (Tok::Word(w), _) = self.peek()? {
            if w.eq_ignore_ascii_case(kw) {
                self.next()?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn or_expr(&mut self, depth: usize, in_vp: bool) -> PResult<Filter> {
        let mut left = self.and_expr(depth, in_vp)?;
        while self.keyword("or")? {
            let right = self.and_expr(depth, in_vp)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize, in_vp: bool) -> PResult<Filter> {
        let mut left = self.unary(depth, in_vp)?;
        while self.keyword("and")? {
            let right = self.unary(depth, in_vp)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn enter(&self, depth: usize, at: usize) -> PResult<usize> {
        if depth + 1 > MAX_DEPTH {
            return Err(self.err(at, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(depth + 1)
    }

    fn group(&mut self, depth: usize, in_vp: bool) -> PResult<Filter> {
        let (t, at) = self.next()?;
        if t != Tok::LParen {
            return Err(self.err(at, format!("expected '(' but found {}", describe(&t))));
        }
        let d = self.enter(depth, at)?;
        let f = self.or_expr(d, in_vp)?;
        match self.next()? {
            (Tok::RParen, _) => Ok(f),
            (t, at) => Err(self.err(at, format!("expected ')' but found {}", describe(&t)))),
        }
    }

    fn unary(&mut self, depth: usize, in_vp: bool) -> PResult<Filter> {
        let (t, at) = self.peek()?;
        match t {
            Tok::LParen => self.group(depth, in_vp),
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                // `not` is a keyword only when a group follows; otherwise it is an attribute.
                let after = self.lex_after_ws(at + w.len())?;
                if after == Tok::LParen {
                    self.next()?;
                    let d = self.enter(depth, at)?;
                    Ok(Filter::Not(Box::new(self.group(d, in_vp)?)))
                } else {
                    self.attr_expr(depth, in_vp)
                }
            }
            Tok::Word(_) => self.attr_expr(depth, in_vp),
            t => Err(self.err(
                at,
                format!(
                    "expected an attribute, '(' or 'not' but found {}",
                    describe(&t)
                ),
            )),
        }
    }

    fn lex_after_ws(&self, mut i: usize) -> PResult<Tok<'a>> {
        let bytes = self.src.as_bytes();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        Ok(self.lex_at(i)?.0)
    }

    /// Parses one attribute path token at the current position.
    pub(crate) fn attr_path(&mut self) -> PResult<AttrPath> {
        let (t, at) = self.next()?;
        match t {
            Tok::Word(w) => split_token(w).map_err(|m| self.err(at, m)),
            t => Err(self.err(
                at,
                format!("expected an attribute path but found {}", describe(&t)),
            )),
        }
    }

    fn count_term(&mut self, at: usize) -> PResult<()> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(self.err(at, format!("more than {MAX_TERMS} expressions")));
        }
        Ok(())
    }

    fn attr_expr(&mut self, depth: usize, in_vp: bool) -> PResult<Filter> {
        let (_, at) = self.peek()?;
        let path = self.attr_path()?;
        // A value filter follows the attribute directly: `emails[...]`.
        if self.src.as_bytes().get(self.pos) == Some(&b'[') {
            if in_vp {
                return Err(self.err(self.pos, "value filters cannot be nested"));
            }
            if path.sub.is_some() {
                return Err(self.err(
                    self.pos,
                    "a value filter must follow an attribute, not a sub-attribute",
                ));
            }
            self.pos += 1;
            // Value filters cannot nest, so brackets add no depth of their own; this also keeps
            // the parentheses that `Display` adds when normalising `x[a or b].c` within bounds.
            let inner = self.or_expr(depth, true)?;
            match self.next()? {
                (Tok::RBracket, _) => {}
                (t, at) => {
                    return Err(self.err(at, format!("expected ']' but found {}", describe(&t))))
                }
            }
            // Non-ABNF but widely sent: `emails[type eq "work"].value eq "x"`.
            if self.src.as_bytes().get(self.pos) == Some(&b'.') {
                let dot = self.pos;
                self.pos += 1;
                let (t, sat) = self.lex_at(self.pos)?;
                let Tok::Word(sub) = t else {
                    return Err(self.err(dot, "expected a sub-attribute name after '.'"));
                };
                self.pos = sat;
                if !crate::path::is_attr_name(sub) {
                    return Err(self.err(
                        dot + 1,
                        format!("{sub:?} is not a valid sub-attribute name"),
                    ));
                }
                let cond = self.condition(AttrPath::new(sub), dot)?;
                return Ok(Filter::ValuePath {
                    path,
                    filter: Box::new(Filter::And(Box::new(inner), Box::new(cond))),
                });
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        self.condition(path, at)
    }

    /// After a path: `pr` or `op value`.
    fn condition(&mut self, path: AttrPath, at: usize) -> PResult<Filter> {
        self.count_term(at)?;
        let (t, op_at) = self.next()?;
        let op = match t {
            Tok::Word(w) if w.eq_ignore_ascii_case("pr") => return Ok(Filter::Present(path)),
            Tok::Word(w) => CompareOp::parse(w)
                .ok_or_else(|| self.err(op_at, format!("unknown operator {w:?} after {path}")))?,
            t => {
                return Err(self.err(
                    op_at,
                    format!(
                        "expected an operator after {path} but found {}",
                        describe(&t)
                    ),
                ))
            }
        };
        let (t, vat) = self.next()?;
        let value = match t {
            Tok::Str(s) => CompValue::String(s),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            Tok::Word(w) if w.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                let n: serde_json::Number = serde_json::from_str(w)
                    .map_err(|_| self.err(vat, format!("invalid number {w:?}")))?;
                CompValue::Number(n)
            }
            Tok::Word(w) => {
                return Err(self.err(vat, format!("invalid value {w:?}: strings must be quoted")))
            }
            t => {
                return Err(self.err(
                    vat,
                    format!(
                        "expected a value after '{}' but found {}",
                        op.as_str(),
                        describe(&t)
                    ),
                ))
            }
        };
        Ok(Filter::Compare { path, op, value })
    }

    /// `attrPath` or `attrPath "[" valFilter "]" ["." subAttr]`.
    pub(crate) fn patch_path(&mut self) -> PResult<PatchPath> {
        let (t, at) = self.peek()?;
        if t == Tok::End {
            return Err(self.err(at, "empty path"));
        }
        let mut attr = self.attr_path()?;
        if self.src.as_bytes().get(self.pos) != Some(&b'[') {
            return Ok(PatchPath { attr, filter: None });
        }
        if attr.sub.is_some() {
            return Err(self.err(
                self.pos,
                "a value filter must follow an attribute, not a sub-attribute",
            ));
        }
        self.pos += 1;
        let inner = self.or_expr(0, true)?;
        match self.next()? {
            (Tok::RBracket, _) => {}
            (t, at) => return Err(self.err(at, format!("expected ']' but found {}", describe(&t)))),
        }
        if self.src.as_bytes().get(self.pos) == Some(&b'.') {
            let dot = self.pos;
            self.pos += 1;
            match self.lex_at(self.pos)? {
                (Tok::Word(sub), end) if crate::path::is_attr_name(sub) => {
                    self.pos = end;
                    attr.sub = Some(sub.to_string());
                }
                _ => return Err(self.err(dot + 1, "expected a sub-attribute name after '.'")),
            }
        }
        Ok(PatchPath {
            attr,
            filter: Some(inner),
        })
    }
}

fn describe(t: &Tok<'_>) -> String {
    match t {
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Word(w) => format!("{w:?}"),
        Tok::End => "end of input".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_binds_tighter() {
        let f = parse_filter(r#"a eq 1 or b eq 2 and c eq 3"#).unwrap();
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let deep = format!("{}a pr{}", "(".repeat(100_000 / 2), ")".repeat(100_000 / 2));
        assert!(parse_filter(&deep).is_err());
        let nots = "not (".repeat(1000) + "a pr" + &")".repeat(1000);
        let e = parse_filter(&nots).unwrap_err();
        assert!(e.message.contains("nesting"), "{e}");
    }

    #[test]
    fn error_offsets_point_at_problem() {
        let e = parse_filter(r#"userName eq "x" and"#).unwrap_err();
        assert_eq!(e.offset, 19);
        let e = parse_filter(r#"userName xx "x""#).unwrap_err();
        assert_eq!(e.offset, 9);
    }
}
