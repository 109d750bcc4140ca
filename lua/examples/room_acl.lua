-- room_acl.lua: only staff may join rooms whose name starts with "staff-"
-- (and list their members). Everyone may join every other room.
--
-- The staff list comes from `staff_users` in [lua] (space-separated user
-- names), default "admin":
--   [lua]
--   scripts = lua/examples/room_acl.lua
--   staff_users = alice carol

local STAFF = {}
for name in (sb.config("staff_users") or "admin"):gmatch("%S+") do
  STAFF[name] = true
end

local function staff_room(room)
  return room ~= nil and room:sub(1, 6) == "staff-"
end

function authorize(user, action, target, data)
  if (action == "join" or action == "members") and staff_room(target) and not STAFF[user] then
    return false, "only staff may enter " .. target
  end
  return true
end
