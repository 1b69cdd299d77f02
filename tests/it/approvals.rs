//! Protected services, approval requests and the audit they leave: request, approval by
//! another principal, self-approval and expiry refused, rollback never gated; then the audit
//! chain verified, and tampered with (edited, deleted, reordered rows) until `audit verify`
//! names the first bad row, on SQLite or PostgreSQL (`SWITCHYARD_TEST_BACKEND`).

use std::sync::Arc;

use serde_json::{Value, json};
use sqlx::Executor;
use switchyard::clock::ManualClock;

use crate::cli::cli;
use crate::people::{call, principal};
use crate::support::{TestNode, registry, spawn_node_on};

const DEPLOY_V2: &str = r#"{"config": {"mode": "single", "generation": "v2"}, "reason": "v2 is better"}"#;

async fn served(node: &TestNode) -> Value {
    let (_, rev) = call(node, None, "GET", "/admin/v1/deployments/iris", None).await;
    rev["config"]["generation"].clone()
}

/// The approval flow on a protected service, each step's audit rows, and `audit verify`
/// naming the first bad row after each kind of tampering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_deploys_wait_for_another_principal_and_the_audit_shows_every_step() {
    // Starts at the wall clock's time: the CLI's `audit export --since 1d` below measures its
    // window on the wall clock, as a user's CLI does. The engine then reads only this clock.
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let node = spawn_node_on(tempfile::tempdir().expect("tempdir"), &clock).await;
    node.with_iris().await;
    let dee = principal(&node, "dee", json!([{"role": "deployer"}])).await;
    let olga = principal(&node, "olga", json!([{"role": "operator", "scope": "iris*"}])).await;
    let omar = principal(&node, "omar", json!([{"role": "operator"}])).await;
    let vic = principal(&node, "vic", json!([{"role": "viewer"}])).await;
    let (status, _) =
        call(&node, None, "PUT", "/admin/v1/deployments/iris/protection", Some(&json!({"protected": true}))).await;
    assert_eq!(status, 200);
    let deploy: Value = serde_json::from_str(DEPLOY_V2).expect("json");

    // A deploy on a protected service becomes a request; nothing changes yet.
    let (status, request) = call(&node, Some(&olga), "PUT", "/admin/v1/deployments/iris", Some(&deploy)).await;
    assert_eq!(status, 202, "{request}");
    assert_eq!((request["status"].as_str(), request["requested_by"].as_str()), (Some("pending"), Some("olga")));
    assert_eq!(request["base"]["generation"], "v1", "the config serving when asked, for the diff");
    assert_eq!(request["payload"]["generation"], "v2");
    assert_eq!(served(&node).await, "v1");
    let approve = format!("/admin/v1/deployments/iris/approvals/{}/approve", request["id"]);

    // Self-approval (by an operator who may approve others') is refused, and so are a
    // deployer's and a viewer's; another operator's approval deploys.
    let (status, answer) = call(&node, Some(&olga), "POST", &approve, None).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("may not decide it"), "{answer}");
    for token in [&dee, &vic] {
        let (status, answer) = call(&node, Some(token), "POST", &approve, None).await;
        assert_eq!(status, 403, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("'approve' permission"), "{answer}");
    }
    assert_eq!(served(&node).await, "v1");
    let (status, approved) = call(&node, Some(&omar), "POST", &approve, Some(&json!({"note": "ok"}))).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!((approved["status"].as_str(), approved["decided_by"].as_str()), (Some("approved"), Some("omar")));
    assert_eq!(served(&node).await, "v2");
    let (_, rev) = call(&node, None, "GET", "/admin/v1/deployments/iris", None).await;
    assert_eq!(rev["author"], "olga (approved by omar)");
    assert_eq!(approved["outcome"], format!("revision {}", rev["number"]));
    assert_eq!(call(&node, Some(&omar), "POST", &approve, None).await.0, 409, "decided once");

    // A request not decided in time can no longer be.
    let ask = json!({"kind": "deploy", "payload": {"mode": "single", "generation": "v1"}, "reason": "back", "expires_in_seconds": 60});
    let (status, late) = call(&node, Some(&dee), "POST", "/admin/v1/deployments/iris/approvals", Some(&ask)).await;
    assert_eq!(status, 202, "{late}");
    clock.advance(chrono::TimeDelta::seconds(61));
    let late_path = format!("/admin/v1/deployments/iris/approvals/{}/approve", late["id"]);
    let (status, answer) = call(&node, Some(&olga), "POST", &late_path, None).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("expired"), "{answer}");
    assert_eq!(served(&node).await, "v2");

    // Canary starts wait too; a rollback by a deployer happens at once.
    let plan = json!({"version": "v1", "steps": [50.0, 100.0], "bake_seconds": 60,
                      "gates": {"max_error_rate": 0.5, "max_p99_ms": 1000.0, "min_requests": 0},
                      "inconclusive_timeout_seconds": 600, "on_inconclusive": "pause"});
    let (status, canary) = call(&node, Some(&dee), "POST", "/admin/v1/deployments/iris/canary", Some(&plan)).await;
    assert_eq!((status, canary["kind"].as_str()), (202, Some("canary")), "{canary}");
    let (status, rolled) =
        call(&node, Some(&dee), "POST", "/admin/v1/deployments/iris/rollback", Some(&json!({"reason": "emergency"})))
            .await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!((rolled["author"].as_str(), served(&node).await), (Some("dee"), json!("v1")));
    let (_, pending) = call(&node, Some(&vic), "GET", "/admin/v1/approvals?pending=true", None).await;
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "only the canary waits: {pending}");

    // Every step left its row: who, what, outcome, status.
    let (_, rows) = call(&node, None, "GET", "/admin/v1/audit?service=iris", None).await;
    let seen: Vec<(String, String, String, u64)> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (s("principal"), s("action"), s("outcome"), r["status"].as_u64().unwrap_or(0))
        })
        .collect();
    let row = |p: &str, a: &str, o: &str, st: u64| (p.to_owned(), a.to_owned(), o.to_owned(), st);
    for want in [
        row("admin", "set_protection", "ok", 200),
        row("olga", "deploy", "ok", 202),
        row("olga", "approve", "refused", 403),
        row("dee", "approve", "refused", 403),
        row("vic", "approve", "refused", 403),
        row("omar", "approve", "ok", 200),
        row("omar", "approve", "failed", 409),
        row("olga", "approve", "failed", 409),
        row("dee", "start_canary", "ok", 202),
        row("dee", "rollback", "ok", 200),
    ] {
        assert!(seen.contains(&want), "no audit row {want:?} in {seen:?}");
    }
    let approved_row = rows.as_array().expect("rows").iter().find(|r| r["principal"] == "omar" && r["status"] == 200);
    let approved_row = approved_row.expect("omar's approval");
    assert_ne!(approved_row["before"], approved_row["after"], "the approval changed the deployment");
    assert!(approved_row["detail"].as_str().unwrap_or_default().contains("approved: revision"), "{approved_row}");
    // The deployment report carries the rows of its range.
    let now = clock_ms(&node);
    let (_, report) = call(
        &node,
        None,
        "GET",
        &format!("/admin/v1/deployments/iris/report?since={}&until={}", now - 3_600_000, now),
        None,
    )
    .await;
    assert!(report["audit"].as_array().is_some_and(|a| a.iter().any(|r| r["action"] == "rollback")), "{report}");

    tamper_and_verify(&node).await;
}

fn clock_ms(node: &TestNode) -> i64 {
    node.engine.now_ms()
}

async fn verify(node: &TestNode) -> (bool, String) {
    let (ok, out, err) = cli(&node.url, &["audit", "verify"]).await;
    (ok, format!("{out}{err}"))
}

/// `audit verify` passes, then names the first bad row after an edit, a deletion and a
/// reordering of rows, each undone before the next.
async fn tamper_and_verify(node: &TestNode) {
    let (ok, text) = verify(node).await;
    assert!(ok && text.contains("audit chain intact"), "{text}");
    let (ok, out, err) = cli(&node.url, &["audit", "export", "--since", "1d"]).await;
    assert!(ok, "{err}");
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert!(lines.len() >= 10, "{} rows", lines.len());
    assert_eq!(lines[0]["seq"], 1);

    let mut db = registry(node.dir.path()).await;
    // Edited: row 3 names someone else.
    let who: String =
        sqlx::query_scalar("SELECT principal FROM audit WHERE seq = 3").fetch_one(&mut db).await.expect("row 3");
    db.execute("UPDATE audit SET principal = 'mallory' WHERE seq = 3").await.expect("edit");
    let (ok, text) = verify(node).await;
    assert!(!ok && text.contains("broken at row 3") && text.contains("edited"), "{text}");
    sqlx::query("UPDATE audit SET principal = $1 WHERE seq = 3").bind(&who).execute(&mut db).await.expect("restore");
    assert!(verify(node).await.0, "restored");

    // Deleted: row 5 is gone, row 6 names the gap.
    db.execute("CREATE TABLE audit_keep AS SELECT * FROM audit WHERE seq = 5").await.expect("keep");
    db.execute("DELETE FROM audit WHERE seq = 5").await.expect("delete");
    let (ok, text) = verify(node).await;
    assert!(!ok && text.contains("broken at row 6") && text.contains("missing"), "{text}");
    db.execute("INSERT INTO audit SELECT * FROM audit_keep").await.expect("reinsert");
    assert!(verify(node).await.0, "reinserted");

    // Reordered: rows 4 and 7 swap places (and numbers).
    for sql in [
        "UPDATE audit SET seq = -4 WHERE seq = 4",
        "UPDATE audit SET seq = 4 WHERE seq = 7",
        "UPDATE audit SET seq = 7 WHERE seq = -4",
    ] {
        db.execute(sql).await.expect("swap");
    }
    let (ok, text) = verify(node).await;
    assert!(!ok && text.contains("broken at row 4"), "{text}");
}
