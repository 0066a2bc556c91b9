//! Rewriting the ARN of a principal that was renamed or deleted in stored policy documents.
//!
//! IAM shows a deleted principal's unique id, and a renamed user's new ARN, where a policy named
//! it as a principal: the policy held the principal, not the name. Only `Principal` and
//! `NotPrincipal` hold principals. A condition such as `"aws:PrincipalArn": "…:user/x"` holds a
//! name, and stays as written, so a Deny on a name still binds whoever takes the name next (bug:
//! a plain text replace rewrote conditions too, and a new user of a denied name was let in).

use serde_json::Value;

/// `doc` with `from` replaced by `to` where a statement names it as an AWS principal, or `None`
/// when no statement does (or `doc` is not JSON). The text is kept as written when every
/// occurrence of `from` is such a principal; otherwise the document is written anew.
pub fn replace_principal(doc: &str, from: &str, to: &str) -> Option<String> {
    let quoted = Value::String(from.to_owned()).to_string();
    if !doc.contains(&quoted) {
        return None;
    }
    let mut value: Value = serde_json::from_str(doc).ok()?;
    let replaced = match value.get_mut("Statement") {
        Some(Value::Array(statements)) => statements
            .iter_mut()
            .map(|st| replace_in_statement(st, from, to))
            .sum(),
        Some(st) => replace_in_statement(st, from, to),
        None => 0,
    };
    if replaced == 0 {
        return None;
    }
    if doc.matches(&quoted).count() == replaced {
        let new = Value::String(to.to_owned()).to_string();
        return Some(doc.replace(&quoted, &new));
    }
    serde_json::to_string(&value).ok()
}

/// Replaces `from` in the statement's `Principal`/`NotPrincipal` `AWS` values; returns how many.
fn replace_in_statement(st: &mut Value, from: &str, to: &str) -> usize {
    let mut n = 0;
    for element in ["Principal", "NotPrincipal"] {
        let Some(aws) = st.get_mut(element).and_then(|p| p.get_mut("AWS")) else {
            continue;
        };
        let values: Vec<&mut Value> = match aws {
            Value::Array(items) => items.iter_mut().collect(),
            other => vec![other],
        };
        for v in values {
            if v.as_str() == Some(from) {
                *v = Value::String(to.to_owned());
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "arn:aws:iam::123456789012:user/contractor";

    /// Regression: renaming or deleting a user rewrote a condition naming it, so a Deny on the
    /// name stopped binding the next user created under it.
    #[test]
    fn conditions_naming_the_principal_are_left_as_written() {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"StringEquals":{{"aws:PrincipalArn":"{OLD}"}}}}}}]}}"#
        );
        assert_eq!(replace_principal(&doc, OLD, "AIDAEXAMPLE"), None);
    }

    #[test]
    fn principals_are_replaced_and_the_text_kept_when_only_they_name_it() {
        let doc = format!(
            "{{\n  \"Statement\": {{\"Effect\": \"Allow\", \"Principal\": {{\"AWS\": [\"{OLD}\", \"x\"]}}, \"Action\": \"*\"}}\n}}"
        );
        let new = replace_principal(&doc, OLD, "AIDAEXAMPLE").unwrap();
        assert_eq!(new, doc.replace(OLD, "AIDAEXAMPLE"));
    }

    #[test]
    fn a_principal_and_a_condition_naming_it_only_the_principal_changes() {
        let doc = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{OLD}"}},"Action":"*","Condition":{{"StringEquals":{{"aws:PrincipalArn":"{OLD}"}}}}}},{{"Effect":"Deny","NotPrincipal":{{"AWS":"{OLD}"}},"Action":"*"}}]}}"#
        );
        let new: Value =
            serde_json::from_str(&replace_principal(&doc, OLD, "NEW").unwrap()).unwrap();
        assert_eq!(new["Statement"][0]["Principal"]["AWS"], "NEW");
        assert_eq!(new["Statement"][1]["NotPrincipal"]["AWS"], "NEW");
        assert_eq!(
            new["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalArn"],
            OLD
        );
    }
}
