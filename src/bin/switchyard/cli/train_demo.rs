//! `switchyard train-demo` (hidden): train the demo model, for the demo scenario.

use std::path::PathBuf;

use clap::Args;
use switchyard::scenario::demo_trainer::{DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE, TrainOptions, train_files};

#[derive(Args)]
pub struct TrainDemoArgs {
    /// Training CSV: feature columns and a target column.
    #[arg(long)]
    data: PathBuf,
    /// Where to write the ONNX model.
    #[arg(long)]
    out: PathBuf,
    /// Where to write the training metrics (JSON).
    #[arg(long)]
    metrics: PathBuf,
    #[arg(long, default_value_t = DEFAULT_EPOCHS)]
    epochs: usize,
    #[arg(long, default_value_t = DEFAULT_LEARNING_RATE)]
    learning_rate: f64,
    #[arg(long, default_value = "target")]
    target: String,
    /// Class names in index order, comma separated.
    #[arg(long, value_delimiter = ',')]
    class_labels: Option<Vec<String>>,
}

pub fn train_demo(args: TrainDemoArgs) -> switchyard::Result<()> {
    let TrainDemoArgs { data, out, metrics, epochs, learning_rate, target, class_labels } = args;
    let opts = TrainOptions {
        epochs,
        learning_rate,
        target_column: target,
        class_labels,
        ..TrainOptions::new(data, out, metrics)
    };
    train_files(&opts).map(|_| ())
}
