//! SCIM PATCH (RFC 7644 §3.5.2) as real clients send it: `add`, `replace`
//! and `remove` in any case (Entra ID writes `"Replace"`), paths such as
//! `name.givenName` or `emails[type eq "work"].value` (the core schema's URN
//! prefix allowed), and path-less operations whose value is an object of
//! attributes — keys may themselves be paths (`"name.givenName"`).
//!
//! Operations apply to the resource's JSON; the result is read back through
//! [`UserData::from_resource`], so a patched user obeys the same rules as a
//! created one. Attributes Patrol does not keep are ignored.

use serde_json::{Map, Value};

use super::filter::{get_ci, CompareOp, Filter};
use super::schema::{self, find, AttrDef};
use super::{strip_urn, ScimError, UserData, PATCH_SCHEMA};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

/// `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: String,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

fn syntax(msg: impl Into<String>) -> ScimError {
    ScimError::InvalidSyntax(msg.into())
}

impl PatchPath {
    pub fn parse(raw: &str) -> Result<Self, ScimError> {
        let path = strip_urn(raw.trim());
        let bad = || ScimError::InvalidPath(format!("invalid path '{raw}'"));
        if path.is_empty() {
            return Err(bad());
        }
        if let Some(open) = path.find('[') {
            let close = path.rfind(']').ok_or_else(bad)?;
            if close < open {
                return Err(bad());
            }
            let filter = Filter::parse(&path[open + 1..close])
                .map_err(|e| ScimError::InvalidPath(format!("invalid path '{raw}': {e}")))?;
            let rest = &path[close + 1..];
            let sub = match rest {
                "" => None,
                r => Some(r.strip_prefix('.').ok_or_else(bad)?.to_owned()),
            };
            return Ok(Self {
                attr: path[..open].to_owned(),
                filter: Some(filter),
                sub,
            });
        }
        let (attr, sub) = match path.split_once('.') {
            Some((a, s)) => (a, Some(s.to_owned())),
            None => (path, None),
        };
        if attr.is_empty()
            || sub
                .as_deref()
                .is_some_and(|s| s.is_empty() || s.contains('.'))
        {
            return Err(bad());
        }
        Ok(Self {
            attr: attr.to_owned(),
            filter: None,
            sub,
        })
    }
}

/// Read a PatchOp request body.
pub fn parse_request(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let Value::Object(obj) = body else {
        return Err(syntax("the body must be a JSON object"));
    };
    if let Some(schemas) = get_ci(obj, "schemas") {
        let named = schemas
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)));
        if !named {
            return Err(syntax(format!("schemas must name {PATCH_SCHEMA}")));
        }
    }
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("Operations must be a list"))?;
    if ops.is_empty() {
        return Err(syntax("Operations is empty"));
    }
    ops.iter().map(parse_operation).collect()
}

fn parse_operation(v: &Value) -> Result<Operation, ScimError> {
    let Value::Object(o) = v else {
        return Err(syntax("each operation must be an object"));
    };
    let op = match get_ci(o, "op").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("add") => Op::Add,
        Some(s) if s.eq_ignore_ascii_case("replace") => Op::Replace,
        Some(s) if s.eq_ignore_ascii_case("remove") => Op::Remove,
        _ => return Err(syntax("op must be add, replace or remove")),
    };
    let path = match get_ci(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(PatchPath::parse(p)?),
        Some(_) => return Err(ScimError::InvalidPath("path must be a string".into())),
    };
    let value = get_ci(o, "value").cloned();
    if op != Op::Remove && value.is_none() {
        return Err(syntax("add and replace need a value"));
    }
    if op == Op::Remove && path.is_none() {
        return Err(ScimError::NoTarget("remove needs a path".into()));
    }
    Ok(Operation { op, path, value })
}

/// Apply `ops` to `user`: all or nothing.
pub fn apply(user: &UserData, ops: &[Operation]) -> Result<UserData, ScimError> {
    let mut res = user.to_object();
    for o in ops {
        match &o.path {
            Some(path) => apply_one(&mut res, o.op, path, o.value.as_ref())?,
            None => {
                let Some(Value::Object(values)) = &o.value else {
                    return Err(ScimError::InvalidValue(
                        "an operation without a path needs an object value".into(),
                    ));
                };
                for (key, value) in values {
                    if strip_urn(key).starts_with("urn:") {
                        continue; // an extension Patrol does not keep
                    }
                    let path = PatchPath::parse(key)?;
                    apply_one(&mut res, o.op, &path, Some(value))?;
                }
            }
        }
    }
    UserData::from_resource(&Value::Object(res))
}

/// The attribute a path names, `None` for one Patrol does not keep.
enum Target {
    ExternalId,
    Declared(&'static AttrDef),
}

fn target(name: &str) -> Option<Target> {
    if name.eq_ignore_ascii_case("externalId") {
        return Some(Target::ExternalId);
    }
    schema::lookup(name).map(Target::Declared)
}

fn apply_one(
    res: &mut Map<String, Value>,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(target) = target(&path.attr) else {
        return Ok(());
    };
    let def = match target {
        Target::ExternalId => {
            if path.filter.is_some() || path.sub.is_some() {
                return Err(ScimError::InvalidPath(
                    "externalId is a simple string".into(),
                ));
            }
            match (op, value) {
                (Op::Remove, _) | (_, None | Some(Value::Null)) => {
                    res.remove("externalId");
                }
                (_, Some(v)) => {
                    res.insert("externalId".into(), v.clone());
                }
            }
            return Ok(());
        }
        Target::Declared(def) => def,
    };
    let name = def.name;
    let sub_def = match &path.sub {
        None => None,
        Some(s) => match find(def.sub, s) {
            Some(d) => Some(d),
            None => return Ok(()),
        },
    };
    // Values in the schema's shape and spelling.
    let value = match (value, sub_def) {
        (None, _) | (Some(Value::Null), _) => None,
        (Some(v), Some(sd)) => sd.conform(v)?,
        (Some(v), None) if path.filter.is_some() => match v {
            Value::Object(_) => single(def, v)?,
            _ => {
                return Err(ScimError::InvalidValue(format!(
                    "{name} values are objects"
                )))
            }
        },
        (Some(v), None) => def.conform(v)?,
    };
    if let Some(filter) = &path.filter {
        if !def.multi {
            return Err(ScimError::InvalidPath(format!(
                "{name} is not multi-valued"
            )));
        }
        return apply_filtered(res, op, def, filter, sub_def, value);
    }
    match (op, sub_def, value) {
        (Op::Remove, None, _) | (Op::Replace, None, None) => {
            res.remove(name);
        }
        (Op::Add, None, None) => {}
        (Op::Add, None, Some(Value::Array(new))) if def.multi => {
            let list = res.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = list {
                for n in new {
                    if !items.contains(&n) {
                        items.push(n);
                    }
                }
            }
        }
        (_, None, Some(Value::Object(new))) => {
            // A complex attribute: the given sub-attributes replace theirs.
            let obj = res.entry(name).or_insert_with(|| Value::Object(Map::new()));
            match obj {
                Value::Object(m) => m.extend(new),
                other => *other = Value::Object(new),
            }
        }
        (_, None, Some(v)) => {
            res.insert(name.to_owned(), v);
        }
        (_, Some(sd), v) => {
            let set = |m: &mut Map<String, Value>| match (&v, op) {
                (Some(v), Op::Add | Op::Replace) => {
                    m.insert(sd.name.to_owned(), v.clone());
                }
                _ => {
                    m.remove(sd.name);
                }
            };
            match res.get_mut(name) {
                Some(Value::Object(m)) => set(m),
                Some(Value::Array(items)) => items
                    .iter_mut()
                    .filter_map(Value::as_object_mut)
                    .for_each(set),
                _ if v.is_some() && op != Op::Remove => {
                    let mut m = Map::new();
                    set(&mut m);
                    res.insert(name.to_owned(), Value::Object(m));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// One element of a multi-valued attribute, conformed.
fn single(def: &AttrDef, v: &Value) -> Result<Option<Value>, ScimError> {
    Ok(match def.conform(v)? {
        Some(Value::Array(mut a)) if a.len() == 1 => a.pop(),
        other => other,
    })
}

fn apply_filtered(
    res: &mut Map<String, Value>,
    op: Op,
    def: &AttrDef,
    filter: &Filter,
    sub_def: Option<&AttrDef>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let name = def.name;
    let list = res.entry(name).or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(items) = list else {
        return Err(ScimError::InvalidPath(format!("{name} is not a list")));
    };
    let hit = |v: &Value| v.as_object().is_some_and(|m| filter.matches(m));
    if !items.iter().any(hit) {
        if op == Op::Remove {
            return Ok(());
        }
        // Entra writes `emails[type eq "work"].value` for a value that does
        // not exist yet: an equality filter says what the new element is.
        let Filter::Compare(attr, CompareOp::Eq, key) = filter else {
            return Err(ScimError::NoTarget(format!(
                "no {name} value matches the filter"
            )));
        };
        let Some(key_def) = find(def.sub, attr) else {
            return Err(ScimError::NoTarget(format!(
                "no {name} value matches the filter"
            )));
        };
        let mut m = Map::new();
        m.insert(key_def.name.to_owned(), key.clone());
        items.push(Value::Object(m));
    }
    match op {
        Op::Remove if sub_def.is_none() => items.retain(|v| !hit(v)),
        _ => {
            for item in items.iter_mut().filter(|v| hit(v)) {
                let Value::Object(m) = item else { continue };
                match (sub_def, &value) {
                    (Some(sd), Some(v)) if op != Op::Remove => {
                        m.insert(sd.name.to_owned(), v.clone());
                    }
                    (Some(sd), _) => {
                        m.remove(sd.name);
                    }
                    (None, Some(Value::Object(new))) => {
                        if op == Op::Replace {
                            m.retain(|k, _| new.contains_key(k));
                        }
                        m.extend(new.clone());
                    }
                    (None, _) => {}
                }
            }
            items.retain(|v| v.as_object().is_some_and(|m| !m.is_empty()));
        }
    }
    if items.is_empty() {
        res.remove(name);
    }
    Ok(())
}
