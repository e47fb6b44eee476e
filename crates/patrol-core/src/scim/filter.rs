//! SCIM filters (RFC 7644 §3.4.2.2): `userName eq "bjensen"`,
//! `emails[type eq "work" and value co "@example.com"]`, `not (…)`, `pr`,
//! `and`/`or` with the usual precedence. Parsed into a [`Filter`] and
//! evaluated against a resource's JSON. String comparisons ignore case
//! except for `id` and `externalId` (`caseExact` in RFC 7643).

use serde_json::{Map, Value};

use super::{strip_urn, ScimError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr op value`.
    Compare(String, CompareOp, Value),
    /// `attr pr`.
    Present(String),
    /// `attr[filter]`: some element of the multi-valued `attr` matches.
    ValuePath(String, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn bad(msg: impl Into<String>) -> ScimError {
    ScimError::InvalidFilter(msg.into())
}

fn tokenize(s: &str) -> Result<Vec<Tok>, ScimError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    '[' => Tok::OpenBracket,
                    _ => Tok::CloseBracket,
                });
            }
            '"' => {
                // A JSON string: find its closing quote, escapes included.
                let mut end = None;
                let mut escaped = false;
                for (j, d) in s[i + 1..].char_indices() {
                    match d {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => {
                            end = Some(i + 1 + j);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| bad("unterminated string"))?;
                let text: String = serde_json::from_str(&s[i..=end])
                    .map_err(|_| bad("invalid string in filter"))?;
                out.push(Tok::Str(text));
                while chars.peek().is_some_and(|&(k, _)| k <= end) {
                    chars.next();
                }
            }
            _ => {
                let mut word = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_whitespace() || matches!(d, '(' | ')' | '[' | ']' | '"') {
                        break;
                    }
                    word.push(d);
                    chars.next();
                }
                out.push(Tok::Word(word));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn group(&mut self) -> Result<Filter, ScimError> {
        let f = self.or()?;
        match self.next() {
            Some(Tok::Close) => Ok(f),
            _ => Err(bad("missing ')'")),
        }
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.keyword("not") {
            self.pos += 1;
            return match self.next() {
                Some(Tok::Open) => Ok(Filter::Not(Box::new(self.group()?))),
                _ => Err(bad("'not' must be followed by '('")),
            };
        }
        match self.next() {
            Some(Tok::Open) => self.group(),
            Some(Tok::Word(attr)) => self.after_attr(attr),
            _ => Err(bad("expected an attribute")),
        }
    }

    fn after_attr(&mut self, attr: String) -> Result<Filter, ScimError> {
        let attr = valid_attr(&attr)?;
        if self.peek() == Some(&Tok::OpenBracket) {
            self.pos += 1;
            let inner = self.or()?;
            if self.next() != Some(Tok::CloseBracket) {
                return Err(bad("missing ']'"));
            }
            return Ok(Filter::ValuePath(attr, Box::new(inner)));
        }
        let op = match self.next() {
            Some(Tok::Word(w)) => w.to_ascii_lowercase(),
            _ => return Err(bad(format!("expected an operator after {attr}"))),
        };
        if op == "pr" {
            return Ok(Filter::Present(attr));
        }
        let op = match op.as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            other => return Err(bad(format!("unknown operator '{other}'"))),
        };
        let value = match self.next() {
            Some(Tok::Str(s)) => Value::String(s),
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| bad(format!("invalid comparison value '{w}'")))?,
            },
            _ => return Err(bad("expected a comparison value")),
        };
        Ok(Filter::Compare(attr, op, value))
    }
}

fn valid_attr(attr: &str) -> Result<String, ScimError> {
    let a = strip_urn(attr);
    let ok = !a.is_empty()
        && a.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
        });
    if ok {
        Ok(a.to_owned())
    } else {
        Err(bad(format!("invalid attribute name '{attr}'")))
    }
}

impl Filter {
    pub fn parse(s: &str) -> Result<Filter, ScimError> {
        let mut p = Parser {
            toks: tokenize(s)?,
            pos: 0,
        };
        if p.toks.is_empty() {
            return Err(bad("empty filter"));
        }
        let f = p.or()?;
        if p.pos != p.toks.len() {
            return Err(bad("unexpected text after the filter"));
        }
        Ok(f)
    }

    /// `attr eq "value"` on exactly `attr` (case-insensitive name): the
    /// value, for lookups a store can answer by index.
    pub fn equality_on(&self, attr: &str) -> Option<&str> {
        match self {
            Filter::Compare(a, CompareOp::Eq, Value::String(v)) if a.eq_ignore_ascii_case(attr) => {
                Some(v)
            }
            _ => None,
        }
    }

    /// Does the resource (or an element of a multi-valued attribute) match?
    pub fn matches(&self, resource: &Map<String, Value>) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(f) => !f.matches(resource),
            Filter::Present(attr) => values_at(resource, attr).iter().any(|v| present(v)),
            Filter::Compare(attr, op, want) => {
                let exact = case_exact(attr);
                let found = values_at(resource, attr);
                if *op == CompareOp::Eq && want.is_null() {
                    return found.iter().all(|v| !present(v));
                }
                found.iter().any(|v| compare(v, *op, want, exact))
            }
            Filter::ValuePath(attr, inner) => values_at(resource, attr).iter().any(|v| match v {
                Value::Object(m) => inner.matches(m),
                _ => false,
            }),
        }
    }
}

fn case_exact(attr: &str) -> bool {
    attr.eq_ignore_ascii_case("id") || attr.eq_ignore_ascii_case("externalId")
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The values at a dotted path; a multi-valued attribute on the way fans out.
fn values_at<'a>(resource: &'a Map<String, Value>, path: &str) -> Vec<&'a Value> {
    let mut current: Vec<&Value> = Vec::new();
    let mut parts = path.split('.');
    let Some(first) = parts.next() else {
        return current;
    };
    if let Some(v) = get_ci(resource, first) {
        current.push(v);
    }
    for part in parts {
        let mut next = Vec::new();
        for v in current {
            match v {
                Value::Object(m) => next.extend(get_ci(m, part)),
                Value::Array(items) => next.extend(
                    items
                        .iter()
                        .filter_map(|i| i.as_object().and_then(|m| get_ci(m, part))),
                ),
                _ => {}
            }
        }
        current = next;
    }
    current
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .collect()
}

/// `key` of a JSON object, its name compared case-insensitively.
pub fn get_ci_value<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object().and_then(|m| get_ci(m, key))
}

/// `key` of `m`, compared case-insensitively (SCIM attribute names).
pub fn get_ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn compare(have: &Value, op: CompareOp, want: &Value, exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering = match (have, want) {
        (Value::String(h), Value::String(w)) => {
            let (h, w) = if exact {
                (h.clone(), w.clone())
            } else {
                (h.to_lowercase(), w.to_lowercase())
            };
            match op {
                CompareOp::Co => return h.contains(&w),
                CompareOp::Sw => return h.starts_with(&w),
                CompareOp::Ew => return h.ends_with(&w),
                _ => Some(h.cmp(&w)),
            }
        }
        (Value::Bool(h), Value::Bool(w)) => match op {
            CompareOp::Eq | CompareOp::Ne => Some(h.cmp(w)),
            _ => None,
        },
        (Value::Number(h), Value::Number(w)) => match (h.as_f64(), w.as_f64()) {
            (Some(h), Some(w)) => h.partial_cmp(&w),
            _ => None,
        },
        _ => None,
    };
    let Some(o) = ordering else {
        return op == CompareOp::Ne;
    };
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
