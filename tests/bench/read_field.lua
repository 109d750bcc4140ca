-- The "read one field" policy of the lua benchmark scenario: authorize allows, filter reads
-- one member of the payload and passes the message on unchanged, so the run measures what a
-- filter that looks at the data costs beside allow-all (which looks at nothing).
function on_connect(req)
  return true
end

function authorize(user, action, target, data)
  return true
end

function filter(msg)
  if msg.data.p == nil then
    return nil, "no payload"
  end
  return msg
end
