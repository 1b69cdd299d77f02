//! Metrics of a model on a holdout CSV, computed by the engine with the model as it serves.
//!
//! The CSV has a header; the model's feature columns are found by name (from the model's
//! schema), in any order, and other columns are ignored. The target column holds, for a
//! classifier, a class label or a class index (the fixtures' `0, 1, 2`), and for a regressor a
//! number.
//!
//! - accuracy: share of rows whose predicted class is the target.
//! - log loss: mean of −ln p(target), p clipped to [1e-15, 1 − 1e-15] (as scikit-learn).
//! - AUC: binary classifiers use the probability of the second class (index 1) as the score;
//!   multiclass classifiers use one-vs-rest, macro-averaged over the classes that have both
//!   positive and negative rows in the holdout. Ties count one half (Mann–Whitney U).
//! - RMSE: regressors only.

use std::io::Read;

use crate::error::{Error, Result};
use crate::model::{LoadedModel, OutputKind, Prediction};

use super::spec::Metric;

/// A CSV file read into a header and rows of cells.
#[derive(Debug, Clone)]
pub struct Csv {
    pub header: Vec<String>,
    /// With the 1-based line number each row started on.
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Parses RFC 4180 CSV (with the `csv` crate): comma separated, fields optionally in double
/// quotes (`""` inside quotes is a quote, and a quoted field may hold commas and line
/// breaks), CRLF or LF line ends; empty lines are skipped. A quote inside an unquoted field is
/// read as it stands.
pub fn parse_csv(text: &str) -> Result<Csv> {
    let bad = |line: usize, m: &str| Error::InvalidInput(format!("CSV line {line}: {m}"));
    let text = text.trim_start_matches('\u{feff}').as_bytes();
    // The crate reads a quoted field left open to the end of the input, without an error: a
    // last line of its own after the text is then taken into that field, and so tells.
    const END: &str = "\u{1}";
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.chain(&b"\n\x01\n"[..]));
    // Lines are counted here from the records' byte offsets: the crate's own line numbers are
    // off by one after the first record, after a blank line and with CRLF line ends.
    let (mut counted_to, mut line) = (0usize, 1usize);
    let mut records: Vec<(usize, Vec<String>)> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::InvalidInput(format!("the CSV cannot be read: {e}")))?;
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        // A record's offset may be that of the line break before it.
        let offset = record.position().map_or(0, |p| p.byte() as usize);
        let start = text.get(offset..).and_then(|rest| rest.iter().position(|b| !matches!(b, b'\r' | b'\n')));
        if let Some(start) = start.map(|i| offset + i) {
            line += text.get(counted_to..start).map_or(0, |between| between.iter().filter(|b| **b == b'\n').count());
            counted_to = counted_to.max(start);
        }
        records.push((line, record.iter().map(str::to_owned).collect()));
    }
    if records.pop_if(|(_, record)| *record == [END]).is_none() {
        return Err(bad(records.last().map_or(1, |(line, _)| *line), "a quoted field is not closed"));
    }
    let mut records = records.into_iter();
    let (_, header) = records.next().ok_or_else(|| Error::InvalidInput("the CSV file is empty".into()))?;
    let header: Vec<String> = header.into_iter().map(|h| h.trim().to_owned()).collect();
    let rows: Vec<(usize, Vec<String>)> = records.collect();
    for (line, row) in &rows {
        if row.len() != header.len() {
            return Err(bad(*line, &format!("{} fields, but the header has {}", row.len(), header.len())));
        }
    }
    Ok(Csv { header, rows })
}

/// The score of a model on a holdout, with the row count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub value: f64,
    pub rows: usize,
}

/// Computes `metric` of `model` on the CSV. CPU-bound: run it off the async executor.
pub fn score(model: &LoadedModel, csv: &Csv, target_column: &str, metric: Metric) -> Result<Score> {
    let column = |name: &str| csv.header.iter().position(|h| h == name);
    let schema = model.schema();
    let missing: Vec<&str> =
        schema.features.iter().map(|f| f.name.as_str()).filter(|name| column(name).is_none()).collect();
    if !missing.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the holdout CSV has no column for feature(s) {} (its header: {})",
            missing.join(", "),
            csv.header.join(", ")
        )));
    }
    let target = column(target_column).ok_or_else(|| {
        Error::InvalidInput(format!(
            "the holdout CSV has no target column '{target_column}' (its header: {})",
            csv.header.join(", ")
        ))
    })?;
    if csv.rows.is_empty() {
        return Err(Error::InvalidInput("the holdout CSV has a header but no rows".into()));
    }
    let feature_columns: Vec<usize> = schema.features.iter().filter_map(|f| column(&f.name)).collect();
    let number = |line: usize, name: &str, cell: &str| -> Result<f64> {
        cell.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
            Error::InvalidInput(format!(
                "CSV line {line}: '{}' in column {name} is not a finite number",
                cell.chars().take(40).collect::<String>()
            ))
        })
    };

    let classes = match &schema.output {
        OutputKind::Classifier { classes } => Some(classes.clone()),
        OutputKind::Regressor => None,
    };
    match (metric, &classes) {
        (Metric::Rmse, Some(_)) => {
            return Err(Error::InvalidInput(
                "rmse needs a regressor; this model is a classifier (use accuracy, log_loss or auc)".into(),
            ));
        }
        (Metric::Accuracy | Metric::LogLoss | Metric::Auc, None) => {
            return Err(Error::InvalidInput(format!(
                "{} needs a classifier; this model is a regressor (use rmse)",
                metric.as_str()
            )));
        }
        _ => {}
    }

    // (true class index, probabilities, predicted class index) or (target, value).
    let mut class_rows: Vec<(usize, Vec<f64>, usize)> = Vec::new();
    let mut squared = 0.0;
    for (line, row) in &csv.rows {
        let values =
            feature_columns.iter().map(|&c| number(*line, &csv.header[c], &row[c])).collect::<Result<Vec<f64>>>()?;
        let prediction = model.predict(&values)?;
        match (&classes, prediction) {
            (Some(classes), Prediction::Class { class, probabilities, .. }) => {
                let truth = class_index(classes, &row[target]).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "CSV line {line}: target '{}' is neither a class of the model ({}) nor a class index",
                        row[target].chars().take(40).collect::<String>(),
                        classes.join(", ")
                    ))
                })?;
                let predicted = classes.iter().position(|c| *c == class).unwrap_or(usize::MAX);
                class_rows.push((truth, probabilities.into_iter().map(|(_, p)| p).collect(), predicted));
            }
            (None, Prediction::Value(v)) => {
                let t = number(*line, target_column, &row[target])?;
                squared += (v - t) * (v - t);
            }
            _ => return Err(Error::Internal("the model's output does not match its schema".into())),
        }
    }
    let n = csv.rows.len();
    let value = match metric {
        Metric::Rmse => (squared / n as f64).sqrt(),
        Metric::Accuracy => class_rows.iter().filter(|(t, _, p)| t == p).count() as f64 / n as f64,
        Metric::LogLoss => {
            class_rows
                .iter()
                .map(|(t, p, _)| -p.get(*t).copied().unwrap_or(0.0).clamp(1e-15, 1.0 - 1e-15).ln())
                .sum::<f64>()
                / n as f64
        }
        Metric::Auc => {
            let k = classes.as_ref().map_or(0, Vec::len);
            auc(&class_rows.iter().map(|(t, p, _)| (*t, p.clone())).collect::<Vec<_>>(), k)?
        }
    };
    Ok(Score { value, rows: n })
}

/// The class a target cell names: a label of the model, else an index into its classes.
fn class_index(classes: &[String], cell: &str) -> Option<usize> {
    let cell = cell.trim();
    classes.iter().position(|c| c == cell).or_else(|| {
        let f: f64 = cell.parse().ok()?;
        (f.fract() == 0.0 && f >= 0.0 && (f as usize) < classes.len()).then_some(f as usize)
    })
}

/// ROC AUC: binary on the second class's probability, multiclass one-vs-rest macro.
pub fn auc(rows: &[(usize, Vec<f64>)], n_classes: usize) -> Result<f64> {
    let one_class = |class: usize| -> Option<f64> {
        let scored: Vec<(f64, bool)> =
            rows.iter().map(|(t, p)| (p.get(class).copied().unwrap_or(0.0), *t == class)).collect();
        binary_auc(&scored)
    };
    if n_classes == 2 {
        return one_class(1)
            .ok_or_else(|| Error::InvalidInput("AUC needs both classes in the holdout's target column".into()));
    }
    let per_class: Vec<f64> = (0..n_classes).filter_map(one_class).collect();
    if per_class.is_empty() {
        return Err(Error::InvalidInput("AUC needs at least two classes in the holdout's target column".into()));
    }
    Ok(per_class.iter().sum::<f64>() / per_class.len() as f64)
}

/// The probability that a random positive scores above a random negative (ties count ½),
/// from the ranks; None without positives or negatives.
fn binary_auc(scored: &[(f64, bool)]) -> Option<f64> {
    let positives = scored.iter().filter(|(_, y)| *y).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1].0 == sorted[i].0 {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += average_rank * sorted[i..=j].iter().filter(|(_, y)| *y).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_model(name: &str) -> LoadedModel {
        let path = format!("{}/fixtures/models/{name}", env!("CARGO_MANIFEST_DIR"));
        LoadedModel::load(&std::fs::read(path).expect("fixture")).expect("loads")
    }

    fn holdout(name: &str) -> Csv {
        let path = format!("{}/fixtures/data/{name}", env!("CARGO_MANIFEST_DIR"));
        parse_csv(&std::fs::read_to_string(path).expect("csv")).expect("parses")
    }

    #[test]
    fn csv_quotes_and_line_ends() {
        let csv = parse_csv("a,\"b,c\",d\r\n1,\"x \"\"y\"\"\",3\n\n4,\"multi\nline\",6").expect("csv");
        assert_eq!(csv.header, ["a", "b,c", "d"]);
        assert_eq!(csv.rows[0], (2, vec!["1".to_owned(), "x \"y\"".to_owned(), "3".to_owned()]));
        assert_eq!(csv.rows[1].0, 4);
        assert_eq!(csv.rows[1].1[1], "multi\nline");
        assert!(parse_csv("a,b\n1\n").expect_err("an error").to_string().contains("line 2"));
        assert!(parse_csv("a\n\"open").is_err());
        assert!(parse_csv("").is_err());
    }

    /// A quoted field may hold line breaks, commas and doubled quotes; the rows after it keep
    /// their own line numbers, for the errors that name them.
    #[test]
    fn csv_quoted_line_breaks_keep_line_numbers() {
        let text = "id,comment,x\r\n1,\"said \"\"hi, there\"\"\r\nand left\",2.5\r\n2,\"a\nb\nc\",3\n\n3,plain,4\n";
        let csv = parse_csv(text).expect("csv");
        let rows: Vec<(usize, Vec<&str>)> =
            csv.rows.iter().map(|(line, row)| (*line, row.iter().map(String::as_str).collect())).collect();
        assert_eq!(
            rows,
            [
                (2, vec!["1", "said \"hi, there\"\r\nand left", "2.5"]),
                (4, vec!["2", "a\nb\nc", "3"]),
                (8, vec!["3", "plain", "4"]),
            ]
        );
        let err = parse_csv("id,comment,x\n1,\"a,\n\"\"b\"\"\",2\n3,4\n").expect_err("an error").to_string();
        assert!(err.contains("CSV line 4: 2 fields, but the header has 3"), "{err}");
        // A quote left open takes in the rest of the file: the error names the line it opened on.
        let err = parse_csv("\u{feff}id,x\r\n1,2\r\n\r\n3,\"open\r\n4,5\r\n").expect_err("an error").to_string();
        assert_eq!(err, "CSV line 4: a quoted field is not closed");
    }

    #[test]
    fn binary_auc_counts_ties_as_half() {
        let rows = |v: &[(f64, bool)]| binary_auc(v).expect("auc");
        assert_eq!(rows(&[(0.1, false), (0.4, false), (0.35, true), (0.8, true)]), 0.75);
        assert_eq!(rows(&[(0.5, false), (0.5, true)]), 0.5);
        assert_eq!(rows(&[(0.9, true), (0.1, false)]), 1.0);
        assert!(binary_auc(&[(0.3, true)]).is_none());
    }

    #[test]
    fn multiclass_auc_is_one_vs_rest_macro() {
        // Class 0 is perfectly separated, class 1 half, class 2 absent (not averaged).
        let rows = vec![(0, vec![0.9, 0.1, 0.0]), (1, vec![0.2, 0.8, 0.0]), (1, vec![0.1, 0.1, 0.8])];
        // class 0: 1.0; class 1: positives {0.8, 0.1} vs negative {0.1}: (1 + 0.5) / 2 = 0.75.
        assert!((auc(&rows, 3).expect("auc") - 0.875).abs() < 1e-12);
    }

    #[test]
    fn iris_fixture_scores_match_scikit_learn() {
        let csv = holdout("iris_holdout.csv");
        let logreg = fixture_model("iris_logreg.onnx");
        let s = score(&logreg, &csv, "target", Metric::Accuracy).expect("score");
        assert_eq!(s.rows, 45);
        assert!((s.value - 0.933_333_333_333_333_3).abs() < 1e-9, "{s:?}");
        let mlp = fixture_model("iris_mlp.onnx");
        assert_eq!(score(&mlp, &csv, "target", Metric::Accuracy).expect("score").value, 1.0);
        let ll = score(&logreg, &csv, "target", Metric::LogLoss).expect("score").value;
        assert!(ll > 0.0 && ll < 0.5, "{ll}");
        let auc = score(&logreg, &csv, "target", Metric::Auc).expect("score").value;
        assert!(auc > 0.9 && auc <= 1.0, "{auc}");
        assert!(score(&logreg, &csv, "target", Metric::Rmse).is_err());
        let err = score(&logreg, &csv, "species", Metric::Accuracy).expect_err("an error").to_string();
        assert!(err.contains("no target column 'species'"), "{err}");
    }

    #[test]
    fn regressor_rmse_and_binary_auc() {
        let diabetes = fixture_model("diabetes_linear.onnx");
        let rmse = score(&diabetes, &holdout("diabetes_holdout.csv"), "target", Metric::Rmse).expect("score").value;
        assert!(rmse > 40.0 && rmse < 70.0, "{rmse}");
        let cancer = fixture_model("breast_cancer_mlp.onnx");
        let auc = score(&cancer, &holdout("breast_cancer_holdout.csv"), "target", Metric::Auc).expect("score").value;
        assert!(auc > 0.95, "{auc}");
        // A CSV without the model's columns names them.
        let err =
            score(&cancer, &holdout("iris_holdout.csv"), "target", Metric::Auc).expect_err("an error").to_string();
        assert!(err.contains("mean_radius"), "{err}");
    }
}
