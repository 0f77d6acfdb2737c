-- wrk script for make bench-abuse: POST /api/auth/sign-in, counting the answers by status
-- over every thread.
-- Usage: wrk … -s signin_flood.lua URL -- EMAIL PASSWORD DEVICE_TOKEN CLIENT
--   DEVICE_TOKEN: sent as "device_token", or "-" for none.
--   CLIENT: the X-Forwarded-For address to send (the bench server trusts 127.0.0.1), "-" for
--   none, or "random" for a fresh 10.x.y.z address with every request (many machines).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  local fields = string.format('"email": "%s", "password": "%s"', args[1], args[2])
  if args[3] and args[3] ~= "-" then
    fields = fields .. string.format(', "device_token": "%s"', args[3])
  end
  body = "{" .. fields .. "}"
  client = args[4] or "-"
  math.randomseed(math.floor(os.clock() * 1000000) + os.time())
end

function request()
  local headers = { ["Content-Type"] = "application/json" }
  if client == "random" then
    headers["X-Forwarded-For"] = string.format(
      "10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  elseif client ~= "-" then
    headers["X-Forwarded-For"] = client
  end
  return wrk.format("POST", "/api/auth/sign-in", headers, body)
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
