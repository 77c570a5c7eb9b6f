#!/usr/bin/env bash
# Load benchmark of the scim-server release binary against its ceiling (a bare axum server
# returning the same body, scim-server/examples/bench_ceiling.rs) and, when its virtual
# environment exists (bash .ci/python-env.sh), the Python reference server scim2-server.
# Every scenario runs against each server in turn, in the same run, and is printed with its
# ratio to the ceiling. Figures and machine: docs/benchmarks.md.
#
#   bash scripts/bench-load.sh                 # SQLite, 10,000 users
#   USERS=100000 bash scripts/bench-load.sh
#   DB=postgres://postgres@127.0.0.1/bench bash scripts/bench-load.sh
#
# Needs cargo, curl, python3 and wrk (apt-get install wrk; installed here when missing).
# Everything listens on 127.0.0.1 and is stopped on exit. Not part of `cargo test`.
set -euo pipefail
USERS=${USERS:-10000}
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${SCIM_INTEROP_PYTHON:-$ROOT/.venv-interop/bin/python}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --manifest-path "$ROOT/Cargo.toml" -p scim-server --bin scim-server --example bench_ceiling >/dev/null 2>&1
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
TOK=bench-token
OURS=127.0.0.1:18091 CEIL=127.0.0.1:18092 PYS=127.0.0.1:18093
DB_URL=${DB:-sqlite://$W/scim.db}
if [[ $DB_URL == postgres* ]]; then
  psql "$DB_URL" -qc 'DROP TABLE IF EXISTS scim_index, scim_counts, scim_store_state, scim_members, scim_resources, scim_tokens, _sqlx_migrations CASCADE' >/dev/null
fi
"$BIN/scim-server" --listen $OURS --database-url "$DB_URL" --token $TOK >"$W/server.log" 2>&1 &
SERVER_PID=$!; PIDS+=($SERVER_PID)
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no server at $1" >&2; exit 1; }
wait_up "http://$OURS/scim/v2/ServiceProviderConfig"
PY_BASE=""
if [ -x "$PY" ]; then
  "$PY" -m scim2_server.testserver.cli --hostname 127.0.0.1 --port ${PYS##*:} --bearer-token $TOK >"$W/py.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q "Serving SCIM" "$W/py.log" 2>/dev/null && break; sleep 0.2; done
  PY_BASE=$(grep -o 'http://[^ ]*' "$W/py.log" | head -1)
fi

# Seed: users through /Bulk (1,000 operations a request).
seed() { # base, count, prefix
  python3 - "$1" "$2" "$3" "$TOK" <<'PYEOF'
import json, sys, urllib.request
base, n, prefix, tok = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
for start in range(0, n, 1000):
    ops = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{prefix}{i}@example.com", "externalId": f"{prefix}ext-{i}",
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        "emails": [{"value": f"{prefix}{i}@example.com", "type": "work", "primary": True}],
        "title": ["Engineer", "Manager", "Analyst"][i % 3], "active": True}}
        for i in range(start, min(n, start + 1000))]
    body = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}).encode()
    req = urllib.request.Request(base + "/Bulk", body, {"Authorization": "Bearer " + tok, "Content-Type": "application/scim+json"})
    urllib.request.urlopen(req).read()
PYEOF
}
T0=$(date +%s.%N)
seed "http://$OURS/scim/v2" "$USERS" u
T1=$(date +%s.%N)
echo "seeded $USERS users through /Bulk in $(python3 -c "print(round($T1-$T0,1))") s"
if [[ $DB_URL == postgres* ]]; then
  # What autovacuum does after a bulk load (this machine's PostgreSQL runs with autovacuum off):
  # without statistics the planner may read a whole tenant in id order for a lookup.
  psql "$DB_URL" -qc 'ANALYZE' >/dev/null
fi
PY_USERS=$(( USERS < 2000 ? USERS : 2000 ))
[ -n "$PY_BASE" ] && seed "$PY_BASE" "$PY_USERS" u

ids_of() { # base -> file of ids (first 1000)
  curl -s -H "Authorization: Bearer $TOK" "$1/Users?count=1000&attributes=id" | python3 -c 'import sys,json;[print(r["id"]) for r in json.load(sys.stdin)["Resources"]]' >"$2"
}
ids_of "http://$OURS/scim/v2" "$W/ids-ours"
[ -n "$PY_BASE" ] && ids_of "$PY_BASE" "$W/ids-py"

# One wrk Lua script per scenario: {base} is the server's base path, {ids} its id file.
lua() { # name method path-template body-template
  cat >"$W/$1.lua" <<LUAEOF
local ids, n, counter = {}, 0, 0
init = function(args) math.randomseed(os.time() * 100 + (thread_id or 0)) end
for line in io.lines("IDS") do n = n + 1; ids[n] = line end
local started = 0
-- thread_id is a global of each thread's own Lua state, set from the main state.
setup = function(thread) started = started + 1; thread:set("thread_id", started) end
wrk.method = "$2"
wrk.headers["Authorization"] = "Bearer $TOK"
wrk.headers["Content-Type"] = "application/scim+json"
request = function()
  counter = counter + 1
  local i = math.random(0, $USERS - 1)
  local id = ids[math.random(1, n)]
  local function fill(t)
    return (t:gsub("{i}", tostring(i)):gsub("{id}", id):gsub("{tid}", tostring(thread_id or 0)):gsub("{n}", tostring(counter)))
  end
  local path = fill([[$3]])
  local body = fill([[$4]])
  if body == "" then body = nil end
  return wrk.format(nil, "BASE" .. path, nil, body)
end
LUAEOF
}
lua get_id GET '/Users/{id}' ''
lua filter_username GET '/Users?filter=userName%20eq%20%22u{i}@example.com%22' ''
lua filter_externalid GET '/Users?filter=externalId%20eq%20%22uext-{i}%22' ''
lua filter_complex GET '/Users?filter=title%20eq%20%22Analyst%22%20and%20name.givenName%20co%20%22ven1%22&count=10' ''
lua list_first GET '/Users?startIndex=1&count=100' ''
lua list_deep GET '/Users?startIndex={i}&count=100' ''
lua post POST '/Users' '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new-{tid}-{n}-{i}@example.com","active":true}'
lua patch PATCH '/Users/{id}' '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"T{n}"}]}'
lua put PUT '/Users/{id}' '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"put-{id}@example.com","title":"P{n}","active":true}'

run_wrk() { # lua-file base ids -> "req/s p50 p99"
  sed -e "s#IDS#$3#" -e "s#BASE#$2#" "$W/$1.lua" >"$W/run.lua"
  local out; out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$W/run.lua" "http://${4}" 2>&1)
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print int($2)}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "$rps $p50 $p99 ${non2xx:-0}"
}
sample_body() { # scenario -> writes a real response body of ours for the ceiling
  local id; id=$(head -1 "$W/ids-ours")
  case $1 in
    get_id|patch|put) curl -s -H "Authorization: Bearer $TOK" "http://$OURS/scim/v2/Users/$id" ;;
    filter_username) curl -s -H "Authorization: Bearer $TOK" "http://$OURS/scim/v2/Users?filter=userName%20eq%20%22u1@example.com%22" ;;
    filter_externalid) curl -s -H "Authorization: Bearer $TOK" "http://$OURS/scim/v2/Users?filter=externalId%20eq%20%22uext-1%22" ;;
    filter_complex) curl -s -H "Authorization: Bearer $TOK" "http://$OURS/scim/v2/Users?filter=title%20eq%20%22Analyst%22%20and%20name.givenName%20co%20%22ven1%22&count=10" ;;
    list_first|list_deep) curl -s -H "Authorization: Bearer $TOK" "http://$OURS/scim/v2/Users?count=100" ;;
    post) curl -s -H "Authorization: Bearer $TOK" "http://$OURS/scim/v2/Users/$id" ;;
  esac >"$W/body.json"
}

printf '%-18s %12s %9s %9s %12s %7s %12s %7s\n' scenario ours p50 p99 ceiling ratio scim2-server ratio
for s in get_id filter_username filter_externalid filter_complex list_first list_deep post patch put; do
  sample_body "$s"
  "$BIN/examples/bench_ceiling" $CEIL "$W/body.json" >/dev/null 2>&1 & CPID=$!
  wait_up "http://$CEIL/"
  read -r c_rps _ _ _ < <(run_wrk "$s" "" "$W/ids-ours" $CEIL)
  kill $CPID; wait $CPID 2>/dev/null || true
  read -r o_rps o50 o99 o_bad < <(run_wrk "$s" /scim/v2 "$W/ids-ours" $OURS)
  p_rps="-"; p_ratio="-"
  if [ -n "$PY_BASE" ]; then
    read -r p_rps _ _ _ < <(run_wrk "$s" "${PY_BASE#http://$PYS}" "$W/ids-py" $PYS)
    p_ratio=$(python3 -c "print(f'{$o_rps/max($p_rps,1):.1f}x')")
  fi
  ratio=$(python3 -c "print(f'{$o_rps/max($c_rps,1):.2f}')")
  printf '%-18s %12s %9s %9s %12s %7s %12s %7s' "$s" "$o_rps" "$o50" "$o99" "$c_rps" "$ratio" "$p_rps" "$p_ratio"
  [ "$o_bad" != "0" ] && printf '  (%s non-2xx)' "$o_bad"
  echo
done
echo "server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$SERVER_PID/status)"
echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
