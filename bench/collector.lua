-- wrk script for bench/collector: every request is a unique 5-node report (its own cluster ID
-- and Idempotency-Key, so neither deduplication nor the rate limit refuses it), posted as JSON.
-- At the end, one JSON line with the counts and latency percentiles (microseconds).

local threads = {}
local counter = 0
local prefix = ""

function setup(thread)
  thread:set("prefix", string.format("%08x-%d", math.random(0, 0x7fffffff), #threads))
  table.insert(threads, thread)
end

-- `wrk ... -- distinct`: each report's nodes name an OS image of their own, so each report has
-- a profile of its own (the rollups store every one: the most a report's rollups can cost).
local distinct = false

function init(args)
  distinct = args[1] == "distinct"
end

local node = '{"id":"%032x","operatingSystem":"linux","osImage":"%s",' ..
  '"kernelVersion":"6.8.0-1021-aws","architecture":"amd64",' ..
  '"containerRuntimeVersion":"containerd://1.7.27","kubeletVersion":"v1.33.2",' ..
  '"cloudProvider":"aws","capacity":[{"resource":"cpu","value":"4"},' ..
  '{"resource":"memory","value":"16Gi"}]}'

request = function()
  counter = counter + 1
  local cluster = string.format("bench-%s-%d", prefix, counter)
  local nodes = {}
  local image = "Ubuntu 24.04.2 LTS"
  if distinct then
    image = string.format("Distro-%s-%d 1.0", prefix, counter)
  end
  for i = 0, 4 do
    nodes[#nodes + 1] = string.format(node, i, image)
  end
  local body = string.format(
    '{"version":"v1.0.0","timestamp":"%d","clusterID":"%s","masterVersion":"v1.33.2",' ..
    '"nodes":[%s],"extensions":[{"name":"example.com/tier","value":"gold"}]}',
    counter, cluster, table.concat(nodes, ","))
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = cluster
  return wrk.format("POST", "/api/v1", headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
