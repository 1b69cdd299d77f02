//! `${name}` variables in scenario fields. `$$` is a literal `$` (so a shell command can say
//! `$${HOME}`); any other `$` is kept as it is (`$HOME` reaches the shell untouched).

use std::collections::BTreeMap;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Dollar,
    Var(&'a str),
}

/// Whether `name` can be a variable: an ASCII letter or `_` first, then letters, digits, `_`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

fn parse(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        if at > 0 {
            pieces.push(Piece::Text(&rest[..at]));
        }
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            pieces.push(Piece::Dollar);
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail.find('}').ok_or_else(|| {
                format!("'${{' without a closing '}}' in \"{}\" (write $$ for a literal $)", short(text))
            })?;
            let name = &tail[..end];
            if !is_identifier(name) {
                return Err(format!(
                    "'${{{}}}' is not a variable name: use letters, digits and '_' (write $$ for a literal $)",
                    short(name)
                ));
            }
            pieces.push(Piece::Var(name));
            rest = &tail[end + 1..];
        } else {
            pieces.push(Piece::Text("$"));
            rest = after;
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The variables a field refers to, in order of appearance, or why it cannot be read.
pub fn references(text: &str) -> Result<Vec<&str>, String> {
    Ok(parse(text)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(name) => Some(name),
            _ => None,
        })
        .collect())
}

/// Substitutes every `${name}`. An unknown name is an error naming it (validation at save
/// makes this unreachable for saved scenarios).
pub fn render(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for piece in parse(text)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Dollar => out.push('$'),
            Piece::Var(name) => {
                out.push_str(vars.get(name).ok_or_else(|| format!("unknown variable ${{{name}}}"))?);
            }
        }
    }
    Ok(out)
}

/// Whether a field holds a variable (then its final value is only known at run time).
pub fn has_variables(text: &str) -> bool {
    references(text).is_ok_and(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([("run_dir".to_owned(), "/tmp/r1".to_owned()), ("v".to_owned(), "x".to_owned())])
    }

    #[test]
    fn renders_variables_and_escapes() {
        assert_eq!(render("${run_dir}/model.onnx", &vars()).as_deref(), Ok("/tmp/r1/model.onnx"));
        assert_eq!(render("echo $HOME $$ $${v} ${v}$", &vars()).as_deref(), Ok("echo $HOME $ ${v} x$"));
        assert_eq!(render("", &vars()).as_deref(), Ok(""));
        assert_eq!(render("${nope}", &vars()), Err("unknown variable ${nope}".to_owned()));
    }

    #[test]
    fn finds_references_and_syntax_errors() {
        assert_eq!(references("a ${x} b ${y_2} $${z}"), Ok(vec!["x", "y_2"]));
        assert!(references("${unclosed").is_err());
        assert!(references("${with space}").is_err());
        assert!(references("${1x}").is_err());
        assert!(has_variables("${x}") && !has_variables("$x"));
    }
}
