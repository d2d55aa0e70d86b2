#include "admin_script.hpp"

namespace apikey {

// Key management over HTTP: every change is one atomic step in Redis together
// with its audit event and its invalidation message, so the admin API can never
// leave a record changed but unannounced. The module builds the records with
// the same core functions as apikeyctl; the script only applies them.
// apikeyctl makes its changes with this script too, so that a change is
// conditional on the record and never writes back fields it did not change
// (a revoke, rotate or delete in between stays done).
const std::string_view kAdminScript = R"lua(-- apikey admin v1
--
-- KEYS[1]   <prefix>key:{<id>}  (list: unused)
-- KEYS[2]   <prefix>audit; absent (one key) on a Redis Cluster, where the
--           audit stream lives in another slot and the caller (apikeyctl)
--           appends the event itself after a change (the invalidation is
--           published here all the same)
-- ARGV[1]   get | list | create | update | extend | rotate | revoke | delete | audit
-- ARGV[2..6] the audit event: time, action, user, reason, via
-- ARGV[7]   the invalidation channel, ARGV[8] the key id
-- ARGV[9..] per mode (below)
--
-- Replies: { "ok", fields... } with the record's HGETALL after the change,
-- { "not_found" }, { "conflict", why }, { "exists" }; list and audit below.

local mode = ARGV[1]

local function announce()
  if KEYS[2] then
    redis.call("XADD", KEYS[2], "MAXLEN", "~", "100000", "*",
               "time", ARGV[2], "key", ARGV[8], "action", ARGV[3], "user", ARGV[4],
               "reason", ARGV[5], "via", ARGV[6])
  end
  redis.call("PUBLISH", ARGV[7], ARGV[8])
end

local function pairs_from(first)
  local fields = {}
  for i = first, #ARGV do fields[#fields + 1] = ARGV[i] end
  return fields
end

if mode == "get" then
  return { "ok", redis.call("HGETALL", KEYS[1]) }

elseif mode == "list" then
  -- ARGV[9] cursor, ARGV[10] pattern, ARGV[11] count
  local page = redis.call("SCAN", ARGV[9], "MATCH", ARGV[10], "COUNT", ARGV[11])
  local out = { page[1] }
  for _, key in ipairs(page[2]) do
    out[#out + 1] = key
    out[#out + 1] = redis.call("HGETALL", key)
  end
  return out

elseif mode == "audit" then
  -- ARGV[9] the key id to keep ("" for all), ARGV[10] how many, newest first
  local want, out, last = tonumber(ARGV[10]), {}, "+"
  while #out < want do
    local page = redis.call("XREVRANGE", KEYS[2], last, "-", "COUNT", 1000)
    if #page == 0 then break end
    for _, entry in ipairs(page) do
      local f = entry[2]
      local keep = ARGV[9] == ""
      for i = 1, #f, 2 do
        if f[i] == "key" and f[i + 1] == ARGV[9] then keep = true end
      end
      if keep and #out < want then
        out[#out + 1] = { entry[1], f }
      end
    end
    if #page < 1000 then break end
    last = "(" .. page[#page][1]
  end
  -- an id with no record and no event was never a key here (a deleted
  -- key's events are still shown)
  if #out == 0 and ARGV[9] ~= "" and redis.call("EXISTS", KEYS[1]) == 0 then
    return { "not_found" }
  end
  return out
end

local exists = redis.call("EXISTS", KEYS[1]) == 1

if mode == "create" then
  -- ARGV[9..] field, value, ...
  if exists then return { "exists" } end
  redis.call("HSET", KEYS[1], unpack(pairs_from(9)))
  announce()
  return { "ok", redis.call("HGETALL", KEYS[1]) }
end

if not exists then
  return { "not_found" }
end

local status = redis.call("HGET", KEYS[1], "status")

if mode == "update" then
  -- ARGV[9..] field, value, ...: only what changes
  redis.call("HSET", KEYS[1], unpack(pairs_from(9)))

elseif mode == "extend" then
  -- ARGV[9..] field, value, ...: the new expiry; a revoked key stays revoked
  if status == "revoked" then return { "conflict", "the key is revoked" } end
  redis.call("HSET", KEYS[1], unpack(pairs_from(9)))

elseif mode == "rotate" then
  -- ARGV[9] new digest, ARGV[10] new hint, ARGV[11] grace end (0: none), ARGV[12] now
  if status == "revoked" then return { "conflict", "the key is revoked" } end
  if redis.call("HGET", KEYS[1], "imported") == "1" then
    return { "conflict", "the key was imported: create a new key and revoke this one" }
  end
  if ARGV[11] ~= "0" then
    local old = redis.call("HMGET", KEYS[1], "digest", "hint")
    redis.call("HSET", KEYS[1], "prev_digest", old[1] or "", "prev_hint", old[2] or "",
               "prev_until", ARGV[11])
  else
    redis.call("HSET", KEYS[1], "prev_digest", "", "prev_hint", "", "prev_until", "0")
  end
  redis.call("HSET", KEYS[1], "digest", ARGV[9], "hint", ARGV[10], "updated", ARGV[12])

elseif mode == "revoke" then
  -- ARGV[9] now
  if status == "revoked" then return { "conflict", "the key is already revoked" } end
  redis.call("HSET", KEYS[1], "status", "revoked", "revoked", ARGV[9], "updated", ARGV[9])

elseif mode == "delete" then
  -- ARGV[9] the pattern of the key's bucket state; or "" and ARGV[10..]
  -- the bucket keys the caller found (apikeyctl scans outside the script,
  -- so a large keyspace does not hold Redis for the whole scan)
  redis.call("DEL", KEYS[1])
  if ARGV[9] == "" then
    for i = 10, #ARGV do redis.call("DEL", ARGV[i]) end
  else
    local cursor = "0"
    repeat
      local page = redis.call("SCAN", cursor, "MATCH", ARGV[9], "COUNT", 1000)
      cursor = page[1]
      for _, key in ipairs(page[2]) do redis.call("DEL", key) end
    until cursor == "0"
  end
  announce()
  return { "ok" }

else
  return redis.error_reply("apikey admin: unknown mode")
end

announce()
return { "ok", redis.call("HGETALL", KEYS[1]) }
)lua";

}  // namespace apikey
