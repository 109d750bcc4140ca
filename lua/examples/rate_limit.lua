-- rate_limit.lua: each user may send at most `rate_limit_count` direct
-- messages per `rate_limit_window` seconds (defaults: 5 per 10 s); the next
-- one is refused with error `filtered` until the oldest leaves the window.
--
-- It counts in `filter`, which runs once per message whatever the number of
-- recipients (`authorize` runs once per recipient). Globals live as long as
-- the loaded script, so the counts survive between calls and reset on reload.
-- Push-API messages count under their `from`; the users listed in
-- `rate_limit_exempt` (default "server", the push API's default sender) are
-- not limited.
--   [lua]
--   scripts = lua/examples/rate_limit.lua
--   rate_limit_count = 5
--   rate_limit_window = 10

local LIMIT = math.tointeger(tonumber(sb.config("rate_limit_count") or "5")) or 5
local WINDOW_MS = math.floor((tonumber(sb.config("rate_limit_window") or "10") or 10) * 1000)
local EXEMPT = {}
for name in (sb.config("rate_limit_exempt") or "server"):gmatch("%S+") do
  EXEMPT[name] = true
end

-- user -> send times (ms) inside the window, oldest first
local sent = {}
local calls = 0

-- Forget users whose window is empty, so the table does not grow forever.
local function sweep(now)
  for user, times in pairs(sent) do
    if now - times[#times] >= WINDOW_MS then
      sent[user] = nil
    end
  end
end

function filter(msg)
  if msg.type ~= "message" or EXEMPT[msg.from] then
    return msg
  end
  local now = sb.now()
  calls = calls + 1
  if calls % 1000 == 0 then
    sweep(now)
  end
  local times = sent[msg.from] or {}
  local kept = {}
  for _, t in ipairs(times) do
    if now - t < WINDOW_MS then
      kept[#kept + 1] = t
    end
  end
  sent[msg.from] = kept
  if #kept >= LIMIT then
    return nil, string.format("rate limit: at most %d messages per %g s", LIMIT, WINDOW_MS / 1000)
  end
  kept[#kept + 1] = now
  return msg
end
