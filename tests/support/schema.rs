//! A small JSON Schema (draft 2020-12) checker for exactly the keywords `docs/report.schema.json`
//! uses. It refuses a schema with any other keyword, so that it can never pass a report by
//! ignoring part of the schema: a new keyword in the schema needs its rule here first.

use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;

/// Keywords that only annotate.
const ANNOTATIONS: [&str; 3] = ["$schema", "title", "description"];
/// Keywords this checker applies.
const RULES: [&str; 14] = [
    "$ref",
    "$defs",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "minimum",
    "maximum",
];

/// A schema ready to check instances against.
pub struct Checker {
    root: Value,
    patterns: BTreeMap<String, Regex>,
}

impl Checker {
    /// Panics if `schema` uses a keyword this checker does not apply, or a bad pattern.
    pub fn new(schema: &Value) -> Checker {
        let mut patterns = BTreeMap::new();
        vet(schema, "#", &mut patterns);
        Checker {
            root: schema.clone(),
            patterns,
        }
    }

    /// Every violation, as `path: what`; empty when `instance` is valid.
    pub fn errors(&self, instance: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(&self.root, instance, "$", &mut errors);
        errors
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.errors(instance).is_empty()
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(schema) = schema.as_object() else {
            // `true` accepts anything, `false` nothing.
            if schema == &Value::Bool(false) {
                errors.push(format!("{at}: not allowed"));
            }
            return;
        };
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            let name = target.strip_prefix("#/$defs/").expect("local $ref");
            self.check(&self.root["$defs"][name], value, at, errors);
        }
        if let Some(types) = schema.get("type")
            && !type_matches(types, value)
        {
            errors.push(format!("{at}: not of type {types}"));
            return;
        }
        if let Value::Number(number) = value {
            check_number(schema, number, at, errors);
        }
        if let Value::String(text) = value {
            self.check_text(schema, text, at, errors);
        }
        if let Value::Array(items) = value {
            self.check_array(schema, items, at, errors);
        }
        if let Value::Object(fields) = value {
            self.check_object(schema, fields, at, errors);
        }
    }

    fn check_text(
        &self,
        schema: &serde_json::Map<String, Value>,
        text: &str,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let chars = text.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && chars < min
        {
            errors.push(format!("{at}: shorter than {min}"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            errors.push(format!("{at}: longer than {max}"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && !self.patterns[pattern].is_match(text)
        {
            errors.push(format!("{at}: does not match {pattern}"));
        }
    }

    fn check_array(
        &self,
        schema: &serde_json::Map<String, Value>,
        items: &[Value],
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let len = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            errors.push(format!("{at}: fewer than {min} items"));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && len > max
        {
            errors.push(format!("{at}: more than {max} items"));
        }
        if let Some(item) = schema.get("items") {
            for (i, value) in items.iter().enumerate() {
                self.check(item, value, &format!("{at}[{i}]"), errors);
            }
        }
    }

    fn check_object(
        &self,
        schema: &serde_json::Map<String, Value>,
        fields: &serde_json::Map<String, Value>,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().expect("required names are strings");
            if !fields.contains_key(name) {
                errors.push(format!("{at}: {name} is required"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, value) in fields {
            let here = format!("{at}.{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(property) => self.check(property, value, &here, errors),
                None => {
                    if let Some(additional) = schema.get("additionalProperties") {
                        self.check(additional, value, &here, errors);
                    }
                }
            }
        }
    }
}

fn check_number(
    schema: &serde_json::Map<String, Value>,
    number: &serde_json::Number,
    at: &str,
    errors: &mut Vec<String>,
) {
    let n = number.as_f64().expect("a JSON number");
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && n < min
    {
        errors.push(format!("{at}: below {min}"));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && n > max
    {
        errors.push(format!("{at}: above {max}"));
    }
}

fn type_matches(types: &Value, value: &Value) -> bool {
    let one = |t: &Value| match t.as_str().expect("type names are strings") {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        // As JSON Schema has it: any number without a fractional part (1.0 too).
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        "number" => value.is_number(),
        other => panic!("unknown type {other}"),
    };
    match types {
        Value::Array(list) => list.iter().any(one),
        single => one(single),
    }
}

/// Refuses keywords this checker does not apply, and compiles the patterns.
fn vet(schema: &Value, at: &str, patterns: &mut BTreeMap<String, Regex>) {
    let Some(object) = schema.as_object() else {
        assert!(
            schema.is_boolean(),
            "{at}: a schema is an object or a boolean"
        );
        return;
    };
    for (keyword, value) in object {
        let here = format!("{at}/{keyword}");
        assert!(
            ANNOTATIONS.contains(&keyword.as_str()) || RULES.contains(&keyword.as_str()),
            "{here}: keyword {keyword} is not applied by this checker: add its rule first"
        );
        match keyword.as_str() {
            "pattern" => {
                let text = value.as_str().expect("a pattern is a string");
                let regex = Regex::new(text).unwrap_or_else(|e| panic!("{here}: {e}"));
                patterns.insert(text.to_string(), regex);
            }
            "properties" | "$defs" => {
                for (name, sub) in value.as_object().expect("an object of schemas") {
                    vet(sub, &format!("{here}/{name}"), patterns);
                }
            }
            "items" | "additionalProperties" => vet(value, &here, patterns),
            _ => {}
        }
    }
}
