//! The oslo.policy check-string language, parsed into a [`Check`] tree.
//!
//! Tokens are split on whitespace; leading `(` and trailing `)` are peeled off each token,
//! and `and`, `or`, `not` (any case) are operators with the usual precedence
//! `not` > `and` > `or`. Everything else is a check: `@` (always), `!` (never),
//! `rule:<name>`, `role:<name>`, or a generic `<left>:<right>` where `<left>` is a
//! credential attribute path (`user_id`, `token.domain.id`) or a Python literal
//! (`'member'`, `None`, `True`, `1`) and `<right>` may hold `%(key)s` target substitutions.
//! The empty check string means "always". Where oslo.policy would log an unparsable rule and
//! fail closed, this parser returns an error instead.

/// Deepest nesting of parentheses and `not` accepted, so hostile input cannot blow the stack.
const MAX_NESTING: usize = 100;

/// A parsed check string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Check {
    /// `@`, or the empty check string.
    Always,
    /// `!`.
    Never,
    /// `rule:<name>`: evaluate another rule.
    Rule(String),
    /// `role:<name>`: the caller holds the role (case-insensitive).
    Role(Template),
    /// `<left>:<right>`.
    Generic {
        left: Left,
        right: Template,
    },
    Not(Box<Check>),
    And(Vec<Check>),
    Or(Vec<Check>),
}

/// The left side of a generic check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Left {
    /// A literal (`'member'`, `None`, `True`, `1`), compared as its Python `str()`.
    Literal(String),
    /// A dotted credential attribute path (`user_id`, `token.project.domain.id`).
    Credential(String),
}

/// The right side of a check: literal text with `%(key)s` substitutions from the target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Key(String),
}

impl Template {
    /// Parses Python `%`-formatting restricted to `%(key)s` and `%%`.
    fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('%') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                literal.push('%');
                rest = tail;
            } else if let Some(inner) = after.strip_prefix('(') {
                let close = inner
                    .find(")s")
                    .ok_or_else(|| format!("unterminated substitution in {text:?}"))?;
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Key(inner[..close].to_owned()));
                rest = &inner[close + 2..];
            } else {
                return Err(format!(
                    "unsupported '%' format in {text:?}; use %(key)s or %%"
                ));
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template(pieces))
    }

    /// Substitutes target values; `None` when a referenced key is missing.
    pub(crate) fn render(&self, target: &crate::Target) -> Option<String> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Key(k) => out.push_str(target.get(k)?),
            }
        }
        Some(out)
    }
}

/// Parses a check string.
pub(crate) fn parse(text: &str) -> Result<Check, String> {
    if text.is_empty() {
        return Ok(Check::Always);
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("no check in a non-empty check string".into());
    }
    let mut parser = Parser {
        tokens: &tokens,
        pos: 0,
    };
    let check = parser.or_expr(0)?;
    match parser.peek() {
        None => Ok(check),
        Some(Token::RParen) => Err("unbalanced ')'".into()),
        Some(t) => Err(format!(
            "unexpected {} after a complete expression",
            t.describe()
        )),
    }
}

/// Translates the legacy list-of-lists form: the outer list is joined by `or`, each inner
/// list by `and`; an empty outer list means "always" (as in oslo.policy).
pub(crate) fn parse_list(items: &[Vec<String>]) -> Result<Check, String> {
    if items.is_empty() {
        return Ok(Check::Always);
    }
    let mut any = Vec::new();
    for inner in items.iter().filter(|inner| !inner.is_empty()) {
        let mut all = inner
            .iter()
            .map(|s| parse_single(s))
            .collect::<Result<Vec<_>, _>>()?;
        any.push(if all.len() == 1 {
            all.remove(0)
        } else {
            Check::And(all)
        });
    }
    Ok(match any.len() {
        0 => Check::Never,
        1 => any.remove(0),
        _ => Check::Or(any),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Check(Check),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::LParen => "'('".into(),
            Token::RParen => "')'".into(),
            Token::And => "'and'".into(),
            Token::Or => "'or'".into(),
            Token::Not => "'not'".into(),
            Token::Check(c) => format!("check {c:?}"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    for word in text.split_whitespace() {
        let clean = word.trim_start_matches('(');
        tokens.extend(std::iter::repeat_n(Token::LParen, word.len() - clean.len()));
        if clean.is_empty() {
            continue;
        }
        let core = clean.trim_end_matches(')');
        let closing = clean.len() - core.len();
        if !core.is_empty() {
            tokens.push(match core.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => Token::Not,
                _ if is_quoted(clean) => {
                    return Err(format!("a bare quoted string {clean} is not a check"))
                }
                _ => Token::Check(parse_single(core)?),
            });
        }
        tokens.extend(std::iter::repeat_n(Token::RParen, closing));
    }
    Ok(tokens)
}

fn is_quoted(s: &str) -> bool {
    s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
}

/// Parses one check (no operators or parentheses).
fn parse_single(text: &str) -> Result<Check, String> {
    match text {
        "@" => return Ok(Check::Always),
        "!" => return Ok(Check::Never),
        _ => {}
    }
    let (kind, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not of the form kind:value"))?;
    Ok(match kind {
        "rule" => Check::Rule(value.to_owned()),
        "role" => Check::Role(Template::parse(value)?),
        _ => Check::Generic {
            left: parse_left(kind),
            right: Template::parse(value)?,
        },
    })
}

/// What `ast.literal_eval` would accept on the left of a generic check, as its `str()`.
fn parse_left(kind: &str) -> Left {
    if is_quoted(kind) {
        return Left::Literal(kind[1..kind.len() - 1].to_owned());
    }
    if matches!(kind, "None" | "True" | "False") {
        return Left::Literal(kind.to_owned());
    }
    match kind.parse::<i64>() {
        Ok(n) => Left::Literal(n.to_string()),
        Err(_) => Left::Credential(kind.to_owned()),
    }
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.pos);
        self.pos += 1;
        token
    }

    fn or_expr(&mut self, depth: usize) -> Result<Check, String> {
        let mut any = vec![self.and_expr(depth)?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            any.push(self.and_expr(depth)?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Check::Or(any)
        })
    }

    fn and_expr(&mut self, depth: usize) -> Result<Check, String> {
        let mut all = vec![self.unary(depth)?];
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            all.push(self.unary(depth)?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Check::And(all)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Check, String> {
        if depth > MAX_NESTING {
            return Err(format!("nested deeper than {MAX_NESTING} levels"));
        }
        match self.next().cloned() {
            Some(Token::Not) => Ok(Check::Not(Box::new(self.unary(depth + 1)?))),
            Some(Token::LParen) => {
                let inner = self.or_expr(depth + 1)?;
                match self.next() {
                    Some(Token::RParen) => Ok(inner),
                    Some(t) => Err(format!("expected ')' but found {}", t.describe())),
                    None => Err("missing ')'".into()),
                }
            }
            Some(Token::Check(check)) => Ok(check),
            Some(t) => Err(format!("expected a check but found {}", t.describe())),
            None => Err("expected a check but the string ended".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> Check {
        Check::Role(Template::parse(name).unwrap())
    }

    #[test]
    fn specials_and_empty() {
        assert_eq!(parse("").unwrap(), Check::Always);
        assert_eq!(parse("@").unwrap(), Check::Always);
        assert_eq!(parse("!").unwrap(), Check::Never);
        assert!(parse("   ").is_err());
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let parsed = parse("role:a or role:b and not role:c").unwrap();
        let expected = Check::Or(vec![
            role("a"),
            Check::And(vec![role("b"), Check::Not(Box::new(role("c")))]),
        ]);
        assert_eq!(parsed, expected);

        let parsed = parse("role:a and role:b or role:c").unwrap();
        let expected = Check::Or(vec![Check::And(vec![role("a"), role("b")]), role("c")]);
        assert_eq!(parsed, expected);
    }

    #[test]
    fn parentheses_group_and_are_peeled_from_words() {
        let parsed = parse("((role:a or role:b)) and not (role:c)").unwrap();
        let expected = Check::And(vec![
            Check::Or(vec![role("a"), role("b")]),
            Check::Not(Box::new(role("c"))),
        ]);
        assert_eq!(parsed, expected);
        // A substitution's own parentheses survive peeling.
        let parsed = parse("(project_id:%(target.project.id)s)").unwrap();
        assert!(matches!(parsed, Check::Generic { .. }));
    }

    #[test]
    fn operators_are_case_insensitive() {
        assert_eq!(
            parse("role:a AND NOT role:b").unwrap(),
            parse("role:a and not role:b").unwrap()
        );
    }

    #[test]
    fn left_literals_follow_python_literal_eval() {
        let left = |s: &str| match parse(s).unwrap() {
            Check::Generic { left, .. } => left,
            other => panic!("not generic: {other:?}"),
        };
        assert_eq!(
            left("'member':%(role.name)s"),
            Left::Literal("member".into())
        );
        assert_eq!(left("\"member\":x"), Left::Literal("member".into()));
        assert_eq!(left("None:%(x)s"), Left::Literal("None".into()));
        assert_eq!(left("True:%(x)s"), Left::Literal("True".into()));
        assert_eq!(left("1:%(x)s"), Left::Literal("1".into()));
        assert_eq!(
            left("token.domain.id:%(x)s"),
            Left::Credential("token.domain.id".into())
        );
    }

    #[test]
    fn value_keeps_everything_after_the_first_colon() {
        assert_eq!(parse("role:compute:admin").unwrap(), role("compute:admin"));
    }

    #[test]
    fn templates_substitute_and_escape() {
        let t = Template::parse("a-%(x)s-%%-%(y.z)s").unwrap();
        let target = crate::target(&[("x", "1"), ("y.z", "2")]);
        assert_eq!(t.render(&target).as_deref(), Some("a-1-%-2"));
        assert_eq!(t.render(&crate::target(&[("x", "1")])), None);
        assert!(Template::parse("%(x)d").is_err());
        assert!(Template::parse("%(x").is_err());
        assert!(Template::parse("50%").is_err());
    }

    #[test]
    fn malformed_strings_are_errors() {
        for bad in [
            "role:a and",
            "or role:a",
            "(role:a",
            "role:a)",
            "()",
            "not",
            "role:a role:b",
            "admin",
            "'quoted'",
            "role:a and and role:b",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}role:a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).is_err());
        let nots = format!("{}role:a", "not ".repeat(10_000));
        assert!(parse(&nots).is_err());
    }

    #[test]
    fn legacy_lists() {
        let list = vec![
            vec!["role:a".to_owned(), "role:b".to_owned()],
            vec!["role:c".to_owned()],
        ];
        let expected = Check::Or(vec![Check::And(vec![role("a"), role("b")]), role("c")]);
        assert_eq!(parse_list(&list).unwrap(), expected);
        assert_eq!(parse_list(&[]).unwrap(), Check::Always);
        assert_eq!(parse_list(&[vec![]]).unwrap(), Check::Never);
    }
}
