"""Lua scripts run atomically inside Redis; memory.py implements the same rules in Python.

RESERVE: admission (standing read and in-flight slot) in one round trip.
  KEYS: ban, throttle, strikes, in-flight
  ARGV: now_ms, window_ms, throttle_at, slot_weight, slot_ttl_ms, slot id
  Returns {banned-until, throttled-until, reserved 0/1, live slots, strikes as a string}.

RECORD: one strike and one review event in one round trip, and a slot freed.
  KEYS: strikes, throttle, ban, bans index, events stream, in-flight (of the released slot)
  ARGV: now_ms, weight, nonce, window_ms, throttle_at, throttle_ms, ban_at, ban_ms,
        max_strikes, max_events, principal, slot id ('' frees none), then the event's
        field/value pairs (if any)
  Returns {weighted strikes as a string, "" | "throttle" | "ban"}.

Rules (the contract suite checks both stores keep them):
  - a strike at time t counts while now - t < window;
  - only the newest max_strikes strikes are kept;
  - strikes >= ban_at and not already banned: ban for ban_ms, strikes and throttle cleared;
  - otherwise strikes >= throttle_at: throttle (re)starts for throttle_ms;
  - the event carries the escalation and the strikes, and the stream is capped (~);
  - admission: banned or throttled takes no slot; otherwise the slot is taken iff no slot
    is live or strikes in the window + live slots * slot_weight < throttle_at
    (slot_weight 0: never taken); a slot is live until its expiry (taken at +
    slot_ttl_ms) or its release.
"""

from __future__ import annotations

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

RECORD = """
local now = tonumber(ARGV[1])
local weight = tonumber(ARGV[2])
local window = tonumber(ARGV[4])
local total = 0
local step = ''
if weight > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[3] .. '|' .. ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[9]) + 1))
  redis.call('PEXPIRE', KEYS[1], window)
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    total = total + tonumber(string.match(member, '|([^|]*)$'))
  end
  local banned_until = tonumber(redis.call('GET', KEYS[3]) or '0')
  if banned_until > now then
    step = ''
  elseif total >= tonumber(ARGV[7]) then
    local ban_ms = tonumber(ARGV[8])
    redis.call('SET', KEYS[3], now + ban_ms, 'PX', ban_ms)
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
    redis.call('ZADD', KEYS[4], now + ban_ms, ARGV[11])
    if redis.call('PTTL', KEYS[4]) < ban_ms then redis.call('PEXPIRE', KEYS[4], ban_ms) end
    redis.call('DEL', KEYS[1], KEYS[2])
    step = 'ban'
  elseif total >= tonumber(ARGV[5]) then
    local throttle_ms = tonumber(ARGV[6])
    redis.call('SET', KEYS[2], now + throttle_ms, 'PX', throttle_ms)
    step = 'throttle'
  end
end
if ARGV[12] ~= '' then redis.call('ZREM', KEYS[6], ARGV[12]) end
if #ARGV > 12 then
  local fields = {}
  for i = 13, #ARGV do fields[#fields + 1] = ARGV[i] end
  fields[#fields + 1] = 'strikes'
  fields[#fields + 1] = tostring(total)
  fields[#fields + 1] = 'escalation'
  fields[#fields + 1] = step
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[10], '*', unpack(fields))
end
return {tostring(total), step}
"""

# KEYS: strikes, throttle, ban, bans index; ARGV: principal. Returns 1 if a ban was lifted.
UNBAN = """
local lifted = redis.call('DEL', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[4], ARGV[1])
return lifted
"""

# KEYS: verdict keys; ARGV: ttl_ms, then one JSON value per key. One command for any count.
PUT_VERDICTS = """
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1])
end
return #KEYS
"""
