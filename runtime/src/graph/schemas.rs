//! Whether what a producer declares it publishes (`[schema] publishes`) satisfies what a
//! consumer accepts (its `[schema] file`): a structural comparison of the two JSON Schemas,
//! sound for the keywords it reads and silent about the rest.
//!
//! It reads `type`, `required`, `properties`, `additionalProperties: false`, `enum` and
//! `const`, recursively through `properties` and `items`. A difference it reports is a
//! payload the producer may send that the consumer refuses; keywords it does not read
//! (`pattern`, `minimum`, `oneOf`, `$ref`...) are not compared.

use serde_json::Value;

/// Why payloads valid against `producer` may be invalid against `consumer`: one line per
/// difference, each naming where in the payload (`/customer/email`).
pub fn differences(producer: &Value, consumer: &Value) -> Vec<String> {
    let mut found = Vec::new();
    compare(producer, consumer, "", &mut found);
    found
}

fn compare(producer: &Value, consumer: &Value, at: &str, found: &mut Vec<String>) {
    let place = if at.is_empty() {
        "the payload".to_owned()
    } else {
        format!("`{at}`")
    };
    if let (Some(sent), Some(accepted)) = (types(producer), types(consumer)) {
        let refused: Vec<&str> = sent
            .iter()
            .copied()
            .filter(|t| !(accepted.contains(t) || *t == "integer" && accepted.contains(&"number")))
            .collect();
        if !refused.is_empty() {
            found.push(format!(
                "{place} may be {} but the consumer accepts {}",
                refused.join(" or "),
                accepted.join(" or ")
            ));
            return;
        }
    }
    if let Some(allowed) = consumer.get("enum").and_then(Value::as_array) {
        let sent = producer
            .get("enum")
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| producer.get("const").map(|value| vec![value.clone()]));
        match sent {
            Some(values) => {
                for value in values.iter().filter(|value| !allowed.contains(value)) {
                    found.push(format!(
                        "{place} may be {value} but the consumer accepts only {}",
                        Value::Array(allowed.clone())
                    ));
                }
            }
            None => found.push(format!(
                "{place} may be any value but the consumer accepts only {}",
                Value::Array(allowed.clone())
            )),
        }
    }
    let required = |schema: &Value| -> Vec<String> {
        schema
            .get("required")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let producer_required = required(producer);
    for name in required(consumer) {
        if !producer_required.contains(&name) {
            found.push(format!(
                "`{at}/{name}` is required by the consumer but the producer may omit it"
            ));
        }
    }
    let properties = |schema: &Value| {
        schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (sent, accepted) = (properties(producer), properties(consumer));
    if consumer.get("additionalProperties") == Some(&Value::Bool(false)) {
        for name in sent.keys().filter(|name| !accepted.contains_key(*name)) {
            found.push(format!(
                "`{at}/{name}` may be sent but the consumer allows no such field"
            ));
        }
    }
    for (name, schema) in &sent {
        if let Some(accepting) = accepted.get(name) {
            compare(schema, accepting, &format!("{at}/{name}"), found);
        }
    }
    if let (Some(sent), Some(accepted)) = (producer.get("items"), consumer.get("items")) {
        compare(sent, accepted, &format!("{at}/*"), found);
    }
}

/// The schema's `type`, as a list.
fn types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(one) => Some(vec![one.as_str()]),
        Value::Array(many) => Some(many.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::differences;

    #[test]
    fn what_the_producer_may_send_and_the_consumer_refuses_is_named() {
        let consumer = json!({
            "type": "object",
            "required": ["order_id", "total"],
            "additionalProperties": false,
            "properties": {
                "order_id": {"type": "string"},
                "total": {"type": "number"},
                "currency": {"enum": ["EUR", "USD"]},
                "lines": {"type": "array", "items": {"type": "object", "required": ["sku"]}}
            }
        });
        let fine = json!({
            "type": "object",
            "required": ["order_id", "total", "currency"],
            "properties": {
                "order_id": {"type": "string"},
                "total": {"type": "integer"},
                "currency": {"const": "EUR"},
                "lines": {"type": "array", "items": {"type": "object", "required": ["sku", "qty"]}}
            }
        });
        assert_eq!(differences(&fine, &consumer), Vec::<String>::new());
        let wrong = json!({
            "type": "object",
            "required": ["order_id"],
            "properties": {
                "order_id": {"type": ["string", "null"]},
                "total": {"type": "number"},
                "currency": {"type": "string"},
                "note": {"type": "string"},
                "lines": {"type": "array", "items": {"type": "object"}}
            }
        });
        let mut found = differences(&wrong, &consumer);
        found.sort();
        let mut expected = [
            "`/total` is required by the consumer but the producer may omit it",
            "`/note` may be sent but the consumer allows no such field",
            "`/currency` may be any value but the consumer accepts only [\"EUR\",\"USD\"]",
            "`/lines/*/sku` is required by the consumer but the producer may omit it",
            "`/order_id` may be null but the consumer accepts string",
        ];
        expected.sort();
        assert_eq!(found, expected);
    }
}
