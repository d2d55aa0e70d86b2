#include "leak_script.hpp"

namespace apikey {

// A whole report is one atomic step: each match whose digest is a key's is
// acted on, with its audit event and its invalidation, so a report can never
// leave a key revoked but unannounced. The token never reaches Redis: the
// caller sends the digest it would be stored under, and the id the token
// names. Sent with EVAL: reports are rare, and this keeps it off the
// connection's SCRIPT LOAD.
const std::string_view kLeakScript = R"lua(-- apikey leak v1
--
-- KEYS[1]   <prefix>audit
-- KEYS[2..] <prefix>key:{<id>}, one per match (in ARGV's order)
-- ARGV[1]   revoke | disable | flag
-- ARGV[2]   now (unix seconds)
-- ARGV[3]   the invalidation channel, <prefix>invalidate
-- ARGV[4]   the audit event's user
-- ARGV[5..] per match: id, digest, url
--
-- Reply: one integer per match, 1 when the digest is the key's (its current
-- token, or the previous one during a rotation's grace), else 0.
-- Every match of ours gets leaked_at and leak_url in its record and an audit
-- event "leaked" whose reason is the url; revoke and disable change the
-- status too (a revoked key stays revoked).

local action, now = ARGV[1], ARGV[2]
local out = {}
for j = 1, #KEYS - 1 do
  local key = KEYS[j + 1]
  local id, digest, url = ARGV[3 * j + 2], ARGV[3 * j + 3], ARGV[3 * j + 4]
  local f = redis.call("HMGET", key, "digest", "prev_digest", "prev_until", "status")
  local grace_end = tonumber(f[3] or "") or 0
  local ours = f[1] ~= false and (f[1] == digest
               or (f[2] == digest and grace_end > tonumber(now)))
  if ours then
    -- the event and the invalidation first: a user whose ACL lacks XADD or
    -- PUBLISH fails here, before the record is touched (a script's writes
    -- are not rolled back), and subscribers hear of it only once the whole
    -- script is done
    redis.call("XADD", KEYS[1], "MAXLEN", "~", "100000", "*",
               "time", now, "key", id, "action", "leaked", "user", ARGV[4],
               "reason", url, "via", "leak-report:" .. action)
    redis.call("PUBLISH", ARGV[3], id)
    local status = f[4]
    if action == "revoke" and status ~= "revoked" then
      redis.call("HSET", key, "status", "revoked", "revoked", now, "updated", now)
    elseif action == "disable" and status ~= "revoked" and status ~= "disabled" then
      redis.call("HSET", key, "status", "disabled", "updated", now)
    end
    redis.call("HSET", key, "leaked_at", now, "leak_url", url)
    out[j] = 1
  else
    out[j] = 0
  end
end
return out
)lua";

}  // namespace apikey
