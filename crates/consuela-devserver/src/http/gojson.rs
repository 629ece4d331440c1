//! Go-compatible JSON decoding errors.
//!
//! Consul decodes bodies with Go's `encoding/json` into `interface{}` and then
//! with `mapstructure` into structs, and echoes both libraries' error texts in
//! 400 bodies (`Request decode failed: invalid character 'b' looking for
//! beginning of object key string`). Clients and the conformance suite match
//! on those texts, so this module reproduces them: a small scanner with Go's
//! messages, and [`Fields`], a typed field reader with mapstructure's.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Go's `quoteChar`.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        c => {
            let q = crate::gostr::go_quote(&char::from(c).to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

enum ScanError {
    Eof,
    Syntax(String),
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Result<u8, ScanError> {
        self.b.get(self.i).copied().ok_or(ScanError::Eof)
    }

    fn bad(c: u8, ctx: &str) -> ScanError {
        ScanError::Syntax(format!("invalid character {} {ctx}", quote_char(c)))
    }

    fn value(&mut self, depth: usize) -> Result<(), ScanError> {
        if depth > 10_000 {
            return Err(ScanError::Syntax("exceeded max depth".to_owned()));
        }
        self.ws();
        let c = self.peek()?;
        match c {
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    let c = self.peek()?;
                    if c != b'"' {
                        return Err(Self::bad(c, "looking for beginning of object key string"));
                    }
                    self.string()?;
                    self.ws();
                    let c = self.peek()?;
                    if c != b':' {
                        return Err(Self::bad(c, "after object key"));
                    }
                    self.i += 1;
                    self.value(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Ok(());
                        }
                        c => return Err(Self::bad(c, "after object key:value pair")),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.value(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Ok(());
                        }
                        c => return Err(Self::bad(c, "after array element")),
                    }
                }
            }
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            c => Err(Self::bad(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), ScanError> {
        for (k, w) in word.bytes().enumerate() {
            let c = self.peek()?;
            if c != w {
                let _ = k;
                return Err(Self::bad(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(w)),
                ));
            }
            self.i += 1;
        }
        Ok(())
    }

    fn string(&mut self) -> Result<(), ScanError> {
        self.i += 1; // opening quote
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Ok(()),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            for _ in 0..4 {
                                let h = self.peek()?;
                                if !h.is_ascii_hexdigit() {
                                    return Err(Self::bad(
                                        h,
                                        "in \\u hexadecimal character escape",
                                    ));
                                }
                                self.i += 1;
                            }
                        }
                        e => return Err(Self::bad(e, "in string escape code")),
                    }
                }
                c if c < 0x20 => return Err(Self::bad(c, "in string literal")),
                _ => {}
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), ScanError> {
        if self.peek()? == b'-' {
            self.i += 1;
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(Self::bad(c, "in numeric literal"));
            }
        }
        if self.peek()? == b'0' {
            self.i += 1;
        } else {
            self.digits();
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(Self::bad(c, "after decimal point in numeric literal"));
            }
            self.digits();
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek()?, b'+' | b'-') {
                self.i += 1;
            }
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(Self::bad(c, "in exponent of numeric literal"));
            }
            self.digits();
        }
        Ok(())
    }
}

/// Decodes the first JSON value in `body` like Go's `json.Decoder.Decode`:
/// `EOF` for an empty body, `unexpected EOF` for a truncated one, Go's
/// `invalid character ...` texts, and anything after the value ignored.
pub(crate) fn decode_first(body: &[u8]) -> Result<Value, String> {
    let mut s = Scanner { b: body, i: 0 };
    s.ws();
    if s.i == body.len() {
        return Err("EOF".to_owned());
    }
    let start = s.i;
    match s.value(0) {
        Ok(()) => {}
        Err(ScanError::Eof) => return Err("unexpected EOF".to_owned()),
        Err(ScanError::Syntax(m)) => return Err(m),
    }
    let raw = &body[start..s.i];
    serde_json::from_slice(raw)
        .or_else(|_| serde_json::from_str(&String::from_utf8_lossy(raw)))
        .map_err(|e| format!("invalid JSON: {e}"))
}

/// The Go type name mapstructure prints for a decoded JSON value.
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The Go kind name (`reflect.Kind`) of a decoded JSON value.
pub(crate) fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "invalid",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

/// Looks a field up as Go does: exact name first, then case-insensitively.
pub(crate) fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<(&'a String, &'a Value)> {
    m.get_key_value(name)
        .or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
}

/// Reads typed fields out of a JSON object, collecting mapstructure-style
/// errors. `null` or a missing field reads as `None` (the default stays).
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
    pub(crate) errors: Vec<String>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(map: &'a Map<String, Value>, prefix: &str) -> Self {
        Self {
            map,
            prefix: prefix.to_owned(),
            errors: Vec::new(),
        }
    }

    /// A collector of errors gathered elsewhere (for [`Fields::finish`]).
    pub(crate) fn new_empty() -> Fields<'static> {
        static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
        Fields::new(&EMPTY, "")
    }

    fn name(&self, f: &str) -> String {
        if self.prefix.is_empty() {
            f.to_owned()
        } else {
            format!("{}.{f}", self.prefix)
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        field(self.map, name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    fn mismatch(&mut self, name: &str, ty: &str, v: &Value) {
        let n = self.name(name);
        self.errors.push(format!(
            "'{n}' expected type '{ty}', got unconvertible type '{}'",
            go_type(v)
        ));
    }

    pub(crate) fn string(&mut self, name: &str) -> Option<String> {
        self.string_as(name, "string")
    }

    /// A string field whose Go type is `ty` (e.g. `api.KVOp`), for errors.
    pub(crate) fn string_as(&mut self, name: &str, ty: &str) -> Option<String> {
        let v = self.get(name)?;
        match v {
            Value::String(s) => Some(s.clone()),
            v => {
                self.mismatch(name, ty, v);
                None
            }
        }
    }

    #[allow(clippy::cast_possible_truncation)]
    pub(crate) fn int(&mut self, name: &str, ty: &str) -> Option<i64> {
        let v = self.get(name)?;
        match v {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            v => {
                self.mismatch(name, ty, v);
                None
            }
        }
    }

    /// An unsigned integer over the whole `u64` range (the Go semaphore's
    /// flags exceed `i64`); `None` for a negative or non-numeric value.
    pub(crate) fn uint(&mut self, name: &str, ty: &str) -> Option<u64> {
        let v = self.get(name)?;
        match v {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_i64().and_then(|i| u64::try_from(i).ok())),
            v => {
                self.mismatch(name, ty, v);
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, name: &str) -> Option<bool> {
        let v = self.get(name)?;
        match v {
            Value::Bool(b) => Some(*b),
            v => {
                self.mismatch(name, "bool", v);
                None
            }
        }
    }

    /// A list of strings; `elem` is the Go element type for error texts.
    pub(crate) fn strings(&mut self, name: &str, elem: &str) -> Option<Vec<String>> {
        let v = self.get(name)?;
        let Value::Array(items) = v else {
            let n = self.name(name);
            self.errors.push(format!(
                "'{n}': source data must be an array or slice, got {}",
                go_kind(v)
            ));
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                Value::Null => out.push(String::new()),
                v => {
                    let n = format!("{}[{i}]", self.name(name));
                    self.errors.push(format!(
                        "'{n}' expected type '{elem}', got unconvertible type '{}'",
                        go_type(v)
                    ));
                }
            }
        }
        Some(out)
    }

    pub(crate) fn string_map(&mut self, name: &str) -> Option<BTreeMap<String, String>> {
        let v = self.get(name)?;
        let Value::Object(m) = v else {
            let n = self.name(name);
            self.errors
                .push(format!("'{n}' expected a map, got '{}'", go_kind(v)));
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            match v {
                Value::String(s) => {
                    out.insert(k.clone(), s.clone());
                }
                v => {
                    let n = format!("{}[{k}]", self.name(name));
                    self.errors.push(format!(
                        "'{n}' expected type 'string', got unconvertible type '{}'",
                        go_type(v)
                    ));
                }
            }
        }
        Some(out)
    }

    /// mapstructure's aggregate error text, if any field failed.
    pub(crate) fn finish(mut self) -> Result<(), String> {
        if self.errors.is_empty() {
            return Ok(());
        }
        self.errors.sort();
        let points: Vec<String> = self.errors.iter().map(|e| format!("* {e}")).collect();
        Err(format!(
            "{} error(s) decoding:\n\n{}",
            self.errors.len(),
            points.join("\n")
        ))
    }
}

/// The error for a top-level value that is not an object (`null` is fine).
pub(crate) fn expect_object(v: &Value) -> Result<Option<&Map<String, Value>>, String> {
    match v {
        Value::Object(m) => Ok(Some(m)),
        Value::Null => Ok(None),
        v => Err(format!("'' expected a map, got '{}'", go_kind(v))),
    }
}

#[cfg(test)]
mod tests;
