//! `/Bulk` (RFC 7644 §3.7) over HTTP on both backends.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backends;
use crate::support::{Backend, Options, TestServer};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn statuses(r: &Value) -> Vec<String> {
    r["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap().to_string())
        .collect()
}

backends!(bulk_ids_resolve_forward_and_backward, |s| {
    // The group comes first and names users created later (RFC 7644 §3.7.2).
    let r = s
        .post("/Bulk", json!({"schemas": [BULK], "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"schemas": [GROUP], "displayName": "Tour Guides",
                "members": [{"type": "User", "value": "bulkId:alice"}, {"type": "User", "value": "bulkId:bob"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "alice", "data": {"schemas": [USER], "userName": "alice"}},
            {"method": "POST", "path": "/Users", "bulkId": "bob", "data": {"schemas": [USER, ENT], "userName": "bob",
                ENT: {"manager": {"value": "bulkId:alice"}}}},
            {"method": "PATCH", "path": "/Users/bulkId:alice", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "nickName", "value": "Al"}]}}
        ]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
    );
    assert_eq!(
        statuses(&r.body),
        ["201", "201", "201", "200"],
        "{}",
        r.body
    );
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops[0]["bulkId"], "g");
    let group_loc = ops[0]["location"].as_str().unwrap();
    let alice_loc = ops[1]["location"].as_str().unwrap();
    assert!(ops[1]["version"].as_str().unwrap().starts_with("W/"));
    let alice_id = alice_loc.rsplit('/').next().unwrap();
    let group_id = group_loc.rsplit('/').next().unwrap();
    let g = s.get(&format!("/Groups/{group_id}")).await;
    assert_eq!(g.body["members"].as_array().unwrap().len(), 2);
    let bob = s.get("/Users?filter=userName%20eq%20%22bob%22").await;
    assert_eq!(bob.body["Resources"][0][ENT]["manager"]["value"], alice_id);
    let alice = s.get(&format!("/Users/{alice_id}")).await;
    assert_eq!(alice.body["nickName"], "Al");
});

backends!(bulk_cycles_unknown_references_and_errors, |s| {
    let r = s
        .post("/Bulk", json!({"schemas": [BULK], "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"schemas": [GROUP], "displayName": "A", "members": [{"value": "bulkId:b"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"schemas": [GROUP], "displayName": "B", "members": [{"value": "bulkId:a"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"schemas": [USER], "userName": "u", "nickName": "bulkId:nowhere"}},
            {"method": "POST", "path": "/Users", "bulkId": "first", "data": {"schemas": [USER], "userName": "dupe"}},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"schemas": [USER], "userName": "DUPE"}},
            {"method": "DELETE", "path": "/Users/no-such-id"},
            {"method": "GET", "path": "/Users/x"}
        ]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        statuses(&r.body),
        ["409", "409", "409", "201", "409", "404", "400"],
        "{}",
        r.body
    );
    let ops = r.body["Operations"].as_array().unwrap();
    // Error entries carry a SCIM error body; locations use the caller's host.
    assert_eq!(ops[4]["response"]["scimType"], "uniqueness");
    assert!(
        ops[3]["location"].as_str().unwrap().starts_with(&s.base),
        "{}",
        ops[3]
    );
    assert_eq!(
        ops[0]["response"]["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    // Nothing of the cycle was created.
    assert_eq!(s.get("/Groups").await.body["totalResults"], 0);
});

backends!(bulk_fail_on_errors_stops, |s| {
    let r = s
        .post("/Bulk", json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "1", "data": {"schemas": [USER], "userName": 7}},
            {"method": "POST", "path": "/Users", "bulkId": "2", "data": {"schemas": [USER], "userName": "never"}}
        ]}))
        .await;
    assert_eq!(statuses(&r.body), ["400"]);
    assert_eq!(s.get("/Users").await.body["totalResults"], 0);
});

backends!(bulk_limits_and_bad_requests, |s0| {
    let backend = s0.backend;
    drop(s0);
    let mut opts = Options::default();
    opts.settings.bulk_max_operations = 3;
    opts.settings.bulk_max_payload = 2000;
    let Some(s) = crate::support::TestServer::start_with(backend, opts).await else {
        return;
    };
    let op = json!({"method": "POST", "path": "/Users", "bulkId": "x", "data": {"schemas": [USER], "userName": "x"}});
    let r = s
        .post(
            "/Bulk",
            json!({"schemas": [BULK], "Operations": [op, op, op, op]}),
        )
        .await;
    r.assert_error(413, Some("tooMany"));
    let big = json!({"schemas": [BULK], "Operations": [{"method": "POST", "path": "/Users", "bulkId": "x",
        "data": {"schemas": [USER], "userName": "x".repeat(3000)}}]});
    s.post("/Bulk", big).await.assert_error(413, None);
    s.post("/Bulk", json!({"Operations": "nope"}))
        .await
        .assert_error(400, Some("invalidSyntax"));
    let r = s.post("/Bulk", json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "same", "data": {"schemas": [USER], "userName": "a"}},
        {"method": "POST", "path": "/Users", "bulkId": "same", "data": {"schemas": [USER], "userName": "b"}}]})).await;
    r.assert_error(400, Some("invalidValue"));
    // A POST without bulkId, and a path outside the API, are per-operation errors.
    let r = s
        .post(
            "/Bulk",
            json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Users", "data": {"schemas": [USER], "userName": "a"}},
        {"method": "PUT", "path": "/../etc/passwd", "data": {}}]}),
        )
        .await;
    assert_eq!(statuses(&r.body), ["400", "400"]);
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(
        spc.body["bulk"],
        json!({"supported": true, "maxOperations": 3, "maxPayloadSize": 2000})
    );
});

// A reverse dependency chain (each POST names the bulkId of the next one in the list) runs in
// one pass of a topological order; the old scheduler rescanned the list once per operation.
backends!(bulk_reverse_chain_of_500, |s| {
    let n = 500;
    let mut ops = Vec::new();
    for i in 0..n {
        let mut data = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("chain-{i}")});
        if i + 1 < n {
            data["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
                json!({"manager": {"value": format!("bulkId:u{}", i + 1)}});
        }
        ops.push(
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": data}),
        );
    }
    let r = s
        .post("/Bulk", json!({"schemas": [BULK], "Operations": ops}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let results = r.body["Operations"].as_array().unwrap();
    assert_eq!(results.len(), n);
    assert!(results.iter().all(|o| o["status"] == "201"), "{}", r.body);
    // Results come back in request order, each manager resolved to the next user's id.
    let id_of = |i: usize| {
        results[i]["location"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string()
    };
    let u0 = s.get(&format!("/Users/{}", id_of(0))).await.body;
    assert_eq!(
        u0["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"],
        id_of(1)
    );
});

// When the time budget is spent, completed operations are reported and the others are 503
// "not run", instead of the whole request timing out. How many complete within a budget
// depends on the machine: a spent budget (zero) runs none, a short one runs a prefix.
async fn bulk_with_budget(backend: Backend, budget_ms: u64) -> Option<()> {
    let settings = scim_server::Settings {
        bulk_time_budget: std::time::Duration::from_millis(budget_ms),
        ..Default::default()
    };
    let s = TestServer::start_with(
        backend,
        Options {
            settings,
            ..Options::default()
        },
    )
    .await?;
    let ops: Vec<Value> = (0..1000)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("budget-{i}")}}))
        .collect();
    let r = s
        .post("/Bulk", json!({"schemas": [BULK], "Operations": ops}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let results = r.body["Operations"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    let statuses: Vec<&str> = results
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    let done = statuses.iter().take_while(|s| **s == "201").count();
    if budget_ms == 0 {
        assert_eq!(done, 0, "an operation ran after the budget was spent");
    }
    assert!(statuses[done..].iter().all(|s| *s == "503"), "{statuses:?}");
    if done < 1000 {
        assert!(results[done]["response"]["detail"]
            .as_str()
            .unwrap()
            .contains("time budget"));
    }
    // What was reported as created exists; what was not run does not.
    let total = s.get("/Users?count=0").await.body["totalResults"]
        .as_u64()
        .unwrap();
    assert_eq!(total as usize, done);
    Some(())
}

backends!(bulk_time_budget_reports_what_completed, |s0| {
    let backend = s0.backend;
    drop(s0);
    bulk_with_budget(backend, 0).await;
    bulk_with_budget(backend, 150).await;
});

backends!(bulk_creates_run_together_and_fail_alone, |s| {
    // Consecutive creates that wait on nothing are stored with one call of the store: each
    // must still succeed or fail on its own, in request order, as single requests would.
    let taken = s
        .post("/Users", json!({"schemas": [USER], "userName": "taken"}))
        .await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);
    let r = s
        .post("/Bulk", json!({"schemas": [BULK], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER], "userName": "ann", "password": "Secret-1"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"schemas": [USER], "userName": "ANN"}},
            {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"schemas": [USER], "userName": 7}},
            {"method": "POST", "path": "/Users", "bulkId": "d", "data": {"schemas": [USER], "userName": "dan"}},
            {"method": "POST", "path": "/Users", "bulkId": "e", "data": {"schemas": [USER], "userName": "taken"}},
            {"method": "POST", "path": "/Users", "data": {"schemas": [USER], "userName": "no-bulk-id"}},
            {"method": "POST", "path": "/Users", "bulkId": "f"},
            {"method": "POST", "path": "/Nowhere", "bulkId": "g", "data": {"schemas": [USER], "userName": "x"}},
            {"method": "POST", "path": "/Users", "bulkId": "h", "data": {"schemas": [USER], "userName": "hal"}},
            {"method": "PATCH", "path": "/Users/bulkId:h", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "nickName", "value": "H"}]}}
        ]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        statuses(&r.body),
        ["201", "409", "400", "201", "409", "400", "400", "404", "201", "200"],
        "{}",
        r.body
    );
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops[1]["response"]["scimType"], "uniqueness", "{}", r.body);
    assert!(
        ops[4]["response"]["detail"]
            .as_str()
            .unwrap()
            .contains("taken"),
        "{}",
        r.body
    );
    for (k, name, last) in [(0, "ann", 0), (3, "dan", 3), (8, "hal", 9)] {
        let location = ops[k]["location"].as_str().unwrap();
        let id = location.rsplit('/').next().unwrap();
        let user = s.get(&format!("/Users/{id}")).await;
        assert_eq!(user.status, StatusCode::OK);
        assert_eq!(user.body["userName"], name);
        // The version of the operation that touched it last (hal was patched).
        assert_eq!(
            ops[last]["version"], user.body["meta"]["version"],
            "{}",
            r.body
        );
        assert!(user.body.get("password").is_none());
    }
    // Exactly the four users: the failed creates left nothing behind.
    assert_eq!(s.get("/Users").await.body["totalResults"], 4);
    // Every create is in the audit trail as a bulk operation.
    let q = scim_server::audit::AuditQuery {
        tenant: Some(s.tenant.clone()),
        ..Default::default()
    };
    let recs = s.state.store().audit_records(&q).await.unwrap();
    let ops: Vec<&str> = recs.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(
        ops,
        [
            "create",
            "bulk:create",
            "bulk:create",
            "bulk:create",
            "bulk:patch"
        ]
    );
    // The stored password is a hash, not the clear text.
    let text = serde_json::to_string(&recs).unwrap();
    assert!(!text.contains("Secret-1"));
});
