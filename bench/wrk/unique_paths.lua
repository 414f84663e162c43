-- wrk script: every request names a file no request named before, as a scanner
-- probing made-up paths does: <scenario path><run token>-<thread>-<n>, a 404.
-- The run token keeps one run's names from being cached by the run before
-- (the kernel caches a name's absence too).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local threads = 0
local counter = 0

function setup(thread)
   threads = threads + 1
   local uuid = io.open("/proc/sys/kernel/random/uuid"):read("*l")
   thread:set("tag", uuid:sub(1, 8) .. "-" .. threads)
end

function request()
   counter = counter + 1
   return wrk.format(nil, wrk.path .. tag .. "-" .. counter)
end
