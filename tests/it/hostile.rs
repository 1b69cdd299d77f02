//! 10,000+ generated hostile requests at a real `switchyard serve` process: truncated and
//! deeply nested JSON, huge numbers, NaN/Infinity literals, wrong types, unicode in names and
//! headers, giant bodies, slow and stalled bodies, broken framing, hostile OIP tensors and
//! admin configs. Every answer must be 4xx (or 2xx where the request happens to be valid),
//! never 5xx; the node must log no panic and must still answer correctly afterwards.
//!
//! Requests go over raw TCP so nothing between the generator and the node "fixes" them. With
//! `SWITCHYARD_TEST_BACKEND=postgres` the node's registry is on PostgreSQL.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{NodeProcess, iris_row};

const REQUESTS: usize = 10_000;
const CONCURRENCY: usize = 32;
/// The node's request deadline in this test (`--request-timeout`).
const DEADLINE_SECS: u64 = 2;

/// How a body is sent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pace {
    AtOnce,
    /// In small pieces over about a second: slower than a normal client, within the deadline.
    Slow,
    /// Part of the declared body, then nothing: the node must give up at its deadline.
    Stalled,
}

#[derive(Debug, Clone)]
struct Hostile {
    kind: &'static str,
    method: &'static str,
    /// Raw request target (may hold bytes a URL parser would refuse).
    target: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    pace: Pace,
    /// Declared Content-Length (None: the body's length; Some(None): chunked, no length).
    length: Option<Option<usize>>,
    /// The status the node must answer, when the kind determines it.
    expect: Option<u16>,
}

fn valid_features() -> Value {
    iris_row()
}

fn predict_target(service: &str) -> Vec<u8> {
    format!("/v1/services/{service}/predict").into_bytes()
}

fn hostile(kind: &'static str, target: Vec<u8>, body: Vec<u8>, expect: Option<u16>) -> Hostile {
    Hostile { kind, method: "POST", target, headers: Vec::new(), body, pace: Pace::AtOnce, length: None, expect }
}

fn nested(rng: &mut StdRng) -> Vec<u8> {
    let depth = rng.random_range(64..150_000);
    let (open, close) = if rng.random_bool(0.5) { ("[", "]") } else { ("{\"a\":", "}") };
    let mut s = String::from("{\"features\":");
    s.push_str(&open.repeat(depth));
    s.push('1');
    s.push_str(&close.repeat(depth));
    s.push('}');
    s.into_bytes()
}

fn number(rng: &mut StdRng) -> String {
    match rng.random_range(0..8) {
        0 => "1e999".into(),
        1 => "-1e400".into(),
        2 => format!("1{}", "0".repeat(rng.random_range(20..20_000))),
        3 => format!("0.{}1", "0".repeat(rng.random_range(10..10_000))),
        4 => "123456789012345678901234567890".into(),
        5 => "-0".into(),
        6 => "1.7976931348623157e308".into(),
        _ => "4.9e-324".into(),
    }
}

fn literal(rng: &mut StdRng) -> &'static str {
    ["NaN", "Infinity", "-Infinity", "nan", "inf", "+1", "01", ".5", "1.", "0x10", "undefined"][rng.random_range(0..11)]
}

fn wrong_type(rng: &mut StdRng) -> Value {
    let mut row = valid_features();
    match rng.random_range(0..9) {
        0 => return json!({"features": null}),
        1 => return json!({"features": [5.1, 3.5, 1.4, 0.2]}),
        2 => return json!({"features": "sepal_length=5.1"}),
        3 => return json!([{"features": row}]),
        4 => return json!({"features": row, "extra": 1}),
        5 => row["sepal_length"] = json!("5.1"),
        6 => row["sepal_width"] = json!([3.5]),
        7 => row["petal_length"] = json!({"value": 1.4}),
        _ => row["petal_width"] = json!(true),
    }
    json!({"features": row})
}

const UNICODE: [&str; 10] = [
    "%F0%9F%92%A5",
    "ir%C4%B1s_classifier",
    "%E2%80%AEreifissalc_siri",
    "%00",
    "..%2F..%2Fetc%2Fpasswd",
    "%FF%FE",
    "iris_classifier%20",
    "%D9%85%D8%B5%D9%86%D9%91%D9%81",
    "a%0D%0AX-Injected:%201",
    "IRIS_CLASSIFIER",
];

fn unicode_name(rng: &mut StdRng) -> Hostile {
    let pick = rng.random_range(0..5);
    let body = json!({"features": valid_features()}).to_string().into_bytes();
    match pick {
        // Unicode service names in the path, percent-encoded or raw UTF-8.
        0 => hostile("unicode_path", predict_target(UNICODE[rng.random_range(0..UNICODE.len())]), body, None),
        1 => {
            let mut target = b"/v1/services/".to_vec();
            target.extend_from_slice("iris_\u{1F4A5}_\u{0130}".as_bytes());
            target.extend_from_slice(b"/predict");
            hostile("raw_utf8_path", target, body, None)
        }
        // Unicode feature names.
        2 => {
            let mut row = valid_features();
            row["s\u{00E9}pal_l\u{0435}ngth\u{200B}"] = json!(1.0);
            hostile(
                "unicode_feature",
                predict_target("iris_classifier"),
                json!({"features": row}).to_string().into_bytes(),
                Some(400),
            )
        }
        // Non-ASCII bytes in the routing headers.
        3 => {
            let mut h = hostile("unicode_header", predict_target("iris_classifier"), body, None);
            let header = if rng.random_bool(0.5) { "x-switchyard-generation" } else { "x-switchyard-key" };
            h.headers.push((header.into(), "v\u{00E9}\u{1F4A5}".as_bytes().to_vec()));
            h
        }
        _ => {
            let mut h = hostile("unicode_auth", predict_target("iris_classifier"), body, None);
            h.headers.push(("authorization".into(), "Basic \u{00E9}\u{00E9}".as_bytes().to_vec()));
            h
        }
    }
}

fn oip(rng: &mut StdRng) -> Hostile {
    let target = b"/v2/models/iris_classifier/infer".to_vec();
    let tensor = |shape: Value, datatype: &str, data: Value| json!({"inputs": [{"name": "float_input", "shape": shape, "datatype": datatype, "data": data}]});
    let (body, expect) = match rng.random_range(0..8) {
        0 => (tensor(json!([1, 4]), "FP32", json!([1, 2, 3])), Some(400)),
        1 => (tensor(json!([-1, 4]), "FP32", json!([1, 2, 3, 4])), Some(400)),
        2 => (tensor(json!([1_000_000_000u64, 4]), "FP32", json!([1, 2, 3, 4])), Some(400)),
        3 => (tensor(json!([1, 4]), "BYTES", json!(["a", "b", "c", "d"])), Some(400)),
        4 => (tensor(json!([1, 4]), "FP32", json!([[1, [2]], 3, 4])), Some(400)),
        5 => (tensor(json!([18446744073709551615u64, 18446744073709551615u64]), "FP64", json!([])), Some(400)),
        6 => (
            json!({"inputs": [{"name": "float_input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}),
            Some(400),
        ),
        _ => (json!({"inputs": "all of them"}), Some(400)),
    };
    let mut h = hostile("oip", target, body.to_string().into_bytes(), expect);
    if rng.random_bool(0.3) {
        let claimed = ["99999999999999999999", "-1", "abc", "0", "5"][rng.random_range(0..5)];
        h.headers.push(("inference-header-content-length".into(), claimed.as_bytes().to_vec()));
        h.expect = None;
    }
    h
}

fn admin(rng: &mut StdRng) -> Hostile {
    // Hostile deployment configs, on a service the final check does not use.
    let configs = [
        json!({"config": {"mode": "multiple", "mapping": [{"generation": "v1", "proba": 1e308}, {"generation": "v2", "proba": -1e308}]}}),
        json!({"config": {"mode": "multiple", "mapping": [{"generation": "v1", "proba": 0.5}]}}),
        json!({"config": {"mode": "multiple", "mapping": []}}),
        json!({"config": {"mode": "multiple", "mapping": [{"generation": "\u{1F4A5}", "proba": 1}]}}),
        json!({"config": {"mode": "single", "generation": "v1", "shadow": {"generation": "v2", "percent": 1e9}}}),
        json!({"config": {"mode": "warp"}}),
        json!({"config": null}),
        json!({"config": {"mode": "single", "generation": "v999999999999999999999"}}),
    ];
    let body = configs[rng.random_range(0..configs.len())].to_string().into_bytes();
    let mut h = hostile("admin_config", b"/admin/v1/deployments/breast_cancer".to_vec(), body, Some(400));
    h.method = "PUT";
    if rng.random_bool(0.2) {
        h.body = format!(
            "{{\"config\":{{\"mode\":\"multiple\",\"mapping\":[{}]}}}}",
            "{\"generation\":\"v1\",\"proba\":0.0001},".repeat(rng.random_range(1..20_000))
        )
        .into_bytes();
        h.expect = None;
    }
    h
}

fn generate(rng: &mut StdRng) -> Hostile {
    let valid = json!({"features": valid_features()}).to_string().into_bytes();
    let target = predict_target("iris_classifier");
    match rng.random_range(0..100) {
        0..14 => {
            let cut = rng.random_range(0..valid.len());
            let expect = Some(400);
            hostile("truncated", target, valid[..cut].to_vec(), expect)
        }
        14..22 => hostile("nested", target, nested(rng), Some(400)),
        22..32 => {
            let field = ["sepal_length", "sepal_width", "petal_length", "petal_width"][rng.random_range(0..4)];
            let body = format!(
                "{{\"features\":{{\"sepal_length\":5.1,\"sepal_width\":3.5,\"petal_length\":1.4,\"petal_width\":0.2,\"{field}\":{}}}}}",
                number(rng)
            );
            hostile("huge_number", target, body.into_bytes(), None)
        }
        32..40 => {
            let body = format!(
                "{{\"features\":{{\"sepal_length\":{},\"sepal_width\":3.5,\"petal_length\":1.4,\"petal_width\":0.2}}}}",
                literal(rng)
            );
            hostile("literal", target, body.into_bytes(), Some(400))
        }
        40..52 => hostile("wrong_type", target, wrong_type(rng).to_string().into_bytes(), Some(400)),
        52..62 => unicode_name(rng),
        62..63 => {
            let mut h = hostile("giant", target, vec![b' '; 1024 * 1024 + rng.random_range(1..512 * 1024)], Some(413));
            if rng.random_bool(0.3) {
                h.length = Some(None);
            }
            h
        }
        63..64 => {
            let mut h = hostile("slow", target, valid.clone(), Some(200));
            h.pace = Pace::Slow;
            h
        }
        64..65 => {
            let mut h = hostile("stalled", target, valid.clone(), Some(408));
            h.pace = Pace::Stalled;
            h
        }
        65..75 => {
            let mut body = valid.clone();
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(0..body.len());
                body[i] = rng.random();
            }
            hostile("mutated", target, body, None)
        }
        75..83 => oip(rng),
        83..88 => admin(rng),
        88..92 => {
            let mut h = hostile("framing", target, valid.clone(), None);
            match rng.random_range(0..4) {
                0 => h.headers.push(("content-length".into(), b"12".to_vec())),
                1 => h.headers.push(("transfer-encoding".into(), b"chunked, gzip".to_vec())),
                2 => h.headers.push(("content-length".into(), b"-5".to_vec())),
                _ => h.headers.push(("expect".into(), b"100-continue".to_vec())),
            }
            h
        }
        92..96 => {
            let mut h = hostile("method", target, valid.clone(), None);
            h.method = ["PUT", "DELETE", "PATCH", "OPTIONS", "GET", "HEAD"][rng.random_range(0..6)];
            h
        }
        _ => {
            // Feedback with hostile fields.
            let body = match rng.random_range(0..4) {
                0 => json!({"request_id": "x".repeat(100_000), "outcome": 1}),
                1 => json!({"request_id": "r", "outcome": {"nested": [1, 2]}}),
                2 => json!({"request_id": 42, "outcome": true}),
                _ => json!({"request_id": "\u{0000}\u{FFFF}", "outcome": 1e308}),
            };
            hostile("feedback", b"/v1/services/iris_classifier/feedback".to_vec(), body.to_string().into_bytes(), None)
        }
    }
}

/// Sends one request over its own connection and returns the status (None: the node closed
/// the connection without an answer).
async fn send(addr: &str, h: &Hostile) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = Vec::new();
    head.extend_from_slice(h.method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(&h.target);
    head.extend_from_slice(b" HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\n");
    for (name, value) in &h.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    let chunked = h.length == Some(None);
    if chunked {
        head.extend_from_slice(b"transfer-encoding: chunked\r\n");
    } else if !h.headers.iter().any(|(n, _)| n == "content-length") {
        head.extend_from_slice(format!("content-length: {}\r\n", h.body.len()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    // A node that answers early (413, 401) may close before the whole body is written.
    if stream.write_all(&head).await.is_err() {
        return read_status(&mut stream).await;
    }
    let body = if chunked {
        let mut b = Vec::new();
        for piece in h.body.chunks(64 * 1024) {
            b.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            b.extend_from_slice(piece);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"0\r\n\r\n");
        b
    } else {
        h.body.clone()
    };
    match h.pace {
        Pace::AtOnce => {
            let _ = stream.write_all(&body).await;
        }
        Pace::Slow => {
            let pieces = 10;
            let size = body.len().div_ceil(pieces);
            for piece in body.chunks(size.max(1)) {
                if stream.write_all(piece).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Pace::Stalled => {
            let _ = stream.write_all(&body[..body.len() / 2]).await;
        }
    }
    read_status(&mut stream).await
}

async fn read_status(stream: &mut TcpStream) -> Option<u16> {
    let mut answer = Vec::new();
    // A stalled body is answered at the node's deadline; 30 times that only catches a hang.
    let read = tokio::time::timeout(Duration::from_secs(DEADLINE_SECS * 30), stream.read_to_end(&mut answer)).await;
    if read.is_err() {
        panic!("the node neither answered nor closed the connection");
    }
    // The first final status line (after any `100 Continue`).
    String::from_utf8_lossy(&answer)
        .lines()
        .filter(|l| l.starts_with("HTTP/1."))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u16>().ok())
        .find(|s| *s >= 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_hostile_requests_get_4xx_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProcess::start_with(dir.path(), true, &["--request-timeout", &DEADLINE_SECS.to_string()]);
    let addr = node.url.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::new();
    let predict = |http: &reqwest::Client| {
        http.post(node.url("/v1/services/iris_classifier/predict")).json(&json!({"features": valid_features()})).send()
    };
    let before: Value = predict(&http).await.expect("send").json().await.expect("json");

    let mut rng = StdRng::seed_from_u64(0x5EED_4057);
    let requests: Vec<Hostile> = (0..REQUESTS).map(|_| generate(&mut rng)).collect();
    let results: Vec<(Hostile, Option<u16>)> = futures_util::stream::iter(requests)
        .map(|h| {
            let addr = addr.clone();
            async move {
                let status = send(&addr, &h).await;
                (h, status)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let mut by_kind: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    for (h, status) in &results {
        let shown = status.map_or("closed".to_owned(), |s| s.to_string());
        *by_kind.entry(h.kind).or_default().entry(shown.clone()).or_default() += 1;
        let wrong = match (status, h.expect) {
            (None, _) => h.pace != Pace::Stalled && !matches!(h.kind, "giant" | "framing"),
            (Some(s), _) if *s >= 500 => true,
            (Some(s), Some(e)) => *s != e,
            (Some(_), None) => false,
        };
        if wrong && failures.len() < 20 {
            failures.push(format!(
                "{} {} {:?} -> {shown} (expected {:?}); body starts {:?}",
                h.kind,
                h.method,
                String::from_utf8_lossy(&h.target),
                h.expect,
                String::from_utf8_lossy(&h.body[..h.body.len().min(120)])
            ));
        }
    }
    println!("statuses by kind: {by_kind:#?}");
    assert!(failures.is_empty(), "{} wrong answers, first: {failures:#?}\nby kind: {by_kind:#?}", failures.len());
    assert_eq!(results.len(), REQUESTS);
    for kind in [
        "truncated",
        "nested",
        "huge_number",
        "literal",
        "wrong_type",
        "giant",
        "slow",
        "stalled",
        "oip",
        "admin_config",
    ] {
        assert!(by_kind.contains_key(kind), "no {kind} request was generated");
    }

    // Still serving, with the same answer as before the storm, and no panic logged.
    let after: Value = predict(&http).await.expect("send").json().await.expect("json");
    assert_eq!(after["prediction"], before["prediction"]);
    assert_eq!(after["probabilities"], before["probabilities"]);
    assert_eq!(after["generation"], before["generation"]);
    let log = node.log();
    assert!(!log.contains("panicked"), "the node panicked:\n{log}");
    node.kill();
}
