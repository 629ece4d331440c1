//! ACL rules (Consul 1.0.8's legacy ACL system): parsing HCL or JSON rules
//! into a policy, and deciding what a token may do.

use std::collections::BTreeMap;

/// A rule's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Deny,
    Read,
    List,
    Write,
}

impl Level {
    fn parse(s: &str, list_ok: bool) -> Option<Self> {
        match s {
            "deny" => Some(Self::Deny),
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            "list" if list_ok => Some(Self::List),
            _ => None,
        }
    }
}

/// The resource kinds rules name by prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Key,
    Service,
    Node,
    Event,
    Query,
    Session,
    Agent,
}

impl Kind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "key" => Self::Key,
            "service" => Self::Service,
            "node" => Self::Node,
            "event" => Self::Event,
            "query" => Self::Query,
            "session" => Self::Session,
            "agent" => Self::Agent,
            _ => return None,
        })
    }

    /// Go's `%#v` of the policy struct Consul reports an invalid rule with.
    fn go_struct(self, name: &str, policy: &str) -> String {
        let (ty, field, sentinel) = match self {
            Self::Key => ("KeyPolicy", "Prefix", true),
            Self::Service => ("ServicePolicy", "Name", true),
            Self::Node => ("NodePolicy", "Name", true),
            Self::Event => ("EventPolicy", "Event", false),
            Self::Query => ("PreparedQueryPolicy", "Prefix", false),
            Self::Session => ("SessionPolicy", "Node", false),
            Self::Agent => ("AgentPolicy", "Node", false),
        };
        let q = crate::gostr::go_quote;
        let tail = if sentinel {
            ", Sentinel:acl.Sentinel{Code:\"\", EnforcementLevel:\"\"}"
        } else {
            ""
        };
        format!(
            "&acl.{ty}{{{field}:{}, Policy:{}{tail}}}",
            q(name),
            q(policy)
        )
    }

    fn label(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Service => "service",
            Self::Node => "node",
            Self::Event => "event",
            Self::Query => "query",
            Self::Session => "session",
            Self::Agent => "agent",
        }
    }
}

/// Parsed rules: per kind, prefix → level; plus `operator` and `keyring`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    prefixes: BTreeMap<Kind, BTreeMap<String, Level>>,
    operator: Option<Level>,
    keyring: Option<Level>,
}

/// A raw rule before validation: `kind "name" { policy = "p" }` or
/// `operator = "p"`.
enum Raw {
    Prefixed(String, String, String),
    Single(String, String),
}

impl Policy {
    /// `acl.Parse`: HCL (or its JSON form); `Err` is Consul's text.
    pub(crate) fn parse(rules: &str) -> Result<Self, String> {
        let trimmed = rules.trim();
        if trimmed.is_empty() {
            return Ok(Self::default());
        }
        let raw = if trimmed.starts_with('{') {
            parse_json(trimmed)
        } else {
            parse_hcl(trimmed)
        }
        .map_err(|e| format!("Failed to parse ACL rules: {e}"))?;
        let mut p = Self::default();
        for r in raw {
            match r {
                Raw::Prefixed(kind, name, policy) => {
                    let Some(k) = Kind::parse(&kind) else {
                        continue; // unknown sections are ignored by the HCL decode
                    };
                    let level = Level::parse(&policy, k == Kind::Key).ok_or_else(|| {
                        format!(
                            "Invalid {} policy: {}",
                            k.label(),
                            k.go_struct(&name, &policy)
                        )
                    })?;
                    p.prefixes.entry(k).or_default().insert(name, level);
                }
                Raw::Single(key, policy) => {
                    let slot = match key.as_str() {
                        "operator" => &mut p.operator,
                        "keyring" => &mut p.keyring,
                        _ => continue,
                    };
                    let level = Level::parse(&policy, false).ok_or_else(|| {
                        format!("Invalid {key} policy: {}", crate::gostr::go_quote(&policy))
                    })?;
                    *slot = Some(level);
                }
            }
        }
        Ok(p)
    }
}

fn parse_json(s: &str) -> Result<Vec<Raw>, String> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let Some(top) = v.as_object() else {
        return Err("rules must be an object".to_owned());
    };
    for (kind, body) in top {
        match body {
            serde_json::Value::String(p) => out.push(Raw::Single(kind.clone(), p.clone())),
            serde_json::Value::Object(items) => {
                for (name, rule) in items {
                    let policy = rule
                        .get("policy")
                        .and_then(|p| p.as_str())
                        .unwrap_or("")
                        .to_owned();
                    out.push(Raw::Prefixed(kind.clone(), name.clone(), policy));
                }
            }
            _ => return Err(format!("unexpected value for {kind}")),
        }
    }
    Ok(out)
}

/// HCL tokens of the rule language.
#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Open,
    Close,
    Assign,
}

fn lex(s: &str) -> Result<Vec<(Tok, usize, usize)>, String> {
    let mut out = Vec::new();
    let (mut line, mut col) = (1usize, 1usize);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let here = (line, col);
        col += 1;
        match c {
            '\n' => {
                line += 1;
                col = 1;
            }
            c if c.is_whitespace() || c == ',' => {}
            '#' => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '{' => out.push((Tok::Open, here.0, here.1)),
            '}' => out.push((Tok::Close, here.0, here.1)),
            '=' => out.push((Tok::Assign, here.0, here.1)),
            '"' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(format!(
                                "At {}:{}: literal not terminated",
                                here.0, here.1
                            ));
                        }
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => text.push('\n'),
                            Some(e) => text.push(e),
                            None => {
                                return Err(format!(
                                    "At {}:{}: literal not terminated",
                                    here.0, here.1
                                ));
                            }
                        },
                        Some(ch) => text.push(ch),
                    }
                    col += 1;
                }
                out.push((Tok::Str(text), here.0, here.1));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = String::from(c);
                while chars
                    .peek()
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                {
                    word.push(chars.next().unwrap_or_default());
                    col += 1;
                }
                out.push((Tok::Ident(word), here.0, here.1));
            }
            other => return Err(format!("At {}:{}: illegal char {other:?}", here.0, here.1)),
        }
    }
    Ok(out)
}

fn parse_hcl(s: &str) -> Result<Vec<Raw>, String> {
    let toks = lex(s)?;
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| {
        toks.get(i)
            .map_or_else(|| "At EOF".to_owned(), |(_, l, c)| format!("At {l}:{c}"))
    };
    while i < toks.len() {
        let Tok::Ident(kind) = &toks[i].0 else {
            return Err(format!("{}: expected a rule", at(i)));
        };
        match toks.get(i + 1).map(|t| &t.0) {
            Some(Tok::Assign) => {
                let Some(Tok::Str(v)) = toks.get(i + 2).map(|t| &t.0) else {
                    return Err(format!("{}: expected a string", at(i + 2)));
                };
                out.push(Raw::Single(kind.clone(), v.clone()));
                i += 3;
            }
            Some(Tok::Str(name)) => {
                if toks.get(i + 2).map(|t| &t.0) != Some(&Tok::Open) {
                    return Err(format!("{}: expected '{{'", at(i + 2)));
                }
                let mut j = i + 3;
                let mut policy = String::new();
                loop {
                    match toks.get(j).map(|t| &t.0) {
                        Some(Tok::Close) => break,
                        Some(Tok::Ident(field)) => {
                            let (Some(Tok::Assign), Some(Tok::Str(v))) =
                                (toks.get(j + 1).map(|t| &t.0), toks.get(j + 2).map(|t| &t.0))
                            else {
                                return Err(format!("{}: expected '= \"...\"'", at(j + 1)));
                            };
                            if field == "policy" {
                                policy = v.clone();
                            }
                            j += 3;
                        }
                        _ => return Err(format!("{}: expected '}}'", at(j))),
                    }
                }
                out.push(Raw::Prefixed(kind.clone(), name.clone(), policy));
                i = j + 1;
            }
            _ => return Err(format!("{}: expected a name or '='", at(i + 1))),
        }
    }
    Ok(out)
}

/// What a request's token may do.
#[derive(Debug, Clone)]
pub(crate) enum Authz {
    /// ACLs off, or a management token: everything.
    All,
    /// A client token (or the anonymous one) on top of the default policy.
    /// Without `enforce_v8`, node, session and agent rules are not checked.
    Rules {
        policy: Policy,
        default_allow: bool,
        enforce_v8: bool,
    },
}

impl Authz {
    fn level(&self, kind: Kind, name: &str) -> Option<Option<Level>> {
        match self {
            Self::All => None,
            Self::Rules {
                enforce_v8: false, ..
            } if matches!(kind, Kind::Node | Kind::Session | Kind::Agent) => None,
            Self::Rules { policy, .. } => Some(
                policy
                    .prefixes
                    .get(&kind)
                    .and_then(|m| {
                        m.iter()
                            .filter(|(p, _)| name.starts_with(p.as_str()))
                            .max_by_key(|(p, _)| p.len())
                    })
                    .map(|(_, l)| *l),
            ),
        }
    }

    fn default_allow(&self) -> bool {
        match self {
            Self::All => true,
            Self::Rules { default_allow, .. } => *default_allow,
        }
    }

    /// May read `name` of `kind` (longest matching prefix, else the default).
    pub(crate) fn read(&self, kind: Kind, name: &str) -> bool {
        match self.level(kind, name) {
            None => true,
            Some(Some(l)) => l != Level::Deny,
            Some(None) => self.default_allow(),
        }
    }

    /// May write `name` of `kind`.
    pub(crate) fn write(&self, kind: Kind, name: &str) -> bool {
        match self.level(kind, name) {
            None => true,
            Some(Some(l)) => l == Level::Write,
            Some(None) => self.default_allow(),
        }
    }

    /// Operator read (`write`: operator write).
    pub(crate) fn operator(&self, write: bool) -> bool {
        match self {
            Self::All => true,
            Self::Rules {
                policy,
                default_allow,
                ..
            } => match policy.operator {
                Some(l) if write => l == Level::Write,
                Some(l) => l != Level::Deny,
                None => *default_allow,
            },
        }
    }

    /// Management: ACL writes and listing.
    pub(crate) fn is_management(&self) -> bool {
        matches!(self, Self::All)
    }
}

#[cfg(test)]
mod tests {
    use super::{Authz, Kind, Policy};

    const RULES: &str = r#"
        key "" {
            policy = "read"
        }
        key "private/" {
            policy = "deny"
        }
        service "foo-" {
            policy = "write"
        }
        operator = "read"
    "#;

    #[test]
    fn longest_prefix_wins_over_the_default() {
        let a = Authz::Rules {
            policy: Policy::parse(RULES).unwrap(),
            default_allow: false,
            enforce_v8: true,
        };
        assert!(a.read(Kind::Key, "foo") && !a.write(Kind::Key, "foo"));
        assert!(!a.read(Kind::Key, "private/x"));
        assert!(a.write(Kind::Service, "foo-1") && !a.write(Kind::Service, "bar-1"));
        assert!(a.operator(false) && !a.operator(true));
        let json =
            Policy::parse(r#"{"key": {"": {"policy": "read"}, "private/": {"policy": "deny"}}}"#)
                .unwrap();
        assert_eq!(
            json.prefixes,
            Policy::parse(RULES)
                .unwrap()
                .prefixes
                .into_iter()
                .filter(|(k, _)| *k == Kind::Key)
                .collect()
        );
    }

    #[test]
    fn bad_rules_answer_consul_texts() {
        assert_eq!(
            Policy::parse(r#"key "a" { policy = "bogus" }"#).unwrap_err(),
            r#"Invalid key policy: &acl.KeyPolicy{Prefix:"a", Policy:"bogus", Sentinel:acl.Sentinel{Code:"", EnforcementLevel:""}}"#
        );
        assert!(
            Policy::parse(r#"key "a" {"#)
                .unwrap_err()
                .starts_with("Failed to parse ACL rules: ")
        );
    }
}
