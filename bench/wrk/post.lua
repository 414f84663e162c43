-- wrk script: POST with a Content-Length body of BENCH_POST_BYTES bytes (default 512), the
-- beacon scenario: a small body sent to an answer the proxy makes itself.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

wrk.method = "POST"
wrk.body = string.rep("b", tonumber(os.getenv("BENCH_POST_BYTES") or "512"))
wrk.headers["Content-Type"] = "text/plain"
