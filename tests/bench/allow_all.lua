-- The "allow-all" policy of the lua benchmark scenario: every hook answers yes, so the run
-- measures what calling into Lua costs per message, not what a policy decides.
function on_connect(req)
  return true
end

function authorize(user, action, target, data)
  return true
end

function filter(msg)
  return msg
end
