-- wrk script for `make bench` (bench/run.py). One case per wrk run:
--   wrk ... -s bench/wrk.lua http://127.0.0.1:PORT -- <data.lua> <case>
-- <data.lua> (written by bench/run.py) returns { users = { {id, token, tasks = {ids}} },
-- titles = {...}, descriptions = {...} }: real users with real tokens and task ids of
-- their own. Cases: list, get, create, patch, toggle, mix (70/10/10/5/5).
-- Requests are built once in init() and request() picks one at random; only PATCH bodies
-- are built per request, so that every PATCH sets a title the task does not have yet.
-- done() prints one line, `BENCH_RESULT {json}`, that bench/run.py parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

local lists, gets, creates, patches, toggles = {}, {}, {}, {}, {}
local case_name, patch_titles
local counter = 0
statuses = {}

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

function init(args)
  local data = dofile(args[1])
  case_name = args[2]
  math.randomseed(thread_number * 7919 + os.time())
  local titles, descriptions = data.titles, data.descriptions
  patch_titles = {}
  for _, title in ipairs(titles) do
    table.insert(patch_titles, json_string(title):sub(1, -2))  -- without the closing quote
  end
  for i, user in ipairs(data.users) do
    local base = "/api/" .. user.id .. "/tasks"
    local auth = "Bearer " .. user.token
    local plain = { ["Authorization"] = auth }
    local json = { ["Authorization"] = auth, ["Content-Type"] = "application/json" }
    table.insert(lists, wrk.format("GET", base .. "?limit=20", plain))
    for k = 1, 4 do
      local title = titles[(i * 4 + k) % #titles + 1]
      local body
      if k % 2 == 0 then
        body = '{"title":' .. json_string(title) .. "}"
      else
        local description = descriptions[(i + k) % #descriptions + 1]
        body = '{"title":' .. json_string(title) .. ',"description":'
          .. json_string(description) .. "}"
      end
      table.insert(creates, wrk.format("POST", base, json, body))
    end
    for j, task_id in ipairs(user.tasks) do
      local path = base .. "/" .. task_id
      table.insert(gets, wrk.format("GET", path, plain))
      table.insert(patches, { path = path, headers = json })
      table.insert(toggles, wrk.format("PATCH", path .. "/complete", plain))
    end
  end
  local known = { list = true, get = true, create = true, patch = true, toggle = true, mix = true }
  if not known[case_name] then
    error("unknown case: " .. tostring(case_name))
  end
end

local function pick(requests)
  return requests[math.random(#requests)]
end

function request()
  local kind = case_name
  if kind == "mix" then
    local r = math.random(100)
    if r <= 70 then
      kind = "list"
    elseif r <= 80 then
      kind = "get"
    elseif r <= 90 then
      kind = "create"
    elseif r <= 95 then
      kind = "patch"
    else
      kind = "toggle"
    end
  end
  if kind == "list" then
    return pick(lists)
  elseif kind == "get" then
    return pick(gets)
  elseif kind == "create" then
    return pick(creates)
  elseif kind == "patch" then
    -- A new title every time, so every PATCH really changes the row.
    local target = pick(patches)
    counter = counter + 1
    local body = '{"title":' .. pick(patch_titles) .. " #" .. thread_number .. "." .. counter .. '"}'
    return wrk.format("PATCH", target.path, target.headers, body)
  end
  return pick(toggles)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ",")))
end
