-- wrk done() hook: prints one machine-readable summary line that bench/lib/wrkrun.py parses.
-- Latencies in microseconds. 'status' counts responses with status >= 400 (wrk's own rule).
-- Used alone (GET scenarios) or loaded by chunked_post.lua.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "TERN_BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d " ..
      "max_us=%d mean_us=%.1f connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout))
end
