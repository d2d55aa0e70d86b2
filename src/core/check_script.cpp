#include "check_script.hpp"

namespace apikey {

// The whole per-request decision that needs Redis, in one atomic step: record
// lookup, status, expiry, environment, IP allowlist, scopes and every
// rate-limit bucket. Issue 14's key model is read here too: effective scopes
// (the key's own and its role's copy), effective limits (the key's own, else
// its plan's copy), status "disabled" and owner-wide buckets. Redis runs a
// script without interleaving other commands, so no two requests can both take
// the last token (the read-then-write race that leaks limits elsewhere).
//
// Time comes from Redis (TIME), never from nginx, so hosts with skewed clocks
// share one timeline. A refused request takes no token; the one write it can
// cause is an active key's last_used (its secret was presented), at most once
// per interval. Unknown, revoked and expired keys write nothing here ("limit"
// mode, after a cache hit, writes last_used only to a record that still
// exists; a revoke reaches the caches within milliseconds).
const std::string_view kCheckScript = R"lua(-- apikey check v5
--
-- The arguments are a contract between a module version and the script it
-- loads: the module calls the script by the SHA-1 of this text, so a change
-- of arguments (v2 added the deadline, v3 the key model of issue 14, v4 the
-- batch, v5 the quotas and credits of issue 15) is a change of SHA, and a module never calls a script of another version.
--
-- KEYS[1]     <prefix>key:{<id>}             the key's record (HASH)
-- KEYS[1+i]   <prefix>bucket:{<id>}:<name>   state of bucket set i (STRING)
-- KEYS[2+n]   <prefix>quota:{<id>}           the key's quota counts (HASH),
--             after the n bucket sets; given when the location has quotas
--             (or, in "limit" mode, the key has its own), else read by the
--             name the record's gives (same slot) only if the record has a
--             quota: an absent key that is declared makes a check during a
--             Cluster slot migration wait (TRYAGAIN) for nothing
-- ARGV[1]     "check"; "limit" (buckets only: the module already knows the
--             record from its cache); "batch" (several checks or limits, see
--             the end of the script); "trace" (bucket arithmetic, for tests)
-- ARGV[2]     check: digest of the presented token; limit: the key's
--             effective limits (its own, else its plan's)
-- ARGV[3]     check: scopes the request needs, space separated;
--             limit: the key's owner ("" for none)
-- ARGV[4]     check: superscopes, space separated; limit: the key's
--             effective own quotas (its own, else its plan's)
-- ARGV[5]     check: last-used resolution in seconds (0: do not record last use)
--             limit: 1 to record this use as the last, 0 not to
-- ARGV[6]     the deadline, in ms on Redis's clock (TIME), after which the
--             module has given up on this call (0: none): a call run later
--             (Redis was stopped or busy, the commands waited in its socket
--             buffer) changes nothing and answers { "late", now_ms }
-- ARGV[7]     the key prefix, for the keys named by value: owner buckets
--             (<prefix>owner_bucket:<owner>:<set>) and the last-used index
--             (<prefix>idx:last_used); "" on a Cluster, where a script may
--             touch no key outside the record's slot
-- ARGV[8]     check: the environment this location accepts, "live" or "test";
--             "" for any
-- ARGV[9]     check: the client's address as 32 hex digits of its 128-bit
--             form (IPv4 as ::ffff:a.b.c.d), "" when it has none (unix socket);
--             limit: "C" when the key has credits (the record is read for
--             them), else ""
-- ARGV[9+i]   limits of bucket set i: "K" (the key's own limits replace them)
--             or "F" (fixed), then "O:<set name>" when the set belongs to the
--             key's owner (per=owner), then " interval_us:burst" per bucket
-- ARGV[10+n]  the location's calendar quotas (apikey_quota), space separated
--             items "<K|F>[O]:<set>:<N>/<day|week|month>": K items give way
--             to the key's own quotas (else its plan's), F items always
--             count, O: per owner (<prefix>owner_quota:<owner>)
-- ARGV[11+n]  the request's cost in credits (apikey_cost); "peek" for a
--             "who am I" request (apikey_introspect): it shows the quotas and
--             credits without counting or spending, and they refuse nothing
--
-- Reply: { verdict, now_ms, name, scopes, expires, missing_scope, created,
--          last_used, hint, token_until, limits, owner, role, plan, env, meta,
--          allow_ip, quota, credits, credits_reset_s, nquota,
--          per quota: name, limit, remaining, reset_s, exceeded,
--          per bucket: burst, interval_us, remaining, reset_us, retry_us }
-- quota: the key's own quotas, else its plan's; credits: what is left after
-- this request (-1: the key has no credits, it is not counted); credits_reset_s:
-- seconds until the next refill (0: none); a quota's name is "<set>/<period>",
-- remaining what is left after this request, reset_s the seconds until its
-- period ends.
-- now_ms: Redis's clock when the script ran (the module learns its offset
-- from its own clock, to judge cached records by Redis's time);
-- token_until: 0, or when the token presented stops working because it is the
-- previous one of a rotation with grace (prev_digest, prev_until); scopes: the
-- key's own and its role's (role_scopes); limits: the key's own, else its
-- plan's (plan_limits); owner..allow_ip: the record's fields as stored. A
-- "limit" reply is only { verdict, now_ms, credits, credits_reset_s, nquota,
-- per quota: ..., per bucket: ... } (every element is
-- an allocation on both sides, and the module knows the record already); an
-- "invalid" one { "invalid", now_ms }. Refusals by status, environment and
-- address take no token and write nothing.
-- verdict: ok | limited | forbidden | invalid | revoked | disabled | expired
--          | wrong_env | ip_denied | late | quota_exceeded | credits_exhausted
-- A request refused by anything (a bucket, a quota, its credits) takes
-- nothing from any of them; precedence: credits_exhausted, quota_exceeded,
-- limited.

local UNIT = { s = 1, m = 60, h = 3600, d = 86400 }

-- last_used and its index (the list's "last used" order) move together
local function record_use(keys, argv, now_s)
  redis.call("HSET", keys[1], "last_used", now_s)
  if argv[7] ~= "" then
    local id = string.match(keys[1], "{([^}]*)}")
    if id then redis.call("ZADD", argv[7] .. "idx:last_used", now_s, id) end
  end
end
local MAX_OWN_LIMITS = 8
local QUOTA_KEEP_S = 32 * 86400   -- quota.hpp: kQuotaKeepSeconds

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
-- bucket's state to reply and returns false when some bucket refused. A set
-- marked per=owner lives under the owner's name when the key has an owner
-- (read by name: the module refuses per=owner on a Cluster), else in the
-- key's own bucket.
local function take_all(keys, argv, now, own, owner, reply, writes)
  local denied = false

  for i = 2, #argv - 10 do   -- the bucket sets: ARGV[10..] less quotas, cost
    local spec = argv[8 + i]
    local body, bucket_key = spec, keys[i]
    if string.sub(spec, 2, 2) == "O" then
      local set_name, rest = string.match(spec, "^%aO:(%S+)(.*)$")
      body = rest or ""
      if set_name and owner ~= "" then
        bucket_key = argv[7] .. "owner_bucket:" .. owner .. ":" .. set_name
      end
    end
    local limits = {}
    if string.sub(spec, 1, 1) == "K" and own ~= "" then
      for n, u, b in string.gmatch(own, "(%d+)r/(%a):(%d+)") do
        local period, count, burst = UNIT[u], tonumber(n), tonumber(b)
        if not period or count < 1 or burst < 1 or #limits >= MAX_OWN_LIMITS then
          return nil, "apikey: record " .. keys[1] .. " has malformed limits"
        end
        local interval = math.floor(period * 1000000 / count)
        if interval < 1 then
          return nil, "apikey: record " .. keys[1] .. " has malformed limits"
        end
        limits[#limits + 1] = { interval, burst }
      end
    else
      for iv, b in string.gmatch(body, "(%d+):(%d+)") do
        limits[#limits + 1] = { tonumber(iv), tonumber(b) }
      end
    end

    -- state: "interval:burst:tat" items; other locations' buckets in the same
    -- set are kept until they are full again
    local state, order = {}, {}
    local stored = redis.call("GET", bucket_key)
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
    if ttl > 0 then
      writes[#writes + 1] = { "SET", bucket_key, table.concat(items, " "), "PX",
                              math.ceil(ttl / 1000) }
    end
  end

  return not denied
end

-- UTC calendar periods (quota.hpp's period_span, held to it by a test): the
-- first second of the period that holds now_s, of the next one, and the
-- period's first day as YYYYMMDD. Days to civil dates as in H. Hinnant's
-- algorithm, in whole numbers below 2^53.
local function civil(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
                          - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return y, m, d
end
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function period_span(period, now_s)
  local day = math.floor(now_s / 86400)
  local first, next_first
  if period == "day" then
    first, next_first = day, day + 1
  elseif period == "week" then
    first = day - (day + 3) % 7          -- 1970-01-01 was a Thursday
    next_first = first + 7
  else
    local y, m = civil(day)
    first = days_from_civil(y, m, 1)
    if m == 12 then next_first = days_from_civil(y + 1, 1, 1)
    else next_first = days_from_civil(y, m + 1, 1) end
  end
  local y, m, d = civil(first)
  return first * 86400, next_first * 86400, y * 10000 + m * 100 + d
end

-- The calendar quotas that apply, counted: appends each one's state to reply
-- (after nquota at reply[count_at]) and its write to writes; returns false
-- when one is used up. A value of an earlier period counts as 0.
local function count_quotas(keys, argv, now_s, spec, own, owner, reply, count_at, writes, peek)
  local list = {}
  local own_per_owner = false
  for kind, set, n, period in string.gmatch(spec, "(%a+):([^:%s]+):(%d+)/(%a+)") do
    local per_owner = string.sub(kind, 2, 2) == "O"
    if string.sub(kind, 1, 1) == "K" and own ~= "" then
      own_per_owner = own_per_owner or per_owner
    else
      list[#list + 1] = { set, tonumber(n), period, per_owner }
    end
  end
  for n, period in string.gmatch(own, "(%d+)/(%a+)") do
    list[#list + 1] = { "default", tonumber(n), period, own_per_owner }
  end

  local key_hash = keys[#argv - 9]
  if not key_hash and #list > 0 then
    local prefix, tag = string.match(keys[1], "^(.*)key:(%b{})$")
    if not prefix then return nil, "apikey: unexpected record key " .. keys[1] end
    key_hash = prefix .. "quota:" .. tag
  end

  local exceeded = false
  for _, q in ipairs(list) do
    local set, limit, period, per_owner = q[1], q[2], q[3], q[4]
    if period ~= "day" and period ~= "week" and period ~= "month" then
      return nil, "apikey: record " .. keys[1] .. " has a malformed quota"
    end
    local hash = key_hash
    if per_owner and owner ~= "" then hash = argv[7] .. "owner_quota:" .. owner end
    local field = set .. "/" .. period
    local start, next_start, first_day = period_span(period, now_s)
    local used = 0
    local stored = redis.call("HGET", hash, field)
    if stored then
      local day, count = string.match(stored, "^(%d+):(%d+)$")
      if tonumber(day) == first_day then used = tonumber(count) end
    end
    local take = peek and 0 or 1
    local over = used + take > limit
    if over then exceeded = true end
    reply[#reply + 1] = field
    reply[#reply + 1] = limit
    reply[#reply + 1] = over and 0 or limit - used - take
    reply[#reply + 1] = next_start - now_s
    reply[#reply + 1] = (over and not peek) and 1 or 0
    writes[#writes + 1] = { "HSET", hash, field, string.format("%d:%d", first_day, used + 1) }
    -- the TTL is set when a period's count starts: every period is at most
    -- 31 days, so the hash outlives each count in it, and a request within a
    -- period costs no EXPIRE
    if used == 0 then writes[#writes + 1] = { "EXPIRE", hash, QUOTA_KEEP_S } end
  end
  reply[count_at] = #list
  return not exceeded
end

-- The key's credits, refilled when a refill period started since the last
-- one: the credits left after this request (-1: none kept), the seconds
-- until the next refill (0: none), and whether they cover the cost. The
-- refill is written only with the request that takes from it.
local function spend_credits(keys, fields, now_s, cost, writes)
  local credits, refill, refilled = fields[1], fields[3], fields[4]
  if not credits and not refill then return -1, 0, true end
  credits = tonumber(credits or "0")
  local granted = tonumber(fields[2] or "0")
  if not credits or not granted then
    return nil, "apikey: record " .. keys[1] .. " has malformed credits"
  end
  local reset_s = 0
  if refill then
    local n, period = string.match(refill, "^(%d+)/(%a+)$")
    if not n or (period ~= "day" and period ~= "month") then
      return nil, "apikey: record " .. keys[1] .. " has a malformed refill"
    end
    local start, next_start = period_span(period, now_s)
    reset_s = next_start - now_s
    if start > (tonumber(refilled or "0") or 0) then
      credits, granted = tonumber(n), tonumber(n)
      -- whole numbers as "%d": Lua's own conversion writes 10^12 as 1e+12
      writes[#writes + 1] = { "HSET", keys[1], "credits_granted", string.format("%d", granted),
                              "refilled", string.format("%d", start) }
    end
  end
  if credits < cost then return credits, reset_s, false end
  writes[#writes + 1] = { "HSET", keys[1], "credits", string.format("%d", credits - cost) }
  return credits - cost, reset_s, true
end

-- Quotas, credits and buckets together: appends their state to reply and
-- makes their writes only when every one of them lets the request pass.
-- Returns the verdict, or nil and an error.
local function take_everything(keys, argv, now, own_limits, own_quota, owner, credit_fields, reply)
  local now_s = math.floor(now / 1000000)
  local nsets = #argv - 11
  local peek = argv[11 + nsets] == "peek"
  local counts, writes = {}, {}
  local credits, reset_s, covered = spend_credits(keys, credit_fields, now_s,
                                                  peek and 0 or tonumber(argv[11 + nsets]) or 1,
                                                  counts)
  if credits == nil then return nil, reset_s end   -- reset_s: the error
  reply[#reply + 1] = credits
  reply[#reply + 1] = reset_s
  reply[#reply + 1] = 0
  local quota_ok, err = count_quotas(keys, argv, now_s, argv[10 + nsets] or "", own_quota,
                                     owner, reply, #reply, counts, peek)
  if quota_ok == nil then return nil, err end
  local passed, err2 = take_all(keys, argv, now, own_limits, owner, reply, writes)
  if passed == nil then return nil, err2 end
  if peek then
    covered, quota_ok = true, true
  end
  if not covered then return "credits_exhausted" end
  if not quota_ok then return "quota_exceeded" end
  if not passed then return "limited" end
  for _, w in ipairs(writes) do redis.call(unpack(w)) end
  if not peek then
    for _, w in ipairs(counts) do redis.call(unpack(w)) end
  end
  return "ok"
end

-- the IP allowlist (cidr.hpp: canonical entries, one 128-bit space, IPv4 as
-- ::ffff:a.b.c.d; an entry that does not parse admits no one, as in
-- cidr_list_allows)
local function ip_hex(addr)
  if string.find(addr, ".", 1, true) then
    local a, b, c, d = string.match(addr, "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if not a then return nil end
    for _, o in ipairs({ a, b, c, d }) do
      if #o > 1 and string.sub(o, 1, 1) == "0" then return nil end   -- as inet_pton
    end
    a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
    if a > 255 or b > 255 or c > 255 or d > 255 then return nil end
    return string.format("00000000000000000000ffff%02x%02x%02x%02x", a, b, c, d), 96, 32
  end
  local ok, groups = true, {}
  local function split(text, out)
    if text == "" then return end
    for g in string.gmatch(text .. ":", "([^:]*):") do
      if #g < 1 or #g > 4 or string.find(g, "[^0-9a-fA-F]") then ok = false return end
      out[#out + 1] = string.rep("0", 4 - #g) .. string.lower(g)
    end
  end
  local left, right = string.match(addr, "^(.-)::(.*)$")
  if left then
    local l, r = {}, {}
    split(left, l)
    split(right, r)
    if not ok or #l + #r > 7 then return nil end
    for _, g in ipairs(l) do groups[#groups + 1] = g end
    for _ = 1, 8 - #l - #r do groups[#groups + 1] = "0000" end
    for _, g in ipairs(r) do groups[#groups + 1] = g end
  else
    split(addr, groups)
  end
  if not ok or #groups ~= 8 then return nil end
  return table.concat(groups), 0, 128
end

-- Whether a canonical allow_ip list admits a client (32 hex digits, "" for
-- none); an empty list admits everyone. Mirrors cidr_list_allows.
local function admits(list, client)
  if not string.find(list, "%S") then return true end
  if client == "" then return false end
  for entry in string.gmatch(list, "%S+") do
    local addr, len = string.match(entry, "^([0-9a-fA-F:.]+)/(%d+)$")
    local hex, base, max
    if addr and (#len == 1 or string.sub(len, 1, 1) ~= "0") then
      hex, base, max = ip_hex(addr)
    end
    if hex and tonumber(len) <= max then
      local bits = base + tonumber(len)
      local full, rest = math.floor(bits / 4), bits % 4
      if string.sub(client, 1, full) == string.sub(hex, 1, full) then
        if rest == 0 then return true end
        local div = 2 ^ (4 - rest)
        local cn = tonumber(string.sub(client, full + 1, full + 1), 16)
        local hn = tonumber(string.sub(hex, full + 1, full + 1), 16)
        if math.floor(cn / div) == math.floor(hn / div) then return true end
      end
    end
  end
  return false
end

-- "allow": the allowlist match alone, for tests that hold it against the
-- C++ one (ARGV[2..]: list, client as hex, list, client, ...): 1 or 0 per pair
if ARGV[1] == "allow" then
  local out = {}
  for i = 2, #ARGV - 1, 2 do out[#out + 1] = admits(ARGV[i], ARGV[i + 1]) and 1 or 0 end
  return out
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

-- "periods": the calendar periods alone, for a test that holds them to
-- another implementation (ARGV[2..]: unix seconds): per time, per day, week
-- and month: start, end, first day (YYYYMMDD)
if ARGV[1] == "periods" then
  local out = {}
  for i = 2, #ARGV do
    for _, period in ipairs({ "day", "week", "month" }) do
      local start, next_start, first_day = period_span(period, tonumber(ARGV[i]))
      out[#out + 1] = start
      out[#out + 1] = next_start
      out[#out + 1] = first_day
    end
  end
  return out
end

-- One check (or "limit"), with its own keys and arguments: the script's
-- KEYS and ARGV for a call of one check, or one check's share of a batch.
local function check(KEYS, ARGV)
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
    local credit_fields = {}
    if ARGV[9] == "C" then
      credit_fields = redis.call("HMGET", KEYS[1], "credits", "credits_granted", "refill",
                                 "refilled")
    end
    local verdict, err = take_everything(KEYS, ARGV, now, ARGV[2], ARGV[4], ARGV[3],
                                         credit_fields, reply)
    if verdict == nil then
      return redis.error_reply(err)
    end
    -- never on a record deleted meanwhile: that would leave a bare hash
    if ARGV[5] == "1" and redis.call("EXISTS", KEYS[1]) == 1 then
      record_use(KEYS, ARGV, now_s)
    end
    reply[1] = verdict
    return reply
  end

  local rec = redis.call("HMGET", KEYS[1], "digest", "status", "expires", "scopes", "limits",
                        "name", "last_used", "created", "hint", "prev_digest", "prev_until",
                        "prev_hint", "role_scopes", "plan_limits", "owner", "role", "plan",
                        "env", "meta", "allow_ip", "quota", "plan_quota", "credits",
                        "credits_granted", "refill", "refilled")
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
  -- effective scopes: the key's own, then those of its role it lacks
  local held = {}
  for s in string.gmatch(scopes, "%S+") do held[s] = true end
  local role_scopes = rec[13] or ""
  if role_scopes ~= "" then
    local extra = {}
    for s in string.gmatch(role_scopes, "%S+") do
      if not held[s] then
        held[s] = true
        extra[#extra + 1] = s
      end
    end
    if #extra > 0 then
      scopes = (scopes ~= "" and scopes .. " " or "") .. table.concat(extra, " ")
    end
  end
  -- effective limits: the key's own, else its plan's, else the default set
  if own == "" then own = rec[14] or "" end

  local owner, env, allow_ip = rec[15] or "", rec[18] or "", rec[20] or ""
  -- effective quotas: the key's own, else its plan's, else the K lines
  local own_quota = rec[21] or ""
  if own_quota == "" then own_quota = rec[22] or "" end
  -- credits as stored, for the refusals before any is taken (a key with a
  -- refill keeps credits, even before its first refill)
  local credits = -1
  if rec[23] or rec[25] then credits = tonumber(rec[23] or "0") or 0 end
  local head = { "", now_ms, name, scopes, expires, "", created, last_used, hint, token_until,
                 own, owner, rec[16] or "", rec[17] or "", env, rec[19] or "", allow_ip,
                 own_quota }
  -- a refusal before the quotas and credits: no quota counted, none taken
  local function refused(verdict)
    head[1] = verdict
    head[19], head[20], head[21] = credits, 0, 0
    return head
  end
  if status == "revoked" then
    return refused("revoked")
  end
  if status == "disabled" then
    return refused("disabled")
  end
  if status ~= "active" then
    return redis.error_reply("apikey: record " .. KEYS[1] .. " has an unknown status")
  end

  if expires > 0 and now_s >= expires then
    return refused("expired")
  end

  -- the environment: a record without one is live (keys from before issue 14)
  if ARGV[8] ~= "" and ARGV[8] ~= (env ~= "" and env or "live") then
    return refused("wrong_env")
  end

  if allow_ip ~= "" and not admits(allow_ip, ARGV[9]) then
    return refused("ip_denied")
  end

  -- last use, at most once per resolution: no write per request. Written for
  -- an active, unexpired key whose secret was presented, whatever the scopes
  -- and limits then say (local_check.hpp: records_use).
  local resolution = tonumber(ARGV[5])
  if resolution > 0 and now_s - last_used >= resolution then
    record_use(KEYS, ARGV, now_s)
    head[8] = now_s
  end

  local super = false
  for s in string.gmatch(ARGV[4], "%S+") do
    if held[s] then super = true break end
  end
  if not super then
    for s in string.gmatch(ARGV[3], "%S+") do
      if not held[s] then
        head[6] = s
        return refused("forbidden")
      end
    end
  end

  local reply = head
  local verdict, err = take_everything(KEYS, ARGV, now, own, own_quota, owner,
                                       { rec[23], rec[24], rec[25], rec[26] }, reply)
  if verdict == nil then
    return redis.error_reply(err)
  end
  reply[1] = verdict
  return reply
end

-- "batch": several checks in one call, run one after the other in the order
-- given, each exactly as if it had been a call of its own (a check's error is
-- its own element of the reply; the checks before it keep their effects, as
-- separate calls would). ARGV[2] is the number of checks; then, per check,
-- its number of keys and of arguments, then those arguments. The keys follow
-- one another in KEYS in the same order.
if ARGV[1] == "batch" then
  local out, k, a = {}, 1, 3
  for c = 1, tonumber(ARGV[2]) do
    local nkeys, nargs = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    a = a + 2
    local keys, args = {}, {}
    for j = 1, nkeys do keys[j] = KEYS[k]; k = k + 1 end
    for j = 1, nargs do args[j] = ARGV[a]; a = a + 1 end
    local ok, reply = pcall(check, keys, args)
    if ok then
      out[c] = reply
    else
      -- a command's error (a table with err) or a Lua error (a string)
      out[c] = redis.error_reply(type(reply) == "table" and reply.err or tostring(reply))
    end
  end
  return out
end

return check(KEYS, ARGV)
)lua";

}  // namespace apikey
