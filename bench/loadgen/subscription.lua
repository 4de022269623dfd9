-- wrk script for bench_serving: random subscription fetches from a pre-drawn client list.
--
-- usage: [WRK_PORTS="p1 p2"] wrk -s subscription.lua <url> -- <clients.tsv>
--
-- clients.tsv has one simulated client per line: path, User-Agent, client IP and an
-- optional ETag (tab separated). Each request picks a line at random, so tokens and
-- formats are spread over every seeded user. The IP goes into X-Forwarded-For (the
-- portal runs with one trusted proxy hop, as behind a reverse proxy): each client has
-- its own rate-limit window instead of all sharing 127.0.0.1's. With an ETag the
-- request is conditional (If-None-Match). WRK_PORTS spreads the wrk threads
-- round-robin over several servers on the same host (setup() sees no script args).

local clients = {}
local addrs = nil
local next_addr = 0
local threads = {}

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

function setup(thread)
  if addrs == nil then
    addrs = {}
    local ports = {}
    for port in (os.getenv("WRK_PORTS") or ""):gmatch("%d+") do
      ports[#ports + 1] = port
    end
    if #ports == 0 then
      ports[1] = wrk.port
    end
    for _, port in ipairs(ports) do
      for _, addr in ipairs(wrk.lookup(wrk.host, port)) do
        addrs[#addrs + 1] = addr
        break
      end
    end
  end
  thread.addr = addrs[next_addr % #addrs + 1]
  next_addr = next_addr + 1
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  for line in io.lines(args[1]) do
    local f = split(line)
    local headers = { ["User-Agent"] = f[2], ["X-Forwarded-For"] = f[3] }
    if f[4] ~= nil and f[4] ~= "" then
      headers["If-None-Match"] = f[4]
    end
    clients[#clients + 1] = wrk.format("GET", f[1], headers)
  end
  math.randomseed(os.time() + id)
  statuses = {}
end

function request()
  return clients[math.random(#clients)]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%s": %d', status, n)
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "bytes": %d, "p50_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", ")
  ))
end
