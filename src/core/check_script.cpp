#include "check_script.hpp"

namespace apikey {

// The whole per-request decision that needs Redis, in one atomic step: record
// lookup, status, expiry, scopes and every rate-limit bucket. Redis runs a
// script without interleaving other commands, so no two requests can both take
// the last token (the read-then-write race that leaks limits elsewhere).
//
// Time comes from Redis (TIME), never from nginx, so hosts with skewed clocks
// share one timeline. A refused request takes no token; the one write it can
// cause is an active key's last_used (its secret was presented), at most once
// per interval. Unknown, revoked and expired keys write nothing here ("limit"
// mode, after a cache hit, writes last_used only to a record that still
// exists; a revoke reaches the caches within milliseconds).
const std::string_view kCheckScript = R"lua(-- apikey check v2
--
-- The arguments are a contract between a module version and the script it
-- loads: the module calls the script by the SHA-1 of this text, so a change
-- of arguments (v2 added the deadline) is a change of SHA, and a module never
-- calls a script of another version.
--
-- KEYS[1]     <prefix>key:{<id>}             the key's record (HASH)
-- KEYS[1+i]   <prefix>bucket:{<id>}:<name>   state of bucket set i (STRING)
-- ARGV[1]     "check"; "limit" (buckets only: the module already knows the
--             record from its cache); "trace" (bucket arithmetic, for tests)
-- ARGV[2]     check: digest of the presented token; limit: the key's own limits
-- ARGV[3]     check: scopes the request needs, space separated
-- ARGV[4]     check: superscopes, space separated
-- ARGV[5]     check: last-used resolution in seconds (0: do not record last use)
--             limit: 1 to record this use as the last, 0 not to
-- ARGV[6]     the deadline, in ms on Redis's clock (TIME), after which the
--             module has given up on this call (0: none): a call run later
--             (Redis was stopped or busy, the commands waited in its socket
--             buffer) changes nothing and answers { "late", now_ms }
-- ARGV[6+i]   limits of bucket set i: "K" (the key's own limits replace them)
--             or "F" (fixed), then " interval_us:burst" per bucket
--
-- Reply: { verdict, now_ms, name, scopes, expires, missing_scope, created,
--          last_used, hint, token_until, limits, per bucket: burst, interval_us,
--          remaining, reset_us, retry_us }
-- now_ms: Redis's clock when the script ran (the module learns its offset
-- from its own clock, to judge cached records by Redis's time);
-- token_until: 0, or when the token presented stops working because it is the
-- previous one of a rotation with grace (prev_digest, prev_until); limits: the
-- key's own. A "limit" reply is only { verdict, now_ms, per bucket: ... } (every
-- element is an allocation on both sides, and the module knows the record
-- already); an "invalid" one { "invalid", now_ms }.
-- verdict: ok | limited | forbidden | invalid | revoked | expired | late

local UNIT = { s = 1, m = 60, h = 3600, d = 86400 }
local MAX_OWN_LIMITS = 8

-- GCRA step (see bucket.hpp). Integers below 2^53 are exact in Lua numbers,
-- and so is math.floor(a / b) for such integers.
local function take(tat, now, interval, burst)
  local base = tat
  if now > base then base = now end
  local nxt = base + interval
  local allow_at = nxt - burst * interval
  if allow_at > now then
    return false, tat, 0, base - now, allow_at - now
  end
  return true, nxt, math.floor((now - allow_at) / interval), nxt - now, 0
end

-- Takes a token from every bucket of every set, or from none: appends each
-- bucket's state to reply and returns false when some bucket refused.
local function take_all(now, own, reply)
  local writes = {}
  local denied = false

  for i = 2, #KEYS do
    local spec = ARGV[5 + i]
    local limits = {}
    if string.sub(spec, 1, 1) == "K" and own ~= "" then
      for n, u, b in string.gmatch(own, "(%d+)r/(%a):(%d+)") do
        local period, count, burst = UNIT[u], tonumber(n), tonumber(b)
        if not period or count < 1 or burst < 1 or #limits >= MAX_OWN_LIMITS then
          return nil, "apikey: record " .. KEYS[1] .. " has malformed limits"
        end
        local interval = math.floor(period * 1000000 / count)
        if interval < 1 then
          return nil, "apikey: record " .. KEYS[1] .. " has malformed limits"
        end
        limits[#limits + 1] = { interval, burst }
      end
    else
      for iv, b in string.gmatch(spec, "(%d+):(%d+)") do
        limits[#limits + 1] = { tonumber(iv), tonumber(b) }
      end
    end

    -- state: "interval:burst:tat" items; other locations' buckets in the same
    -- set are kept until they are full again
    local state, order = {}, {}
    local stored = redis.call("GET", KEYS[i])
    if stored then
      for iv, b, t in string.gmatch(stored, "(%d+):(%d+):(%d+)") do
        local id = iv .. ":" .. b
        if not state[id] then order[#order + 1] = id end
        state[id] = tonumber(t)
      end
    end

    for _, l in ipairs(limits) do
      local id = string.format("%d:%d", l[1], l[2])
      local ok, tat, remaining, reset, retry = take(state[id] or 0, now, l[1], l[2])
      if not ok then denied = true end
      if not state[id] then order[#order + 1] = id end
      state[id] = tat
      reply[#reply + 1] = l[2]
      reply[#reply + 1] = l[1]
      reply[#reply + 1] = remaining
      reply[#reply + 1] = reset
      reply[#reply + 1] = retry
    end

    local items, ttl = {}, 0
    for _, id in ipairs(order) do
      local tat = state[id]
      if tat > now then
        items[#items + 1] = id .. ":" .. string.format("%d", tat)
        if tat - now > ttl then ttl = tat - now end
      end
    end
    writes[#writes + 1] = { KEYS[i], table.concat(items, " "), ttl }
  end

  if denied then
    return false
  end
  for _, w in ipairs(writes) do
    if w[3] > 0 then
      redis.call("SET", w[1], w[2], "PX", math.ceil(w[3] / 1000))
    end
  end
  return true
end

if ARGV[1] == "trace" then
  local interval, burst, tat, out = tonumber(ARGV[2]), tonumber(ARGV[3]), 0, {}
  for i = 4, #ARGV do
    local ok, t, remaining, reset, retry = take(tat, tonumber(ARGV[i]), interval, burst)
    tat = t
    out[#out + 1] = ok and 1 or 0
    out[#out + 1] = remaining
    out[#out + 1] = reset
    out[#out + 1] = retry
    out[#out + 1] = tat
  end
  return out
end

local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now_s = tonumber(time[1])
local now_ms = math.floor(now / 1000)
local deadline = tonumber(ARGV[6]) or 0
if deadline > 0 and now_ms > deadline then
  return { "late", now_ms }
end

if ARGV[1] == "limit" then
  local reply = { "", now_ms }
  local passed, err = take_all(now, ARGV[2], reply)
  if passed == nil then
    return redis.error_reply(err)
  end
  -- never on a record deleted meanwhile: that would leave a bare hash
  if ARGV[5] == "1" and redis.call("EXISTS", KEYS[1]) == 1 then
    redis.call("HSET", KEYS[1], "last_used", now_s)
  end
  reply[1] = passed and "ok" or "limited"
  return reply
end

local rec = redis.call("HMGET", KEYS[1], "digest", "status", "expires", "scopes", "limits",
                      "name", "last_used", "created", "hint", "prev_digest", "prev_until",
                      "prev_hint")
if not rec[1] then
  return { "invalid", now_ms }
end

-- the current token, or the previous one while its grace period runs
local hint, token_until = rec[9] or "", 0
if rec[1] ~= ARGV[2] then
  local until_s = tonumber(rec[11] or "0") or 0
  if not rec[10] or rec[10] ~= ARGV[2] or now_s >= until_s then
    return { "invalid", now_ms }
  end
  hint, token_until = rec[12] or "", until_s
end

local status, scopes, own, name = rec[2], rec[4] or "", rec[5] or "", rec[6] or ""
local expires, last_used = tonumber(rec[3] or "0"), tonumber(rec[7] or "0")
local created = tonumber(rec[8] or "0")
if not expires or not last_used or not created then
  return redis.error_reply("apikey: record " .. KEYS[1] .. " has a malformed time field")
end
local head = { "", now_ms, name, scopes, expires, "", created, last_used, hint, token_until,
               own }
if status == "revoked" then
  head[1] = "revoked"
  return head
end
if status ~= "active" then
  return redis.error_reply("apikey: record " .. KEYS[1] .. " has an unknown status")
end

if expires > 0 and now_s >= expires then
  head[1] = "expired"
  return head
end

-- last use, at most once per resolution: no write per request. Written for
-- an active, unexpired key whose secret was presented, whatever the scopes
-- and limits then say (local_check.hpp: records_use).
local resolution = tonumber(ARGV[5])
if resolution > 0 and now_s - last_used >= resolution then
  redis.call("HSET", KEYS[1], "last_used", now_s)
  head[8] = now_s
end

local held = {}
for s in string.gmatch(scopes, "%S+") do held[s] = true end
local super = false
for s in string.gmatch(ARGV[4], "%S+") do
  if held[s] then super = true break end
end
if not super then
  for s in string.gmatch(ARGV[3], "%S+") do
    if not held[s] then
      head[1], head[6] = "forbidden", s
      return head
    end
  end
end

local reply = head
local passed, err = take_all(now, own, reply)
if passed == nil then
  return redis.error_reply(err)
end
reply[1] = passed and "ok" or "limited"
return reply
)lua";

}  // namespace apikey
