-- wrk script for make bench-abuse: POST /api/auth/sign-in with the right credentials,
-- counting the answers by status over every thread. Usage: wrk … -s signin_flood.lua URL -- EMAIL PASSWORD
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  wrk.method = "POST"
  wrk.path = "/api/auth/sign-in"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = string.format('{"email": "%s", "password": "%s"}', args[1], args[2])
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("counts")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("STATUS %d %d\n", status, count))
  end
end
