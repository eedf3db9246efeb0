-- wrk script: raw WNS pushes to one channel. TASKHOST_TOKEN and TASKHOST_CHANNEL_PATH come from the environment.
wrk.method = "POST"
wrk.path = os.getenv("TASKHOST_CHANNEL_PATH")
wrk.body = string.rep("x", 64)
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TASKHOST_TOKEN")
wrk.headers["X-WNS-Type"] = "wns/raw"
wrk.headers["Content-Type"] = "application/octet-stream"

local failures = 0
response = function(status, headers, body)
  if status ~= 200 then failures = failures + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f req/s  p50 %.2f ms  p99 %.2f ms  non-200 %d  errors %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
