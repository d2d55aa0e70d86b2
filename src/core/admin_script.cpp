#include "admin_script.hpp"

namespace apikey {

// Key management over HTTP: every change is one atomic step in Redis together
// with its audit event and its invalidation message, so the admin API can never
// leave a record changed but unannounced. The module builds the records with
// the same core functions as apikeyctl; the script only applies them.
// apikeyctl makes its changes with this script too, so that a change is
// conditional on the record and never writes back fields it did not change
// (a revoke, rotate or delete in between stays done).
const std::string_view kAdminScript = R"lua(-- apikey admin v2
--
-- KEYS[1]   <prefix>key:{<id>}; role and plan modes: <prefix>role:<name> or
--           <prefix>plan:<name>; owner_revoke: <prefix>owner_keys:<owner>;
--           list, page, reindex, prune: unused
-- KEYS[2]   <prefix>audit; absent (one key) on a Redis Cluster, where the
--           audit stream, the indexes and the role, plan and owner sets live
--           in other slots: there the caller (apikeyctl) appends the event and
--           keeps the indexes and sets itself after a change (the
--           invalidation is published here all the same)
-- ARGV[1]   get | list | page | create | update | extend | rotate | revoke |
--           disable | enable | delete | audit | owner_revoke | recopy |
--           reset_limits | credits | usage |
--           role_create | role_update | role_delete | role_get | role_list |
--           plan_... (the same five) | reindex | prune
-- ARGV[2..6] the audit event: time, action, user, reason, via
-- ARGV[7]   the invalidation channel, <prefix>invalidate (also names the
--           prefix), ARGV[8] the key id (role and plan modes: the name)
-- ARGV[9..] per mode (below)
--
-- Replies: { "ok", fields... } with the record's HGETALL after the change,
-- { "not_found" }, { "conflict", why }, { "exists" }; the others below.
--
-- On a single Redis or Sentinel every change keeps, in the same step, the
-- sorted indexes that list reads (<prefix>idx:created, idx:expires,
-- idx:last_used, idx:name) and the sets <prefix>role_keys:<role>,
-- plan_keys:<plan> and owner_keys:<owner>.

local mode = ARGV[1]
local P = string.sub(ARGV[7], 1, #ARGV[7] - #"invalidate")
local single = KEYS[2] ~= nil

-- A key's bucket state, deleted: ARGV[9] its pattern (the admin API, in the
-- script), or "" and ARGV[10..] the bucket keys the caller found (apikeyctl
-- scans outside the script, so a large keyspace does not hold Redis for the
-- whole scan). Its calendar quota counters too: <prefix>quota:{<id>}
-- (keyspace.hpp), named here from the id, in the record's slot.
local function drop_buckets()
  redis.call("DEL", P .. "quota:{" .. ARGV[8] .. "}")
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
end

local function announce()
  if KEYS[2] then
    redis.call("XADD", KEYS[2], "MAXLEN", "~", "100000", "*",
               "time", ARGV[2], "key", ARGV[8], "action", ARGV[3], "user", ARGV[4],
               "reason", ARGV[5], "via", ARGV[6])
  end
  redis.call("PUBLISH", ARGV[7], ARGV[8])
end

local function event_for(id, action)
  if KEYS[2] then
    redis.call("XADD", KEYS[2], "MAXLEN", "~", "100000", "*",
               "time", ARGV[2], "key", id, "action", action, "user", ARGV[4],
               "reason", ARGV[5], "via", ARGV[6])
  end
end

local function pairs_from(first)
  local fields = {}
  for i = first, #ARGV do fields[#fields + 1] = ARGV[i] end
  return fields
end

local function record_key(id) return P .. "key:{" .. id .. "}" end

-- what the indexes and sets hold of a record (nil: no record)
local function snapshot(key)
  if redis.call("EXISTS", key) == 0 then return nil end
  local v = redis.call("HMGET", key, "name", "owner", "role", "plan", "created",
                       "expires", "last_used")
  return { name = v[1] or "", owner = v[2] or "", role = v[3] or "", plan = v[4] or "",
           created = tonumber(v[5]) or 0, expires = tonumber(v[6]) or 0,
           last_used = tonumber(v[7]) or 0 }
end

local function name_member(name, id) return string.lower(name) .. "\0" .. id end

-- brings the indexes and sets of one key from `before` to `after` (either nil)
local function reindex(id, before, after)
  if not single then return end
  if before then
    if not after or after.name ~= before.name then
      redis.call("ZREM", P .. "idx:name", name_member(before.name, id))
    end
    for _, kind in ipairs({ "owner", "role", "plan" }) do
      if before[kind] ~= "" and (not after or after[kind] ~= before[kind]) then
        redis.call("SREM", P .. kind .. "_keys:" .. before[kind], id)
      end
    end
    if not after then
      for _, index in ipairs({ "created", "expires", "last_used" }) do
        redis.call("ZREM", P .. "idx:" .. index, id)
      end
    end
  end
  if after then
    redis.call("ZADD", P .. "idx:created", after.created, id)
    redis.call("ZADD", P .. "idx:expires", after.expires > 0 and after.expires or "inf", id)
    redis.call("ZADD", P .. "idx:last_used", after.last_used, id)
    redis.call("ZADD", P .. "idx:name", 0, name_member(after.name, id))
    for _, kind in ipairs({ "owner", "role", "plan" }) do
      if after[kind] ~= "" then redis.call("SADD", P .. kind .. "_keys:" .. after[kind], id) end
    end
  end
end

-- meta: a JSON object of strings, written with sorted names
local function meta_text(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  if #names == 0 then return "" end
  table.sort(names)
  local parts = {}
  for _, k in ipairs(names) do parts[#parts + 1] = cjson.encode(k) .. ":" .. cjson.encode(t[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- Writes field, value pairs to a record: "" removes a field of the newer
-- model (owner, role, plan, env, meta, allow_ip and the copies), so a record
-- without them stays as a version 1 record was; meta_patch merges into meta.
-- On a single Redis a role or plan named is checked and its copy taken here.
-- Returns a conflict message or nil.
local optional = { owner = true, role = true, role_scopes = true, plan = true,
                   plan_limits = true, env = true, meta = true, allow_ip = true,
                   quota = true, plan_quota = true, credits = true, credits_granted = true,
                   refill = true, refilled = true }
local function write_fields(key, fields)
  local set, del = {}, {}
  local values = {}
  for i = 1, #fields, 2 do values[fields[i]] = fields[i + 1] end
  if single then
    for _, kind in ipairs({ "role", "plan" }) do
      local name = values[kind]
      if name and name ~= "" then
        local copy = redis.call("HGET", P .. kind .. ":" .. name,
                                kind == "role" and "scopes" or "limits")
        if not copy then return "no " .. kind .. " \"" .. name .. "\"" end
        values[kind .. "_scopes"] = nil
        values[kind .. "_limits"] = nil
        values[kind == "role" and "role_scopes" or "plan_limits"] = copy
        -- a plan's quota is copied the same way (none: no copy)
        if kind == "plan" then
          values.plan_quota = redis.call("HGET", P .. "plan:" .. name, "quota") or ""
        end
      elseif name == "" then
        values[kind == "role" and "role_scopes" or "plan_limits"] = ""
        if kind == "plan" then values.plan_quota = "" end
      end
    end
  end
  if values.meta_patch then
    local meta = {}
    local old = redis.call("HGET", key, "meta")
    if old and old ~= "" then meta = cjson.decode(old) end
    for k, v in pairs(cjson.decode(values.meta_patch)) do
      if v == "" then meta[k] = nil else meta[k] = v end
    end
    local n = 0
    for _ in pairs(meta) do n = n + 1 end
    if n > 16 then return "at most 16 meta entries per key" end
    values.meta_patch = nil
    values.meta = meta_text(meta)
  end
  for k, v in pairs(values) do
    if v == "" and optional[k] then del[#del + 1] = k
    else set[#set + 1] = k; set[#set + 1] = v end
  end
  if #set > 0 then redis.call("HSET", key, unpack(set)) end
  if #del > 0 then redis.call("HDEL", key, unpack(del)) end
  return nil
end

-- the effective status, as KeyRecord::effective_status has it
local function status_of(f, now)
  if f.status == "revoked" or f.status == "disabled" then return f.status end
  local expires = tonumber(f.expires) or 0
  if expires > 0 and now >= expires then return "expired" end
  return "active"
end

local function hash_of(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

if mode == "get" then
  return { "ok", redis.call("HGETALL", KEYS[1]) }

elseif mode == "usage" then
  -- ARGV[9..] the key's usage hashes, <prefix>usage:{<id>}:<YYYYMMDD>, one
  -- per day asked for: { "ok", HGETALL of each } (a single Redis: the
  -- admin API does not run on a cluster)
  if redis.call("EXISTS", KEYS[1]) == 0 then return { "not_found" } end
  local out = { "ok" }
  for i = 9, #ARGV do out[#out + 1] = redis.call("HGETALL", ARGV[i]) end
  return out

elseif mode == "list" then
  -- ARGV[9] cursor, ARGV[10] pattern, ARGV[11] count
  local page = redis.call("SCAN", ARGV[9], "MATCH", ARGV[10], "COUNT", ARGV[11])
  local out = { page[1] }
  for _, key in ipairs(page[2]) do
    out[#out + 1] = key
    out[#out + 1] = redis.call("HGETALL", key)
  end
  return out

elseif mode == "page" then
  -- One page of keys in an index's order, filtered, in one call:
  -- ARGV[9] sort (created, name, last_used, expires), ARGV[10] asc | desc,
  -- ARGV[11] page size, ARGV[12] cursor ("" first page), ARGV[13] now,
  -- ARGV[14] how many index entries to look at, at most, ARGV[15] status,
  -- ARGV[16] owner, ARGV[17] role, ARGV[18] plan, ARGV[19] env,
  -- ARGV[20] name search (lower case) ("" for any filter).
  -- Reply: { "page", next cursor ("" at the end), id, fields, id, fields ... }
  -- or { "reindex" } when the index is empty but records exist.
  local sort, asc, want = ARGV[9], ARGV[10] == "asc", tonumber(ARGV[11])
  local cursor, now, budget = ARGV[12], tonumber(ARGV[13]), tonumber(ARGV[14])
  local f_status, f_owner, f_role, f_plan, f_env, search =
    ARGV[15], ARGV[16], ARGV[17], ARGV[18], ARGV[19], ARGV[20]
  local index = P .. "idx:" .. sort
  local out, found, seen, next_cursor = { "page", "" }, 0, 0, ""

  if redis.call("EXISTS", P .. "idx:created") == 0 then
    -- no key indexed: are there records (written before the indexes)? A
    -- few SCAN steps tell, without walking a large keyspace
    local cursor = "0"
    for _ = 1, 10 do
      local scan = redis.call("SCAN", cursor, "MATCH", P .. "key:*", "COUNT", 1000)
      if #scan[2] > 0 then return { "reindex" } end
      cursor = scan[1]
      if cursor == "0" then break end
    end
    return out
  end

  -- a record that passes the filters goes into the page
  local function take(id)
    local flat = redis.call("HGETALL", record_key(id))
    if #flat == 0 then return end   -- gone meanwhile (or a stale entry)
    local f = hash_of(flat)
    if f_status ~= "" and status_of(f, now) ~= f_status then return end
    if f_owner ~= "" and f.owner ~= f_owner then return end
    if f_role ~= "" and f.role ~= f_role then return end
    if f_plan ~= "" and f.plan ~= f_plan then return end
    if f_env ~= "" and (f.env or "live") ~= f_env then return end
    if search ~= "" and not string.find(string.lower(f.name or ""), search, 1, true) then return end
    out[#out + 1] = id
    out[#out + 1] = flat
    found = found + 1
  end

  local function hex(s) return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end)) end
  local function unhex(s) return (string.gsub(s, "%x%x", function(h) return string.char(tonumber(h, 16)) end)) end

  if sort == "name" then
    -- cursor: the hex of the last name member; members sort by lower-cased name, then id
    local from = cursor ~= "" and "(" .. unhex(cursor) or (asc and "-" or "+")
    while found < want and seen < budget do
      local batch = asc and redis.call("ZRANGEBYLEX", index, from, "+", "LIMIT", 0, 100)
                         or redis.call("ZREVRANGEBYLEX", index, from, "-", "LIMIT", 0, 100)
      if #batch == 0 then next_cursor = ""; break end
      for _, member in ipairs(batch) do
        seen = seen + 1
        local zero = string.find(member, "\0", 1, true)
        local lname = string.sub(member, 1, zero - 1)
        if search == "" or string.find(lname, search, 1, true) then
          take(string.sub(member, zero + 1))
        end
        next_cursor = hex(member)
        if found >= want or seen >= budget then break end
      end
      from = "(" .. unhex(next_cursor)
      if #batch < 100 and (found < want and seen < budget) then next_cursor = ""; break end
    end
  else
    -- cursor: "<score>:<id>" of the last entry; the next one is found by
    -- the entry's rank, or by its score when it left the index meanwhile
    local start = 0
    if cursor ~= "" then
      local colon = string.find(cursor, ":", 1, true)
      local score, last = string.sub(cursor, 1, colon - 1), string.sub(cursor, colon + 1)
      local rank = asc and redis.call("ZRANK", index, last) or redis.call("ZREVRANK", index, last)
      if rank and redis.call("ZSCORE", index, last) == score then
        start = rank + 1
      else
        start = asc and redis.call("ZCOUNT", index, "-inf", score)
                     or redis.call("ZCOUNT", index, score, "+inf")
      end
    end
    while found < want and seen < budget do
      local batch = asc and redis.call("ZRANGE", index, start, start + 99, "WITHSCORES")
                         or redis.call("ZREVRANGE", index, start, start + 99, "WITHSCORES")
      if #batch == 0 then next_cursor = ""; break end
      for i = 1, #batch, 2 do
        seen = seen + 1
        start = start + 1
        take(batch[i])
        next_cursor = batch[i + 1] .. ":" .. batch[i]
        if found >= want or seen >= budget then break end
      end
      if #batch < 200 and (found < want and seen < budget) then next_cursor = ""; break end
    end
  end
  out[2] = next_cursor
  return out

elseif mode == "reindex" then
  -- ARGV[9] a SCAN cursor over the records: indexes and sets for one batch.
  -- Reply: { next cursor, how many records }
  local page = redis.call("SCAN", ARGV[9], "MATCH", P .. "key:*", "COUNT", 1000)
  local n = 0
  for _, key in ipairs(page[2]) do
    local id = string.match(key, "key:{([^}]*)}$")
    local now = snapshot(key)
    if id and now then
      reindex(id, nil, now)
      n = n + 1
    end
  end
  return { page[1], n }

elseif mode == "prune" then
  -- ARGV[9] index (created, expires, last_used, name), ARGV[10] ZSCAN
  -- cursor: drops entries whose record is gone (or renamed). Reply as reindex.
  local index = P .. "idx:" .. ARGV[9]
  local page = redis.call("ZSCAN", index, ARGV[10], "COUNT", 1000)
  local n = 0
  for i = 1, #page[2], 2 do
    local member, id = page[2][i], page[2][i]
    if ARGV[9] == "name" then id = string.sub(member, (string.find(member, "\0", 1, true) or 0) + 1) end
    -- a record without a name (the field is optional) is still a record
    local gone = redis.call("EXISTS", record_key(id)) == 0
    local name = redis.call("HGET", record_key(id), "name") or ""
    if gone or (ARGV[9] == "name" and name_member(name, id) ~= member) then
      redis.call("ZREM", index, member)
      n = n + 1
    end
  end
  return { page[1], n }

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

local kind = string.match(mode, "^(%a+)_")
if kind == "role" or kind == "plan" then
  -- roles and plans: KEYS[1] <prefix>role:<name> (or plan:), ARGV[8] the name.
  -- role_create, role_update: ARGV[9] scopes (plans: limits), ARGV[10] "1"
  -- when ARGV[11] is a new description, ARGV[12] now, ARGV[13] "1" when
  -- ARGV[9] is new (update: else the scopes or limits stay); plans:
  -- ARGV[14] "1" when ARGV[15] is a new quota ("" removes it).
  -- role_update rewrites the copy in every key of the role (plans: also
  -- plan_quota from the plan's quota) and publishes each key's id. Replies: { "ok", fields, ids... } (the ids changed),
  -- { "not_found" }, { "exists" }, { "conflict", why }; role_list:
  -- { name, fields, name, fields ... }.
  local name, action = ARGV[8], string.sub(mode, #kind + 2)
  local item_field = kind == "role" and "scopes" or "limits"
  local copy_field = kind == "role" and "role_scopes" or "plan_limits"
  local members = P .. kind .. "_keys:" .. name
  local new_quota = kind == "plan" and ARGV[14] == "1"
  -- a plan's quota field, or a key's copy of it: "" removes it
  local function put_quota(key, field, value)
    if value == "" then redis.call("HDEL", key, field)
    else redis.call("HSET", key, field, value) end
  end
  if action == "list" then
    local names = redis.call("SMEMBERS", P .. kind .. "s")
    table.sort(names)
    local out = {}
    for _, n in ipairs(names) do
      out[#out + 1] = n
      out[#out + 1] = redis.call("HGETALL", P .. kind .. ":" .. n)
      out[#out + 1] = redis.call("SCARD", P .. kind .. "_keys:" .. n)
    end
    return out
  end
  local exists = redis.call("EXISTS", KEYS[1]) == 1
  if action == "get" then
    if not exists then return { "not_found" } end
    return { "ok", redis.call("HGETALL", KEYS[1]), redis.call("SCARD", members) }
  elseif action == "create" then
    if exists then return { "exists" } end
    redis.call("HSET", KEYS[1], item_field, ARGV[9], "description", ARGV[11],
               "created", ARGV[12], "updated", ARGV[12])
    if new_quota then put_quota(KEYS[1], "quota", ARGV[15]) end
    redis.call("SADD", P .. kind .. "s", name)
    event_for(kind .. ":" .. name, ARGV[3])
    return { "ok", redis.call("HGETALL", KEYS[1]), 0 }
  elseif action == "update" then
    if not exists then return { "not_found" } end
    redis.call("HSET", KEYS[1], "updated", ARGV[12])
    if ARGV[13] == "1" then redis.call("HSET", KEYS[1], item_field, ARGV[9]) end
    if ARGV[10] == "1" then redis.call("HSET", KEYS[1], "description", ARGV[11]) end
    if new_quota then put_quota(KEYS[1], "quota", ARGV[15]) end
    event_for(kind .. ":" .. name, ARGV[3])
    local out = { "ok", redis.call("HGETALL", KEYS[1]), 0 }
    if single and (ARGV[13] == "1" or new_quota) then
      -- every key of the role takes the new copy, and nginx caches drop it
      local ids = redis.call("SMEMBERS", members)
      table.sort(ids)
      for _, id in ipairs(ids) do
        local key = record_key(id)
        if redis.call("HGET", key, kind) == name then
          if ARGV[13] == "1" then redis.call("HSET", key, copy_field, ARGV[9]) end
          if new_quota then put_quota(key, "plan_quota", ARGV[15]) end
          redis.call("PUBLISH", ARGV[7], id)
          out[#out + 1] = id
        else
          redis.call("SREM", members, id)   -- a stale member
        end
      end
      out[3] = #out - 3
    end
    return out
  elseif action == "delete" then
    if not exists then return { "not_found" } end
    local n = redis.call("SCARD", members)
    if n > 0 then
      return { "conflict", n .. " key(s) use " .. kind .. " \"" .. name .. "\"" }
    end
    redis.call("DEL", KEYS[1])
    redis.call("SREM", P .. kind .. "s", name)
    event_for(kind .. ":" .. name, ARGV[3])
    return { "ok" }
  end
  return redis.error_reply("apikey admin: unknown mode")
end

if mode == "owner_revoke" then
  -- KEYS[1] <prefix>owner_keys:<owner>, ARGV[8] the owner, ARGV[9] now:
  -- every key of the owner that is not revoked yet (active, disabled or
  -- expired), one audit event and one invalidation per key.
  -- Reply: { "ok", id, id ... } (those revoked)
  local out = { "ok" }
  local ids = redis.call("SMEMBERS", KEYS[1])
  table.sort(ids)
  for _, id in ipairs(ids) do
    local key = record_key(id)
    local f = redis.call("HMGET", key, "owner", "status")
    if f[1] == ARGV[8] and f[2] and f[2] ~= "revoked" then
      redis.call("HSET", key, "status", "revoked", "revoked", ARGV[9], "updated", ARGV[9])
      event_for(id, ARGV[3])
      redis.call("PUBLISH", ARGV[7], id)
      out[#out + 1] = id
    end
  end
  return out
end

local exists = redis.call("EXISTS", KEYS[1]) == 1
local id = ARGV[8]

if mode == "create" then
  -- ARGV[9..] field, value, ...
  if exists then return { "exists" } end
  local problem = write_fields(KEYS[1], pairs_from(9))
  if problem then
    redis.call("DEL", KEYS[1])
    return { "conflict", problem }
  end
  reindex(id, nil, snapshot(KEYS[1]))
  announce()
  return { "ok", redis.call("HGETALL", KEYS[1]) }
end

if not exists then
  return { "not_found" }
end

local status = redis.call("HGET", KEYS[1], "status")
local before = snapshot(KEYS[1])

if mode == "update" then
  -- ARGV[9..] field, value, ...: only what changes
  local problem = write_fields(KEYS[1], pairs_from(9))
  if problem then return { "conflict", problem } end

elseif mode == "recopy" then
  -- a Cluster's role or plan update, key by key: ARGV[9] role | plan,
  -- ARGV[10] its name, ARGV[11] the new copy of its scopes or limits,
  -- ARGV[12] "0" when that copy stays (absent: "1"), ARGV[13] "1" when
  -- ARGV[14] is the plan's new quota for plan_quota ("" removes it); only
  -- if the key still has that role or plan
  if redis.call("HGET", KEYS[1], ARGV[9]) ~= ARGV[10] then return { "conflict", "moved" } end
  if ARGV[12] ~= "0" then
    redis.call("HSET", KEYS[1], ARGV[9] == "role" and "role_scopes" or "plan_limits", ARGV[11])
  end
  if ARGV[13] == "1" then
    if ARGV[14] == "" then redis.call("HDEL", KEYS[1], "plan_quota")
    else redis.call("HSET", KEYS[1], "plan_quota", ARGV[14]) end
  end
  redis.call("PUBLISH", ARGV[7], ARGV[8])
  return { "ok", redis.call("HGETALL", KEYS[1]) }

elseif mode == "extend" then
  -- ARGV[9..] field, value, ...: the new expiry; a revoked key stays revoked
  if status == "revoked" then return { "conflict", "the key is revoked" } end
  redis.call("HSET", KEYS[1], unpack(pairs_from(9)))

elseif mode == "rotate" then
  -- ARGV[9] new digest, ARGV[10] new hint, ARGV[11] grace end (0: none), ARGV[12] now;
  -- ARGV[13], ARGV[14]: the digest and hint of a test token for the same
  -- key, used instead when the key is a test key (the new token keeps the
  -- key's environment; the caller tells which by the digest in the reply)
  if status == "revoked" then return { "conflict", "the key is revoked" } end
  if ARGV[13] and redis.call("HGET", KEYS[1], "env") == "test" then
    ARGV[9], ARGV[10] = ARGV[13], ARGV[14]
  end
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

elseif mode == "disable" then
  -- ARGV[9] now: reversible, unlike revoke
  if status == "revoked" then return { "conflict", "the key is revoked" } end
  if status == "disabled" then return { "conflict", "the key is already disabled" } end
  redis.call("HSET", KEYS[1], "status", "disabled", "updated", ARGV[9])

elseif mode == "enable" then
  -- ARGV[9] now: only a disabled key; a revoked key stays revoked
  if status == "revoked" then return { "conflict", "the key is revoked" } end
  if status ~= "disabled" then return { "conflict", "the key is not disabled" } end
  redis.call("HSET", KEYS[1], "status", "active", "updated", ARGV[9])

elseif mode == "reset_limits" then
  -- the buckets start full again on the next request, the calendar quotas
  -- count from 0
  drop_buckets()

elseif mode == "credits" then
  -- ARGV[9] set | add, ARGV[10] N, ARGV[11] now. set: credits and
  -- credits_granted = N. add: both grow by N (may be negative); a key
  -- without credits (unlimited) starts from 0. A result below 0 or above
  -- 10^12 (kMaxCredits) is refused. HINCRBY keeps the numbers exact
  -- integers (Lua would print 1e+12).
  local n = tonumber(ARGV[10])
  if ARGV[9] == "set" then
    redis.call("HSET", KEYS[1], "credits", ARGV[10], "credits_granted", ARGV[10])
  else
    local have = redis.call("HMGET", KEYS[1], "credits", "credits_granted")
    local credits, granted = tonumber(have[1]) or 0, tonumber(have[2]) or 0
    if credits + n < 0 then
      return { "conflict", "the credits would be " .. string.format("%d", credits + n) ..
                           " (they are " .. string.format("%d", credits) .. "; at least 0)" }
    end
    if credits + n > 1000000000000 then
      return { "conflict", "the credits would be above 1000000000000" }
    end
    redis.call("HINCRBY", KEYS[1], "credits", ARGV[10])
    if granted + n < 0 then redis.call("HSET", KEYS[1], "credits_granted", "0")
    else redis.call("HINCRBY", KEYS[1], "credits_granted", ARGV[10]) end
  end
  redis.call("HSET", KEYS[1], "updated", ARGV[11])

elseif mode == "delete" then
  redis.call("DEL", KEYS[1])
  drop_buckets()
  reindex(id, before, nil)
  announce()
  return { "ok" }

else
  return redis.error_reply("apikey admin: unknown mode")
end

reindex(id, before, snapshot(KEYS[1]))
announce()
return { "ok", redis.call("HGETALL", KEYS[1]) }
)lua";

}  // namespace apikey
