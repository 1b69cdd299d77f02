//! Reading a reference CSV against a version's feature schema.

use crate::error::{Error, Result};
use crate::model::ModelSchema;

/// At most this many reference rows are read (a holdout set, not a training set).
pub const MAX_REFERENCE_ROWS: usize = 1_000_000;

/// Reads a reference CSV: a header naming exactly the schema's features (in any order),
/// then rows of numbers. Returns each feature's values, in the schema's feature order.
/// Missing and extra columns are named; a bad cell is named by line and column.
pub fn read_csv(schema: &ModelSchema, text: &[u8]) -> Result<Vec<Vec<f64>>> {
    let bad = |m: String| Error::InvalidInput(format!("reference CSV: {m}"));
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text);
    let header: Vec<String> =
        reader.headers().map_err(|e| bad(format!("cannot read the header: {e}")))?.iter().map(str::to_owned).collect();
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = header.iter().find(|h| !seen.insert(h.as_str())) {
        return Err(bad(format!("column '{}' appears twice", clip(twice))));
    }
    let missing: Vec<&str> =
        schema.features.iter().map(|f| f.name.as_str()).filter(|f| !header.iter().any(|h| h == f)).collect();
    let extra: Vec<String> =
        header.iter().filter(|h| !schema.features.iter().any(|f| &f.name == *h)).take(10).map(|h| clip(h)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("missing features: {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            problems.push(format!("columns that are not features of the model: {}", extra.join(", ")));
        }
        return Err(bad(format!("{} (the model's features: {})", problems.join("; "), schema.feature_list())));
    }
    // Column of each feature, in schema order.
    let position: Vec<usize> =
        schema.features.iter().map(|f| header.iter().position(|h| *h == f.name).unwrap_or_default()).collect();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); schema.features.len()];
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
        if i >= MAX_REFERENCE_ROWS {
            return Err(bad(format!("more than {MAX_REFERENCE_ROWS} rows: send a sample")));
        }
        for ((f, &at), column) in schema.features.iter().zip(&position).zip(&mut columns) {
            let cell = record.get(at).unwrap_or_default();
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() && f.dtype.accepts(v) => column.push(v),
                Ok(_) => {
                    return Err(bad(format!(
                        "line {line}, '{}' = {} is out of range for {}",
                        f.name,
                        clip(cell),
                        f.dtype.name()
                    )));
                }
                Err(_) => return Err(bad(format!("line {line}, '{}' = '{}' is not a number", f.name, clip(cell)))),
            }
        }
    }
    let rows = columns.first().map_or(0, Vec::len);
    if rows < super::MIN_REFERENCE_ROWS {
        return Err(bad(format!("{rows} rows; a reference needs at least {}", super::MIN_REFERENCE_ROWS)));
    }
    Ok(columns)
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Feature, InputType, OutputKind};

    fn schema() -> ModelSchema {
        ModelSchema {
            input_name: "x".into(),
            input_type: InputType::Float32,
            features: ["a", "b"].iter().map(|n| Feature { name: (*n).into(), dtype: InputType::Float32 }).collect(),
            output: OutputKind::Regressor,
        }
    }

    fn csv(header: &str, rows: usize) -> String {
        let mut text = format!("{header}\n");
        for i in 0..rows {
            text += &format!("{}, {}\n", i, i * 2);
        }
        text
    }

    #[test]
    fn columns_come_in_schema_order() {
        let columns = read_csv(&schema(), csv("b,a", 25).as_bytes()).expect("read");
        assert_eq!(columns[0][3], 6.0, "a is the second CSV column");
        assert_eq!(columns[1][3], 3.0);
        assert_eq!(columns[0].len(), 25);
    }

    #[test]
    fn each_problem_is_named() {
        let err = |text: &str| read_csv(&schema(), text.as_bytes()).expect_err("refused").to_string();
        assert_eq!(
            err(&csv("a,label", 25)),
            "reference CSV: missing features: b; columns that are not features of the model: label (the model's features: a, b)"
        );
        assert_eq!(err(&csv("a,a", 25)), "reference CSV: column 'a' appears twice");
        assert_eq!(err(&csv("a,b", 5)), "reference CSV: 5 rows; a reference needs at least 20");
        assert_eq!(err("a,b\n1,2\n1,x\n"), "reference CSV: line 3, 'b' = 'x' is not a number");
        assert_eq!(err("a,b\n1,2\n1,inf\n"), "reference CSV: line 3, 'b' = inf is out of range for float32");
        assert!(err("a,b\n1,2\n1,2,3\n").starts_with("reference CSV: line 3:"), "{}", err("a,b\n1,2\n1,2,3\n"));
    }
}
