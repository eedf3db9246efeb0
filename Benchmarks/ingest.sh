#!/usr/bin/env bash
# Durable push ingest through the HTTP endpoint, release build, loopback.
# For 1, 16 and 64 keep-alive clients it prints acknowledged pushes/s and latency
# next to the same server's HTTP ceiling (GET /healthz, which stores nothing),
# measured in the same run, and the cost of one fsync on this disk.
# Needs wrk (apt-get install wrk). Usage: Benchmarks/ingest.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
command -v wrk >/dev/null || { echo "ingest.sh: needs wrk (apt-get install wrk)"; exit 2; }
swift build -c release --product taskhost >/dev/null
swift build -c release --product taskhost-worker >/dev/null
bin=$(swift build -c release --show-bin-path)
state=$(mktemp -d /tmp/taskhost-bench.XXXXXX)
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$state"' EXIT

"$bin/taskhost" credentials create --state-dir "$state" > "$state/token"
uri=$("$bin/taskhost" channels create SampleBackgroundTask --state-dir "$state" --base-url http://127.0.0.1:18099)
"$bin/taskhost" serve --no-dispatch --port 18099 --state-dir "$state" --channel-rate 1000000 --channel-burst 1000000 \
    --client-rate 1000000 --client-burst 1000000 \
    --log-level warning > "$state/serve.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q listening "$state/serve.out" 2>/dev/null && break; sleep 0.1; done

export TASKHOST_TOKEN=$(cat "$state/token") TASKHOST_CHANNEL_PATH=${uri#http://127.0.0.1:18099}
echo "machine: $(nproc) cores, $(uname -r); ${seconds}s per run; payload 64 bytes"
python3 - "$state" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
samples = []
for _ in range(200):
    os.write(fd, b"x" * 64)
    start = time.perf_counter(); os.fsync(fd); samples.append(time.perf_counter() - start)
samples.sort()
print(f"fsync after a 64-byte append: p50 {samples[100]*1000:.3f} ms, p99 {samples[198]*1000:.3f} ms")
PY
printf "%-8s %-14s %-14s %-10s %s\n" clients "stored/s" "ceiling/s" ratio "stored latency"
for clients in 1 16 64; do
    threads=$(( clients < 2 ? 1 : 2 ))
    ceiling=$(wrk -t$threads -c$clients -d${seconds}s http://127.0.0.1:18099/healthz | awk '/Requests\/sec/ {print $2}')
    stored=$(wrk -t$threads -c$clients -d${seconds}s -s Benchmarks/push.lua http://127.0.0.1:18099 | grep RESULT)
    rate=$(echo "$stored" | awk '{print $2}')
    printf "%-8s %-14s %-14s %-10s %s\n" "$clients" "$rate" "${ceiling%.*}" \
        "$(awk -v a="$rate" -v b="$ceiling" 'BEGIN {printf "%.2f", a / b}')" "$(echo "$stored" | cut -d' ' -f4-)"
done
echo "queued: $("$bin/taskhost" queue --state-dir "$state" | head -1)"
