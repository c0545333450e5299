-- wrk script for benchmarks/api_load.py: POST /v1/triage with raw RFC 822 messages.
--
-- Environment:
--   WRK_BODIES  file of messages, each as "<byte length>\n<bytes>" (written by api_load.py)
--   WRK_UNIQUE  "1" (default): prepend an X-Bench-Nonce header so every request body is
--               different and the service's result cache (keyed on the body) never hits;
--               "0": send the messages as they are (a cache-hit run once primed)
--   WRK_RUN     a token unique to this run, part of the nonce: without it a second run
--               would repeat the first one's nonces, and hit the cache
--   WRK_PATH    request path (default /v1/triage)
--   WRK_RATE    requests/s over all threads (WRK_THREADS of them); 0 (default): as fast
--               as the connections allow (closed loop). Paced, each thread sends its k-th
--               request at start + k/rate, or at once when behind, wrk2-style, so that a
--               latency target is checked at a given throughput instead of at saturation.
--               Unlike wrk2, latency counts from the send: a request's wait for a free
--               connection is not counted, which only happens when more requests are in
--               flight than there are connections (latency already far over target), and
--               then the reported percentiles are lower bounds
--
-- Each thread starts at its own offset in the list, so threads do not send the same
-- message at the same time. done() prints one line, "WRK_JSON {...}", that api_load.py
-- parses: latency percentiles (us) and every kind of error, non-2xx answers included
-- (wrk's own "status" error counts only >= 400).

local bodies = {}
local unique = os.getenv("WRK_UNIQUE") ~= "0"
local run = os.getenv("WRK_RUN") or tostring(os.time())
local path = os.getenv("WRK_PATH") or "/v1/triage"
local headers = { ["Content-Type"] = "message/rfc822" }
local index = 0
local sent = 0
non2xx = 0  -- globals: read by done() through thread:get()
tag = "0"   -- set per thread by setup()

local rate = tonumber(os.getenv("WRK_RATE") or "0") / tonumber(os.getenv("WRK_THREADS") or "1")
local thread_count = 0
local threads = {}

function setup(thread)
   thread_count = thread_count + 1
   thread:set("tag", tostring(thread_count))
   table.insert(threads, thread)
end

local function load(file)
   local f = assert(io.open(file, "rb"))
   while true do
      local line = f:read("*l")
      if not line then break end
      local n = tonumber(line)
      local body = f:read(n)
      assert(body and #body == n, "truncated bodies file")
      bodies[#bodies + 1] = body
   end
   f:close()
   assert(#bodies > 0, "no bodies in " .. file)
end

function init(args)
   load(assert(os.getenv("WRK_BODIES"), "set WRK_BODIES"))
   -- spread the threads over the list
   local t = tonumber(tag) or 1
   index = ((t - 1) * 7919) % #bodies
end

function request()
   index = index % #bodies + 1
   sent = sent + 1
   local body = bodies[index]
   if unique then
      body = "X-Bench-Nonce: " .. run .. "-" .. tag .. "-" .. sent .. "\n" .. body
   end
   return wrk.format("POST", path, headers, body)
end

if rate > 0 then
   local ffi = require("ffi")
   ffi.cdef([[
      typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
      int clock_gettime(int clk_id, bench_timespec *tp);
   ]])
   local ts = ffi.new("bench_timespec")
   local function now_ms()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
   end
   local interval = 1000 / rate
   local start = nil
   local scheduled = 0

   -- wrk calls delay() before each request a connection is about to send: the wait in
   -- ms until this thread's next slot
   function delay()
      local now = now_ms()
      start = start or now
      local slot = start + scheduled * interval
      scheduled = scheduled + 1
      if slot <= now then
         return 0
      end
      return slot - now
   end
end

function response(status, hdrs, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local bad = 0
   for _, thread in ipairs(threads) do
      bad = bad + (tonumber(thread:get("non2xx")) or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,' ..
      '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"non2xx":%d,' ..
      '"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.status, e.timeout, bad, latency.mean, latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
