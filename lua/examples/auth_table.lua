-- auth_table.lua: with `[auth] mode = lua`, a token names its user through
-- the table below; any other token is refused (401 at the handshake,
-- `auth_failed` for the `auth` command). Replace the table, or build it from
-- sb.config, and the server reloads it within a second.
--   [auth]
--   mode = lua
--   [lua]
--   scripts = lua/examples/auth_table.lua

local TOKENS = {
  ["tok-alice-3f9a"] = "alice",
  ["tok-bob-71c2"] = "bob",
}

function authenticate(token, req)
  local user = TOKENS[token]
  if user == nil then
    sb.log("info", "unknown token from " .. tostring(req.ip))
    return nil, "unknown token"
  end
  return user
end
