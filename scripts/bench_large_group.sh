#!/usr/bin/env bash
# Large-group member changes: PATCH add/remove of one member on a 10-member group and on a
# 1,000,000-member group, through the release binary on SQLite. Figures in docs/benchmarks.md.
# Needs: cargo, python3 (sqlite3 module), curl. Listens on 127.0.0.1 only; stops what it starts.
set -euo pipefail
N=${N:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -p scim-server --manifest-path "$ROOT/Cargo.toml" >/dev/null
DIR=$(mktemp -d); trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
cd "$DIR"
"$ROOT/target/release/scim-server" --listen 127.0.0.1:18090 --token tok >server.log 2>&1 & PID=$!
sleep 2
B=http://127.0.0.1:18090/scim/v2; H="Authorization: Bearer tok"; CT='Content-Type: application/scim+json'
mk() { curl -s -H "$H" -H "$CT" -d "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"$1\"}" $B/Groups | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])'; }
big=$(mk big); small=$(mk small)
python3 - "$big" "$small" "$N" <<'EOF'
import sqlite3, sys, json
big, small, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = sqlite3.connect("scim.db")
ts = "2026-01-01T00:00:00.000000Z"
c.executemany("INSERT INTO scim_resources VALUES (?,?,?,?,?,?,?,?,?)",
    (("default", "User", f"u{i}", f"user{i}", None, json.dumps({"userName": f"user{i}"}), 1, ts, ts) for i in range(n + 200)))
c.executemany("INSERT INTO scim_members VALUES (?,?,?,?,?)", (("default", big, f"u{i}", "User", None) for i in range(n)))
c.executemany("INSERT INTO scim_members VALUES (?,?,?,?,?)", (("default", small, f"u{i}", "User", None) for i in range(10)))
c.commit()
EOF
patch_add() { curl -s -o /dev/null -w '%{http_code} ' -X PATCH -H "$H" -H "$CT" -d "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"u$2\"}]}]}" "$B/Groups/$1?excludedAttributes=members"; }
patch_rm() { curl -s -o /dev/null -w '%{http_code} ' -X PATCH -H "$H" -H "$CT" -d "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"remove\",\"path\":\"members[value eq \\\"u$2\\\"]\"}]}" "$B/Groups/$1?excludedAttributes=members"; }
timeit() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 100000 )); }
loop() { for i in $(seq 0 99); do "$1" "$2" $(( N + $3 + i )); done; }
for round in 1 2; do
  echo "round $round: add to 10 members: $(timeit loop patch_add "$small" 0) us/req; add to $N members: $(timeit loop patch_add "$big" 100) us/req"
  echo "round $round: remove from 10 members: $(timeit loop patch_rm "$small" 0) us/req; remove from $N members: $(timeit loop patch_rm "$big" 100) us/req"
done
echo "baseline (curl + GET /ServiceProviderConfig): $(timeit bash -c "for i in \$(seq 100); do curl -s -o /dev/null -H '$H' $B/ServiceProviderConfig; done") us/req"
