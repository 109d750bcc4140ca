-- html_filter.lua: strips HTML tags from every string of a message's payload
-- (nested tables included) and refuses a message that contains a blocked
-- word (error `filtered`). Words are matched whole and case-insensitively,
-- after the tags are gone, so "via<b></b>gra" is caught too.
--
-- Blocked words: `blocked_words` in [lua] (space-separated), default
-- "viagra casino".
--   [lua]
--   scripts = lua/examples/html_filter.lua
--   blocked_words = viagra casino lottery
--
-- Tag stripping is a pattern, not an HTML parser: "a < b > c" loses "< b >".
-- Pattern functions are bounded by the message size (max_message_bytes),
-- not by the instruction budget.

local BLOCKED = {}
for word in (sb.config("blocked_words") or "viagra casino"):gmatch("%S+") do
  local escaped = word:lower():gsub("%p", "%%%0")
  BLOCKED[#BLOCKED + 1] = "%f[%w]" .. escaped .. "%f[%W]"
end

local function strip_tags(s)
  return (s:gsub("<[^>]*>", ""))
end

local function blocked_word(s)
  local lower = s:lower()
  for _, pattern in ipairs(BLOCKED) do
    local a, b = lower:find(pattern)
    if a then
      return lower:sub(a, b)
    end
  end
end

-- Strip every string in t in place; return the first blocked word found.
local function clean(t)
  for k, v in pairs(t) do
    if type(v) == "string" then
      v = strip_tags(v)
      t[k] = v
      local word = blocked_word(v)
      if word then
        return word
      end
    elseif type(v) == "table" then
      local word = clean(v)
      if word then
        return word
      end
    end
  end
end

function filter(msg)
  local word = clean(msg.data)
  if word then
    return nil, "blocked word: " .. word
  end
  return msg
end
