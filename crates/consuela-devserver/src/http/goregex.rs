//! Go's `regexp.Compile` for the filters Consul compiles (event node,
//! service and tag filters): RE2 syntax through the `regex` crate, with Go's
//! error texts (`error parsing regexp: missing closing ): ...`).

use regex::Regex;
use regex_syntax::ast::ErrorKind;

/// Compiles `pat` as Go would, or answers Go's error text.
pub(crate) fn compile(pat: &str) -> Result<Regex, String> {
    if let Err(e) = regex_syntax::ast::parse::Parser::new().parse(pat) {
        let span = e.span();
        // An empty span points at one character: the operator itself.
        let at = |start: usize, end: usize| {
            let end = if end > start {
                end
            } else {
                pat[start..]
                    .chars()
                    .next()
                    .map_or(start, |c| start + c.len_utf8())
            };
            pat.get(start..end).unwrap_or(pat)
        };
        let (code, expr) = match e.kind() {
            ErrorKind::GroupUnclosed => ("missing closing )", pat),
            ErrorKind::GroupUnopened => ("unexpected )", pat),
            ErrorKind::ClassUnclosed => ("missing closing ]", at(span.start.offset, pat.len())),
            ErrorKind::RepetitionMissing => (
                "missing argument to repetition operator",
                at(span.start.offset, span.end.offset),
            ),
            ErrorKind::EscapeUnrecognized
            | ErrorKind::EscapeUnexpectedEof
            | ErrorKind::EscapeHexEmpty
            | ErrorKind::EscapeHexInvalid
            | ErrorKind::EscapeHexInvalidDigit => (
                "invalid escape sequence",
                at(span.start.offset, span.end.offset),
            ),
            ErrorKind::ClassRangeInvalid | ErrorKind::ClassRangeLiteral => (
                "invalid character class range",
                at(span.start.offset, span.end.offset),
            ),
            ErrorKind::RepetitionCountInvalid
            | ErrorKind::RepetitionCountUnclosed
            | ErrorKind::RepetitionCountDecimalEmpty
            | ErrorKind::DecimalEmpty
            | ErrorKind::DecimalInvalid => (
                "invalid repeat count",
                at(span.start.offset, span.end.offset),
            ),
            _ => (
                "invalid or unsupported Perl syntax",
                at(span.start.offset, span.end.offset),
            ),
        };
        return Err(format!("error parsing regexp: {code}: `{expr}`"));
    }
    Regex::new(pat).map_err(|_| format!("error parsing regexp: expression too large: `{pat}`"))
}

#[cfg(test)]
mod tests {
    use super::compile;

    #[test]
    fn go_error_texts() {
        assert_eq!(
            compile("a(b").unwrap_err(),
            "error parsing regexp: missing closing ): `a(b`"
        );
        assert_eq!(
            compile("a)").unwrap_err(),
            "error parsing regexp: unexpected ): `a)`"
        );
        assert_eq!(
            compile("x[ab").unwrap_err(),
            "error parsing regexp: missing closing ]: `[ab`"
        );
        assert_eq!(
            compile("*").unwrap_err(),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
    }

    #[test]
    fn matches_are_unanchored() {
        let r = compile("conf-.*").unwrap();
        assert!(r.is_match("x-conf-1"));
        assert!(!r.is_match("consuela-dev"));
    }
}
