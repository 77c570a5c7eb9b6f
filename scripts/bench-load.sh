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
#   GROUP_SIZES="10 10000 1000000" USERS=1000000 bash scripts/bench-load.sh
#   BULK=0 DURATION=4s bash scripts/bench-load.sh   # no /Bulk import at the end, shorter runs
#   SCENARIOS="get_id post" bash scripts/bench-load.sh  # only these scenarios (names as printed)
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
  psql "$DB_URL" -qc 'DROP TABLE IF EXISTS scim_audit, scim_index, scim_counts, scim_store_state, scim_members, scim_resources, scim_tokens, _sqlx_migrations CASCADE' >/dev/null
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
seed() { # base, count, prefix[, file to write the new ids to]
  python3 "$ROOT/scripts/seed-users.py" "$1" "$2" "$3" "$TOK" "${4:-}"
}
T0=$(date +%s.%N)
seed "http://$OURS/scim/v2" "$USERS" u "$W/all-ids"
T1=$(date +%s.%N)
echo "seeded $USERS users through /Bulk in $(python3 -c "print(round($T1-$T0,1))") s"
PY_USERS=$(( USERS < 2000 ? USERS : 2000 ))
[ -n "$PY_BASE" ] && seed "$PY_BASE" "$PY_USERS" u

ids_of() { # base -> file of ids (first 1000)
  curl -s -H "Authorization: Bearer $TOK" "$1/Users?count=1000&attributes=id" | python3 -c 'import sys,json;[print(r["id"]) for r in json.load(sys.stdin)["Resources"]]' >"$2"
}
ids_of "http://$OURS/scim/v2" "$W/ids-ours"
[ -n "$PY_BASE" ] && ids_of "$PY_BASE" "$W/ids-py"

# Users for the DELETE scenario (each deleted once) are seeded just before it runs, so the
# list and filter scenarios see only the USERS seeded above. Enough for 15,000 deletes a
# second for the whole DURATION: once the list is used up, DELETEs answer 404 and the figure
# means nothing (the scenario's line then says how many were not 2xx).
secs() { case $1 in *ms) echo 1 ;; *s) echo "${1%s}" ;; *m) echo $(( ${1%m} * 60 )) ;; *h) echo $(( ${1%h} * 3600 )) ;; *) echo "$1" ;; esac; }
DEL_USERS=${DEL_USERS:-$(( 15000 * $(secs "$DURATION") ))}
: >"$W/del-ids"
# One group per size in GROUP_SIZES for the member scenarios (members are the first seeded
# users).
GROUP_SIZES=${GROUP_SIZES:-10 10000}
declare -A GID
for size in $GROUP_SIZES; do
  [ "$size" -gt "$USERS" ] && { echo "skipping the $size-member group: only $USERS users" >&2; continue; }
  T2=$(date +%s.%N)
  GID[$size]=$(python3 - "http://$OURS/scim/v2" "$TOK" "$size" "$W/all-ids" <<'PYEOF'
import json, sys, urllib.request
base, tok, size, idfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
h = {"Authorization": "Bearer " + tok, "Content-Type": "application/scim+json"}
def call(method, url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), h, method=method)
    return json.loads(urllib.request.urlopen(req).read() or b"{}")
g = call("POST", base + "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": f"g{size}"})
ids = []
with open(idfile) as f:
    for line in f:
        ids.append(line.strip())
        if len(ids) == size:
            break
for i in range(0, len(ids), 1000):
    call("PATCH", base + "/Groups/" + g["id"] + "?excludedAttributes=members", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": v} for v in ids[i:i + 1000]]}]})
print(g["id"])
PYEOF
)
  echo "group of $size members built in $(python3 -c "print(round($(date +%s.%N)-$T2,1))") s"
done
if [[ $DB_URL == postgres* ]]; then
  # What autovacuum does after a bulk load (this machine's PostgreSQL runs with autovacuum off):
  # with statistics of an emptier database the planner reads a whole tenant (or every member
  # of the largest group) for a lookup.
  psql "$DB_URL" -qc 'VACUUM ANALYZE' >/dev/null
fi

# One wrk Lua script per scenario: {base} is the server's base path, {ids} its id file.
lua() { # name method path-template body-template
  cat >"$W/$1.lua" <<LUAEOF
local ids, n, counter = {}, 0, 0
local dels, nd = {}, 0
init = function(args) math.randomseed(os.time() * 100 + (thread_id or 0)) end
for line in io.lines("IDS") do n = n + 1; ids[n] = line end
for line in io.lines("DELIDS") do nd = nd + 1; dels[nd] = line end
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
  -- {del}: each id of the DELETE list once (threads take turns), then the first again.
  local del = dels[((counter - 1) * $THREADS + (thread_id or 1) - 1) % math.max(nd, 1) + 1] or ""
  local function fill(t)
    return (t:gsub("{i}", tostring(i)):gsub("{id}", id):gsub("{del}", del):gsub("{tid}", tostring(thread_id or 0)):gsub("{n}", tostring(counter)))
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
lua delete DELETE '/Users/{del}' ''
# One member added and removed again in one PATCH: the group keeps its size.
lua member PATCH '/Groups/GID?excludedAttributes=members' '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{id}"}]},{"op":"remove","path":"members[value eq \"{id}\"]"}]}'

run_wrk() { # lua-file base ids host [group id] -> "req/s p50 p99 non-2xx"
  sed -e "s#DELIDS#$W/del-ids#" -e "s#IDS#$3#" -e "s#BASE#$2#" -e "s#GID#${5:-}#" "$W/$1.lua" >"$W/run.lua"
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
    delete) : ;;
    member*) curl -s -H "Authorization: Bearer $TOK" "http://$OURS/scim/v2/Groups/${GID[${1#member}]}?excludedAttributes=members" ;;
  esac >"$W/body.json"
}

printf '%-18s %12s %9s %9s %12s %7s %12s %7s\n' scenario ours p50 p99 ceiling ratio scim2-server ratio
if [ -z "${SCENARIOS:-}" ]; then
  SCENARIOS="get_id filter_username filter_externalid filter_complex list_first list_deep post patch put delete"
  for size in $GROUP_SIZES; do [ -n "${GID[$size]:-}" ] && SCENARIOS="$SCENARIOS member$size"; done
fi
for s in $SCENARIOS; do
  lf=$s; gid=""
  case $s in member*) lf=member; gid=${GID[${s#member}]} ;; esac
  if [ "$s" = delete ]; then
    T7=$(date +%s.%N)
    seed "http://$OURS/scim/v2" "$DEL_USERS" del "$W/del-ids"
    echo "seeded $DEL_USERS users to delete in $(python3 -c "print(round($(date +%s.%N)-$T7,1))") s" >&2
  fi
  sample_body "$s"
  "$BIN/examples/bench_ceiling" $CEIL "$W/body.json" >/dev/null 2>&1 & CPID=$!
  wait_up "http://$CEIL/"
  read -r c_rps _ _ _ < <(run_wrk "$lf" "" "$W/ids-ours" $CEIL "$gid")
  kill $CPID; wait $CPID 2>/dev/null || true
  read -r o_rps o50 o99 o_bad < <(run_wrk "$lf" /scim/v2 "$W/ids-ours" $OURS "$gid")
  p_rps="-"; p_ratio="-"
  # scim2-server: the same scenarios, except those that need its own deletable users and groups.
  if [ -n "$PY_BASE" ] && [ "$s" != delete ] && [ -z "$gid" ]; then
    read -r p_rps _ _ _ < <(run_wrk "$lf" "${PY_BASE#http://$PYS}" "$W/ids-py" $PYS)
    p_ratio=$(python3 -c "print(f'{$o_rps/max($p_rps,1):.1f}x')")
  fi
  ratio=$(python3 -c "print(f'{$o_rps/max($c_rps,1):.2f}')")
  printf '%-18s %12s %9s %9s %12s %7s %12s %7s' "$s" "$o_rps" "$o50" "$o99" "$c_rps" "$ratio" "$p_rps" "$p_ratio"
  [ "$o_bad" != "0" ] && printf '  (%s non-2xx)' "$o_bad"
  echo
done

# Paging through every user to the end, one client: cursors (RFC 9865) and startIndex.
walk() { # base mode -> "users seconds"
  python3 - "$1" "$TOK" "$2" <<'PYEOF'
import json, sys, time, urllib.request
base, tok, mode = sys.argv[1], sys.argv[2], sys.argv[3]
h = {"Authorization": "Bearer " + tok}
t, n, cursor, start = time.time(), 0, "", 1
while True:
    q = f"cursor={cursor}" if mode == "cursor" else f"startIndex={start}"
    body = json.loads(urllib.request.urlopen(urllib.request.Request(f"{base}/Users?count=100&{q}", None, h)).read())
    got = len(body.get("Resources", []))
    n += got
    start += got
    cursor = body.get("nextCursor")
    if got == 0 or (mode == "cursor" and not cursor) or (mode == "index" and start > body["totalResults"]):
        break
print(n, round(time.time() - t, 2))
PYEOF
}
read -r n_c t_c < <(walk "http://$OURS/scim/v2" cursor)
read -r n_i t_i < <(walk "http://$OURS/scim/v2" index)
echo "paging to the end by 100: cursor $n_c users in $t_c s; startIndex $n_i users in $t_i s"

# GET of the largest group with its members, and the server's memory around it.
for size in $GROUP_SIZES; do :; done
if [ -n "${GID[${size:-0}]:-}" ]; then
  rss0=$(awk '/VmRSS/ {print $2}' /proc/$SERVER_PID/status)
  T3=$(date +%s.%N)
  bytes=$(curl -s -H "Authorization: Bearer $TOK" "http://$OURS/scim/v2/Groups/${GID[$size]}" | wc -c)
  T4=$(date +%s.%N)
  rss1=$(awk '/VmRSS/ {print $2}' /proc/$SERVER_PID/status)
  echo "GET of the $size-member group: $bytes bytes in $(python3 -c "print(round($T4-$T3,2))") s; server RSS $((rss0/1024)) MB before, $((rss1/1024)) MB after"
fi

# /Bulk import into the same server (1,000 operations a request).
BULK=${BULK:-100000}
if [ "$BULK" -gt 0 ]; then
  T5=$(date +%s.%N)
  seed "http://$OURS/scim/v2" "$BULK" imp
  T6=$(date +%s.%N)
  echo "/Bulk import of $BULK users: $(python3 -c "print(round($T6-$T5,1))") s"
fi
echo "server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$SERVER_PID/status)"
echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
