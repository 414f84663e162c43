-- wrk script: POST /anything with a Transfer-Encoding: chunked body.
-- Body size and chunk size come from the environment (defaults: 64 KiB in 4 KiB chunks).
-- wrk.format() would add Content-Length, so the request is written out by hand.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local body_size  = tonumber(os.getenv("BENCH_POST_BYTES") or "65536")
local chunk_size = tonumber(os.getenv("BENCH_CHUNK_BYTES") or "4096")
local path       = os.getenv("BENCH_POST_PATH") or "/anything"
local req

function init(args)
   local host = wrk.headers["Host"] or wrk.host
   local parts = {
      "POST " .. path .. " HTTP/1.1\r\n",
      "Host: " .. host .. "\r\n",
      "Content-Type: application/octet-stream\r\n",
      "Transfer-Encoding: chunked\r\n",
   }
   for name, value in pairs(wrk.headers) do
      if name ~= "Host" then parts[#parts + 1] = name .. ": " .. value .. "\r\n" end
   end
   parts[#parts + 1] = "\r\n"
   local left = body_size
   local chunk = string.rep("x", chunk_size)
   while left > 0 do
      local n = math.min(left, chunk_size)
      parts[#parts + 1] = string.format("%x\r\n", n)
      parts[#parts + 1] = (n == chunk_size) and chunk or string.rep("x", n)
      parts[#parts + 1] = "\r\n"
      left = left - n
   end
   parts[#parts + 1] = "0\r\n\r\n"
   req = table.concat(parts)
end

function request()
   return req
end
