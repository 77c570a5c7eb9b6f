#!/usr/bin/env bash
# A/B of two scim-server binaries on this machine: each scenario runs against A, then B, for
# ROUNDS rounds, on the same SQLite database, and prints req/s and the server's CPU time per
# request (utime + stime from /proc/PID/stat). CPU per request is disturbed much less than
# req/s when other work shares the machine; compare rounds, not single figures.
#
#   bash scripts/bench-ab.sh OLD_BINARY NEW_BINARY [ROUNDS]
#   SCENARIOS="get_id list_first bulk" USERS=10000 BULK=30000 bash scripts/bench-ab.sh a b 3
#
# Scenarios: get_id, filter_username, filter_complex, list_first (wrk -t2 -c32 -dDURATION), and
# bulk (a /Bulk import of BULK users into a fresh database: wall time and server CPU).
# Needs curl, python3 and wrk. Listens on 127.0.0.1 only; stops what it starts.
set -euo pipefail
A=$(realpath "$1") B=$(realpath "$2") ROUNDS=${3:-3}
USERS=${USERS:-10000} BULK=${BULK:-30000} DURATION=${DURATION:-4s}
SCENARIOS=${SCENARIOS:-get_id filter_username filter_complex list_first bulk}
ADDR=127.0.0.1:${PORT:-18591} TOK=ab-token
W=$(mktemp -d)
SERVER=""
stop() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; SERVER=""; }
trap 'stop; rm -rf "$W"' EXIT
start() { # binary database
  "$1" --listen "$ADDR" --database-url "sqlite://$2" --token $TOK >"$W/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://$ADDR/scim/v2/ServiceProviderConfig" && return; sleep 0.1; done
  echo "no server at $ADDR" >&2; exit 1
}
cpu() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; } # clock ticks
TICK=$(getconf CLK_TCK)
seed() { # count prefix [id file]
  python3 "$(dirname "$0")/seed-users.py" "http://$ADDR/scim/v2" "$1" "$2" $TOK "${3:-}"
}
lua() { # name path (may use {id} and {i})
  cat >"$W/$1.lua" <<LUAEOF
local ids, n = {}, 0
for line in io.lines("$W/ids") do n = n + 1; ids[n] = line end
wrk.headers["Authorization"] = "Bearer $TOK"
request = function()
  local p = [[$2]]
  p = p:gsub("{id}", ids[math.random(1, n)]):gsub("{i}", tostring(math.random(0, $USERS - 1)))
  return wrk.format("GET", "/scim/v2" .. p)
end
LUAEOF
}
lua get_id '/Users/{id}'
lua filter_username '/Users?filter=userName%20eq%20%22u{i}@example.com%22'
lua filter_complex '/Users?filter=title%20eq%20%22Analyst%22%20and%20name.givenName%20co%20%22ven1%22&count=10'
lua list_first '/Users?startIndex=1&count=100'

start "$A" "$W/db.sqlite"
seed "$USERS" u "$W/ids"
stop
echo "A=$A"; echo "B=$B"
printf '%-16s %5s %3s %10s %14s\n' scenario round bin req/s "CPU/request"
for s in $SCENARIOS; do
  for r in $(seq "$ROUNDS"); do
    for v in A B; do
      bin=${!v}
      if [ "$s" = bulk ]; then
        rm -f "$W"/bulk.sqlite*
        start "$bin" "$W/bulk.sqlite"
        c0=$(cpu); t0=$(date +%s.%N)
        seed "$BULK" b
        t1=$(date +%s.%N); c1=$(cpu)
        printf '%-16s %5s %3s %10s %14s\n' "bulk $BULK" "$r" "$v" "$(python3 -c "print(f'{$t1-$t0:.2f} s')")" "$(( (c1 - c0) * 1000 / TICK )) ms (all)"
      else
        start "$bin" "$W/db.sqlite"
        c0=$(cpu)
        out=$(wrk -t2 -c32 -d"$DURATION" -s "$W/$s.lua" "http://$ADDR")
        c1=$(cpu)
        n=$(echo "$out" | awk '/requests in/ {print $1}')
        rps=$(echo "$out" | awk '/Requests\/sec/ {print int($2)}')
        printf '%-16s %5s %3s %10s %14s\n' "$s" "$r" "$v" "$rps" "$(( (c1 - c0) * 1000000 / TICK / n )) µs"
      fi
      stop
    done
  done
done
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
