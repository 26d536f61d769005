-- wrk script of the benchmark: POSTs one GraphQL body (read from the file named by the first
-- script argument, after `--`) and, when done, prints one line `BENCH_RESULT {json}` with exact
-- percentiles (microseconds), the counts, and the answers that were not a clean 200.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  bad_status = 0
  graphql_errors = 0
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif string.find(body, '"errors":', 1, true) then
    graphql_errors = graphql_errors + 1
  end
end

function done(summary, latency, requests)
  local bad, errors = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("bad_status") or 0)
    errors = errors + (thread:get("graphql_errors") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,' ..
    '"timeouts":%d,"bad_status":%d,"graphql_errors":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50.0), latency:percentile(90.0), latency:percentile(95.0),
    latency:percentile(99.0), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, bad, errors))
end
