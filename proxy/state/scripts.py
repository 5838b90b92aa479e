"""Lua scripts run atomically inside Redis; memory.py implements the same rules in Python.

Every script touches the keys of ONE principal, which share its hash tag (keys.py), so on a
Redis Cluster each runs on the one node that holds that principal. The bans index and the
review stream (one global tag) are written by separate commands after the principal's
script (RedisStore says when and what that gives up).

RESERVE: admission (standing read and in-flight slot) in one round trip.
  KEYS: ban, throttle, strikes, in-flight
  ARGV: now_ms, window_ms, throttle_at, slot_weight, slot_ttl_ms, slot id
  Returns {banned-until, throttled-until, reserved 0/1, live slots, strikes as a string}.

RECORD: one strike, and the principal's own slot freed in the same step.
  KEYS: strikes, throttle, ban, in-flight
  ARGV: now_ms, strike member "<nonce>|<weight>", window_ms, throttle_at, throttle_ms,
        ban_at, ban_ms, max_strikes, slot id ('' frees none)
  Returns {weighted strikes as a string, "" | "throttle" | "ban"}.

CHARGE: a request's input strike, before it is forwarded, for each of its principals in
  one slot (on a single Redis: all of them).
  KEYS: per principal: strikes, throttle, ban
  ARGV: now_ms, strike member "<nonce>|<weight>", then per principal: window_ms,
        throttle_at, throttle_ms, ban_at, ban_ms, max_strikes
  Returns {admitted 0/1, then per principal: banned-until, throttled-until (read before
  any strike), strikes as a string, "" | "throttle" | "ban" (both "0" / "" if refused)}.

UNBAN: KEYS strikes, throttle, ban. Returns 1 if a ban was lifted.

INDEX_BAN: the bans index entry of a ban set by RECORD or CHARGE (global tag).
  KEYS: bans index; ARGV: now_ms, banned-until ms, ban_ms, principal.

Rules (the contract suite checks both stores keep them):
  - a strike at time t counts while now - t < window;
  - only the newest max_strikes strikes are kept;
  - strikes >= ban_at and not already banned: ban for ban_ms, strikes and throttle cleared;
  - otherwise strikes >= throttle_at: throttle (re)starts for throttle_ms;
    (RECORD and CHARGE share one strike function, so they escalate alike);
  - charge: if any principal is banned or throttled now, nothing is added to anyone and
    the request is refused; else each principal gets the strike, as RECORD gives it;
  - admission: banned or throttled takes no slot; otherwise the slot is taken iff no slot
    is live or strikes in the window + live slots * slot_weight < throttle_at
    (slot_weight 0: never taken); a slot is live until its expiry (taken at +
    slot_ttl_ms) or its release.
"""

from __future__ import annotations

import hashlib

RESERVE = """
local now = tonumber(ARGV[1])
local banned = tonumber(redis.call('GET', KEYS[1]) or '0')
local throttled = tonumber(redis.call('GET', KEYS[2]) or '0')
local weight = tonumber(ARGV[4])
if banned > now or throttled > now or weight <= 0 then
  return {tostring(banned), tostring(throttled), 0, 0, '0'}
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local live = redis.call('ZCARD', KEYS[4])
local strikes = 0
local since = '(' .. (now - tonumber(ARGV[2]))
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], since, '+inf')) do
  strikes = strikes + tonumber(string.match(member, '|([^|]*)$'))
end
if live > 0 and strikes + live * weight >= tonumber(ARGV[3]) then
  return {tostring(banned), tostring(throttled), 0, live, tostring(strikes)}
end
local ttl = tonumber(ARGV[5])
redis.call('ZADD', KEYS[4], now + ttl, ARGV[6])
if redis.call('PTTL', KEYS[4]) < ttl then redis.call('PEXPIRE', KEYS[4], ttl) end
return {tostring(banned), tostring(throttled), 1, live + 1, tostring(strikes)}
"""

# strike(KEYS strikes, throttle, ban; now, member "<nonce>|<weight>", window_ms,
# throttle_at, throttle_ms, ban_at, ban_ms, max_strikes) adds one weighted strike and
# escalates; returns the strikes in the window and the escalation.
_STRIKE = """
local function strike(strikes_key, throttle_key, ban_key, now, member, window,
                      throttle_at, throttle_ms, ban_at, ban_ms, max_strikes)
  redis.call('ZADD', strikes_key, now, member)
  redis.call('ZREMRANGEBYSCORE', strikes_key, '-inf', now - window)
  redis.call('ZREMRANGEBYRANK', strikes_key, 0, -(max_strikes + 1))
  redis.call('PEXPIRE', strikes_key, window)
  local total = 0
  for _, kept in ipairs(redis.call('ZRANGE', strikes_key, 0, -1)) do
    total = total + tonumber(string.match(kept, '|([^|]*)$'))
  end
  if tonumber(redis.call('GET', ban_key) or '0') > now then
    return total, ''
  elseif total >= ban_at then
    redis.call('SET', ban_key, now + ban_ms, 'PX', ban_ms)
    redis.call('DEL', strikes_key, throttle_key)
    return total, 'ban'
  elseif total >= throttle_at then
    redis.call('SET', throttle_key, now + throttle_ms, 'PX', throttle_ms)
    return total, 'throttle'
  end
  return total, ''
end
"""

RECORD = _STRIKE + """
local total, step = strike(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), ARGV[2],
                           tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
                           tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
if ARGV[9] ~= '' then redis.call('ZREM', KEYS[4], ARGV[9]) end
return {tostring(total), step}
"""

CHARGE = _STRIKE + """
local now = tonumber(ARGV[1])
local count = #KEYS / 3
local reply = {1}
for i = 0, count - 1 do
  local banned = tonumber(redis.call('GET', KEYS[3 + 3 * i]) or '0')
  local throttled = tonumber(redis.call('GET', KEYS[2 + 3 * i]) or '0')
  if banned > now or throttled > now then reply[1] = 0 end
  for _, value in ipairs({tostring(banned), tostring(throttled), '0', ''}) do
    reply[#reply + 1] = value
  end
end
if reply[1] == 0 then return reply end
for i = 0, count - 1 do
  local a = 3 + 6 * i
  local total, step = strike(KEYS[1 + 3 * i], KEYS[2 + 3 * i], KEYS[3 + 3 * i], now, ARGV[2],
                             tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]),
                             tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]),
                             tonumber(ARGV[a + 5]))
  reply[4 + 4 * i] = tostring(total)
  reply[5 + 4 * i] = step
end
return reply
"""

UNBAN = """
local lifted = redis.call('DEL', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[2])
return lifted
"""

INDEX_BAN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""

ALL = (RESERVE, RECORD, CHARGE, UNBAN, INDEX_BAN)


def sha1(source: str) -> str:
    """The script's EVALSHA digest, as Redis computes it (no round trip needed)."""
    return hashlib.sha1(source.encode()).hexdigest()
