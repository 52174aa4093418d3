#!/usr/bin/env bash
# Smoke test of deploy/docker-compose.yaml (`make smoke`, after `make images`):
# brings up the whole stack in one `up -d` under a project of its own: the
# 3-node NATS cluster (TLS, nkey users), the simulator, SMOKE_WORKERS worker
# replicas (KINETIC_WORKERS, as deploy/.env sets it) and the one-shot
# producer; waits for the example job (examples/data/accounts.csv: 2,000
# accounts, 8 designed to fail), then checks
#   - the producer exited 3 (PARTIAL) with 2000 records: 1992 loaded, 8 dead-lettered;
#   - its success and error CSVs hold 1992 and 8 rows;
#   - the simulated org holds 1992 live Accounts (GET /__admin/count/Account,
#     published by deploy/compose/sfsim-admin.yaml);
#   - the operator lists 8 dead letters (operator dlq list);
#   - NATS's published port demands TLS and authentication, and the
#     producer's credentials work through it from the host (producer wait,
#     the host command of README.md) but cannot purge dead letters;
#   - the workers' /metrics count 1992 loaded and 8 dead-lettered records.
# It always removes the stack and its volumes (down -v), and on failure prints
# the state and logs of the services involved.
#
# The NATS certificates and nkeys come from deploy/secrets/nats (made by
# deploy/certgen if missing). Host ports are picked by Docker (port 0), so it
# does not collide with a stack left running. Environment:
#   SMOKE_WORKERS       worker replicas (default 2)
#   SMOKE_TIMEOUT       seconds for the whole run before it gives up (default 420)
#   SMOKE_KEEP=1        leave the stack running for inspection (remove it with the
#                       `down -v` command printed at the end)
#   KINETIC_IMAGE_TAG   the images' tag (default dev)
set -euo pipefail

deploy_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project="kinetic-smoke-$$"
workers="${SMOKE_WORKERS:-2}"
budget="${SMOKE_TIMEOUT:-420}"
tag="${KINETIC_IMAGE_TAG:-dev}"
secrets="$deploy_dir/secrets/nats"
# The simulator's port is published by the opt-in override, for its admin API.
compose=(docker-compose -p "$project" -f "$deploy_dir/docker-compose.yaml" -f "$deploy_dir/compose/sfsim-admin.yaml")
# Docker picks free host ports; found again with `docker-compose port`. The
# worker count goes through the same variable as deploy/.env's.
export KINETIC_BIND_ADDR=127.0.0.1 KINETIC_NATS_PORT=0 KINETIC_SFSIM_PORT=0 KINETIC_CONSOLE_PORT=0 KINETIC_WORKERS="$workers" KINETIC_IMAGE_TAG="$tag"
unset COMPOSE_FILE

want_total=2000 want_loaded=1992 want_dead=8 want_exit=3

start=$(date +%s)
tmp=$(mktemp -d)
log() { printf '[smoke %3ds] %s\n' "$(($(date +%s) - start))" "$*"; }
remaining() { local r=$((budget - ($(date +%s) - start))); echo $((r > 1 ? r : 1)); }
# bounded CMD...: CMD within what is left of the budget; exit status 124 when
# it runs out. --foreground: Ctrl-C reaches CMD.
bounded() { timeout --foreground "$(remaining)" "$@"; }

# The original stdout and stderr: a trap can run while a function's output
# is redirected to a file, and the teardown report must not go there.
exec 3>&1 4>&2
cleanup() {
  local rc=$?
  exec 1>&3 2>&4
  if [ "${SMOKE_KEEP:-}" = 1 ]; then
    log "SMOKE_KEEP=1: stack left running; remove it with: ${compose[*]} down -v"
  else
    log "tearing down project $project (down -v)"
    timeout --foreground 120 "${compose[@]}" down -v --remove-orphans --timeout 20 >"$tmp/down.log" 2>&1 ||
      { cat "$tmp/down.log" >&2; echo "smoke: down -v failed; remove the project $project by hand" >&2; }
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# dump prints the stack's state, then the logs of every container that is not
# running and healthy, of the producer, and of the services named as arguments.
dump() {
  echo "---- docker-compose ps ($project)" >&2
  timeout 30 "${compose[@]}" ps >&2 || true
  local c name service state health show s
  while read -r c; do
    [ -n "$c" ] || continue
    read -r name service state health < <(docker inspect -f '{{.Name}} {{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}' "$c") || continue
    show=no
    [ "$state $health" = "running healthy" ] || show=yes
    for s in producer "$@"; do [ "$service" = "$s" ] && show=yes; done
    if [ "$show" = yes ]; then
      echo "---- logs of ${name#/} ($state, health $health), last 60 lines" >&2
      docker logs --tail 60 "$c" 2>&1 | sed 's/^/  /' >&2 || true
    fi
  done < <(docker ps -aq --filter "label=com.docker.compose.project=$project")
}

fail() {
  echo "smoke: FAILED: $1" >&2
  shift
  dump "$@"
  exit 1
}

for tool in docker docker-compose curl timeout go; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool is not installed" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "smoke: the Docker engine is not reachable" >&2; exit 1; }
for img in worker producer sfsim nats console; do
  docker image inspect "kinetic/$img:$tag" >/dev/null 2>&1 ||
    { echo "smoke: image kinetic/$img:$tag is missing: run make images (deploy/build-images.sh)" >&2; exit 1; }
done
# The NATS material (make images made it; this keeps what is there).
(cd "$deploy_dir/.." && go run ./deploy/certgen) || { echo "smoke: deploy/certgen failed" >&2; exit 1; }

# compose_up WHAT ARGS...: docker-compose up -d ARGS, or fail saying WHAT.
compose_up() {
  local what=$1 rc=0
  shift
  bounded "${compose[@]}" up -d "$@" >"$tmp/up.log" 2>&1 || rc=$?
  [ "$rc" = 0 ] && return 0
  sed 's/^/  /' "$tmp/up.log" >&2
  [ "$rc" = 124 ] && fail "$what: timed out (SMOKE_TIMEOUT=${budget}s)"
  fail "$what: docker-compose up failed (exit $rc)"
}

# One step, as README.md says: the workers start together on the new
# cluster (each retries its set-up until the cluster answers), and up -d
# returns once the producer has started, i.e. after every worker replica
# reported healthy (or one became unhealthy).
log "up: project $project: 3 NATS nodes, simulator, $workers workers, producer"
compose_up "starting the stack"
producer=$("${compose[@]}" ps -q producer)
[ -n "$producer" ] || fail "no producer container"
log "stack healthy; waiting for the producer's job"

code=$(bounded docker wait "$producer") || fail "the producer did not finish (SMOKE_TIMEOUT=${budget}s)" worker
docker logs "$producer" >"$tmp/producer.log" 2>&1
log "producer exited $code"
job=$(sed -n 's/^job \([^:]*\): published.*/\1/p' "$tmp/producer.log")

# The summary lines: "  loaded:            1992".
field() { sed -n "s/^ *$1: *\([^ ]*\).*/\1/p" "$tmp/producer.log" | tail -n 1; }
total=$(field 'total records') loaded=$(field loaded) dead=$(field dead-lettered) status=$(field status)
[ "$code" = "$want_exit" ] || fail "producer exit code $code, want $want_exit (PARTIAL: $want_dead rows are designed to fail)" worker
if [ "$status/$total/$loaded/$dead" != "partial/$want_total/$want_loaded/$want_dead" ]; then
  fail "producer summary: status/total/loaded/dead-lettered = $status/$total/$loaded/$dead, want partial/$want_total/$want_loaded/$want_dead" worker
fi

# The success and error CSVs, from the producer-out volume.
docker cp "$producer:/out" "$tmp/out" >/dev/null || fail "cannot copy /out from the producer container"
rows() { local f; f=$(compgen -G "$tmp/out/$1-*.csv" | head -n 1) || true; [ -n "$f" ] && echo $(($(wc -l <"$f") - 1)) || echo missing; }
success_rows=$(rows success) error_rows=$(rows error)
if [ "$success_rows/$error_rows" != "$want_loaded/$want_dead" ]; then
  fail "output CSVs: $success_rows success rows and $error_rows error rows, want $want_loaded and $want_dead"
fi

# The simulated org, through its published admin API.
sfsim_addr=$("${compose[@]}" port sfsim 7080) || fail "the simulator's port 7080 is not published" sfsim
count=$(curl -fsS --max-time 10 "http://$sfsim_addr/__admin/count/Account") || fail "GET /__admin/count/Account on $sfsim_addr failed" sfsim
live=$(sed -n 's/.*"live": *\([0-9]*\).*/\1/p' <<<"$count")
[ "$live" = "$want_loaded" ] || fail "the simulator holds $live live Accounts ($count), want $want_loaded" sfsim worker

# The dead-letter stream, as the operator. check_dlq WHEN: fails unless it
# lists want_dead dead letters.
check_dlq() {
  bounded "${compose[@]}" run --rm operator dlq list --pipeline accounts >"$tmp/dlq.log" 2>&1 ||
    { cat "$tmp/dlq.log" >&2; fail "$1: operator dlq list failed"; }
  dlq=$(sed -n 's/^\([0-9]*\) dead letters$/\1/p' "$tmp/dlq.log")
  [ "$dlq" = "$want_dead" ] || { cat "$tmp/dlq.log" >&2; fail "$1: dlq list shows ${dlq:-no} dead letters, want $want_dead"; }
}
check_dlq "after the job"

# NATS's published port: TLS and authentication, announced in the INFO line
# the server sends first. Then the producer's credentials from the host, as
# README.md shows (through a container on the host's network: no Go build).
nats_addr=$("${compose[@]}" port nats-1 4222) || fail "nats-1's port 4222 is not published" nats-1
info=$(timeout 10 bash -c 'exec 5<>"/dev/tcp/${1%:*}/${1##*:}" && IFS= read -r line <&5 && printf "%s" "$line"' _ "$nats_addr") ||
  fail "no INFO line from NATS at $nats_addr" nats-1
for want in '"tls_required":true' '"auth_required":true'; do
  [[ $info == *"$want"* ]] || fail "NATS at $nats_addr does not announce $want: $info" nats-1
done
host_producer() {
  bounded docker run --rm --network host -v "$secrets/producer:/etc/kinetic/nats:ro" \
    -e NATS_URL="tls://$nats_addr" -e NATS_TLS_CA=/etc/kinetic/nats/ca.pem -e NATS_NKEY=/etc/kinetic/nats/user.nk \
    -e NATS_INBOX_PREFIX=_INBOX_producer "kinetic/producer:$tag" "$@"
}
rc=0
host_producer wait --job "$job" --total "$want_total" >"$tmp/wait.log" 2>&1 || rc=$?
if [ "$rc" != "$want_exit" ] || ! grep -q "loaded: *$want_loaded" "$tmp/wait.log"; then
  cat "$tmp/wait.log" >&2
  fail "producer wait from the host (tls://$nats_addr, the producer's nkey): exit $rc, want $want_exit and $want_loaded loaded" nats-1
fi
# The producer's credentials cannot remove dead letters.
rc=0
host_producer dlq purge --pipeline accounts --yes >"$tmp/purge.log" 2>&1 || rc=$?
if [ "$rc" = 0 ] || ! grep -q "Permissions Violation" "$tmp/purge.log"; then
  cat "$tmp/purge.log" >&2
  fail "dlq purge with the producer's credentials: exit $rc, want a permissions violation"
fi
check_dlq "after the producer's purge attempt"

# Every replica's /metrics, on its ephemeral host port.
metric_sum() { # outcome, files...: sums kinetic_records_total{…outcome="$1"…}
  local outcome=$1; shift
  awk -v o="outcome=\"$outcome\"" '/^kinetic_records_total\{/ && index($0, o) { s += $NF } END { printf "%d", s }' "$@"
}
per_replica=()
for i in $(seq 1 "$workers"); do
  addr=$("${compose[@]}" port --index="$i" worker 9464) || fail "worker $i's port 9464 is not published" worker
  curl -fsS --max-time 10 "http://$addr/metrics" >"$tmp/metrics-$i" || fail "GET /metrics of worker $i ($addr) failed" worker
  per_replica+=("${per_replica:+ }worker $i: $(metric_sum loaded "$tmp/metrics-$i") loaded, $(metric_sum dead_lettered "$tmp/metrics-$i") dead-lettered")
done
m_loaded=$(metric_sum loaded "$tmp"/metrics-*) m_dead=$(metric_sum dead_lettered "$tmp"/metrics-*)
if [ "$m_loaded/$m_dead" != "$want_loaded/$want_dead" ]; then
  fail "workers' /metrics: $m_loaded loaded and $m_dead dead-lettered, want $want_loaded and $want_dead" worker
fi

# The operator console, as the NATS user operator: the pipeline on the
# overview, and its dead letters.
console_addr=$("${compose[@]}" port console 8080) || fail "the console's port 8080 is not published" console
curl -fsS --max-time 10 "http://$console_addr/" >"$tmp/console.html" || fail "GET / of the console ($console_addr) failed" console
grep -q 'accounts' "$tmp/console.html" || fail "the console's overview does not show the pipeline accounts" console
curl -fsS --max-time 10 "http://$console_addr/dlq?pipeline=accounts" >"$tmp/console-dlq.html" || fail "GET /dlq of the console failed" console
grep -q "<b id=\"dl-total\">$want_dead</b> dead letters" "$tmp/console-dlq.html" ||
  fail "the console's dead-letter page does not count the job's $want_dead dead letters" console

log "PASS"
cat <<EOF
  producer:         exit $code ($status), $total records: $loaded loaded, $dead dead-lettered
  output CSVs:      $success_rows success rows, $error_rows error rows
  simulator:        $live live Accounts ($sfsim_addr)
  dead letters:     $dlq (operator dlq list; the producer's purge refused)
  NATS host port:   $nats_addr: TLS and auth required; producer wait with its nkey: exit $want_exit
  worker /metrics:  $m_loaded loaded, $m_dead dead-lettered ($(IFS=';'; echo "${per_replica[*]}"))
  elapsed:          $(($(date +%s) - start))s before teardown
EOF
