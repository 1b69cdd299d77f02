//! The HTTP floor of `bench/http_bench.py`: the least an axum server on this machine does per
//! prediction request. Same axum, tokio and runtime as `switchyard serve` (a default
//! multi-thread runtime: one worker per CPU), the same route, and the same work on the way in:
//! the body is buffered and parsed as JSON into `{"features": {…}}` (a map of values, as the
//! node does before it looks at the model). The answer is a constant JSON body of the size and
//! shape of the node's answer for the benchmark's iris row, with the generation header.
//! Nothing is routed, run or recorded.
//!
//! Build: `cargo bench --bench floor --no-run`; run: `<binary> 127.0.0.1:PORT`.

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Map, Value};

/// What the node answered for the benchmark row (a request id of 32 hex digits).
const ANSWER: &str = r#"{"generation":"v1","latency_ms":0.272,"prediction":"setosa","probabilities":{"setosa":0.9768070578575134,"versicolor":0.02319279871881008,"virginica":1.3650365815465193e-7},"request_id":"f7ca28995a81eacb8b9ec7520610b7a1","revision":1,"service":"iris_classifier"}"#;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictBody {
    #[allow(dead_code)]
    features: Map<String, Value>,
}

async fn predict(body: Bytes) -> impl IntoResponse {
    match serde_json::from_slice::<PredictBody>(&body) {
        Ok(_) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::HeaderName::from_static("x-switchyard-generation"), "v1"),
            ],
            ANSWER,
        ),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::HeaderName::from_static("x-switchyard-generation"), ""),
            ],
            r#"{"error":{"code":"malformed_json","message":"bad body"}}"#,
        ),
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8090".into());
    // As `switchyard serve`: `Runtime::new()`, a worker thread per CPU.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = Router::new().route("/v1/services/{service}/predict", post(predict));
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        eprintln!("floor listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await
    })
}
