-- switchboard's default policy: allows everything.
--
-- The lua plugin loads the scripts named by `[lua] scripts` (this file by
-- default) and calls the functions below when they exist; a missing function
-- means "allow" / "pass". Copy this file, keep the hooks you need, and the
-- server picks the change up within a second (or on SIGHUP). The full
-- reference, the `sb` library and the sandbox rules: lua/README.md.
-- Ready-made examples: lua/examples/.

-- Handshake admission, once per WebSocket connection.
-- req: user (identified user, or nil), ip, origin (nil when absent), path,
--      query (raw), method, headers (lower-cased names).
-- Return true (or nothing) to admit; false, "reason" -> HTTP 403 with the reason.
function on_connect(req)
  return true
end

-- Token -> user, used only with `[auth] mode = lua` (handshake `token=` and the
-- `auth` command). Return a user name, or nil, "reason" -> 401 / auth_failed.
-- Removing this function leaves the decision to other providers (and with no
-- provider at all, every token is refused).
--
-- function authenticate(token, req)
--   return nil, "no authentication configured"
-- end

-- Every action: message (once per recipient: target is the recipient),
-- publish / join / members (target is the room), broadcast / list (target nil).
-- data is the command's payload as a table.
-- Return true (or nothing) to allow; false, "reason" -> error `forbidden`.
function authorize(user, action, target, data)
  return true
end

-- Every message, publication and broadcast, the push API's included.
-- msg: type (message | publish | broadcast), from, to (message: as written),
--      room (publish), id, ts, data (the payload, a table).
-- Return msg (changed or not) to pass it on; only msg.data is taken back: the
-- routing fields are the server's. nil, "reason" -> error `filtered`.
-- A function that names no global (as here) gets msg.data converted only when
-- it reads it, and unchanged data goes on as it came; hooks that only return
-- true (or msg), as these do, are not even called: lua/README.md, "What a
-- hook costs".
function filter(msg)
  return msg
end
