-- validate.lua: every message, publication and broadcast (push API included)
-- must carry `text`, a string of at most 2000 characters (UTF-8 characters,
-- not bytes). Anything else is refused with error `filtered` and a reason
-- saying what is wrong.
--   [lua]
--   scripts = lua/examples/validate.lua

local MAX_CHARS = 2000

function filter(msg)
  local text = msg.data.text
  if text == nil then
    return nil, "text is required"
  end
  if type(text) ~= "string" then
    return nil, "text must be a string"
  end
  local n = utf8.len(text)
  if n == nil then
    return nil, "text must be valid UTF-8"
  end
  if n > MAX_CHARS then
    return nil, string.format("text is %d characters long, at most %d allowed", n, MAX_CHARS)
  end
  return msg
end
