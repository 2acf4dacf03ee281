-- Count one attempt for every key unless one is at its limit (ThrottleStore.reserve).
-- KEYS: the blocked set, the secret, the n count keys, then the `once` key if any.
-- ARGV: bucket, span, ttl, channel, secret, secret ttl, n, the n names, the n limits.
-- Returns {-2, shared secret}: this process keys with another secret, nothing
-- counted; {-3, counts...}: a repeat, nothing counted; {-1, counts...}: counted;
-- {i, counts}: key i (from 0) is at its limit, nothing counted.
local bucket, span, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local channel, secret, n = ARGV[4], ARGV[5], tonumber(ARGV[7])
local zset, secret_key = KEYS[1], KEYS[2]

-- The secret is shared through this key; a process that still holds it
-- after the key was lost (a restart without persistence) puts it back.
-- (A hash of one field 's': no client ever sends HGET, so INFO commandstats
-- tells a client's GET round trip from this one.)
local shared = redis.call('HGET', secret_key, 's')
if not shared then
  redis.call('HSET', secret_key, 's', secret)
elseif shared ~= secret then
  return {-2, shared}
end
redis.call('EXPIRE', secret_key, ARGV[6])

local found = {}
for i = 1, n do
  local limit = tonumber(ARGV[7 + n + i])
  found[i] = counts(KEYS[2 + i], bucket, span)
  if limit > 0 and total(found[i]) >= limit then
    return {i - 1, found[i]}
  end
end

local once = KEYS[3 + n]
if once then
  if total(counts(once, bucket, span)) > 0 then
    local out = {-3}
    for i = 1, n do out[i + 1] = found[i] end
    return out
  end
  redis.call('HINCRBY', once, bucket, 1)
  redis.call('EXPIRE', once, ttl)
end

local out = {-1}
for i = 1, n do
  local key, name, limit, c = KEYS[2 + i], ARGV[7 + i], tonumber(ARGV[7 + n + i]), found[i]
  redis.call('HINCRBY', key, bucket, 1)
  c[span] = c[span] + 1
  if limit > 0 then
    redis.call('HSET', key, 'l', limit)
  else
    limit = tonumber(redis.call('HGET', key, 'l') or '0')
  end
  redis.call('EXPIRE', key, ttl)
  if limit > 0 and total(c) >= limit then
    redis.call('ZADD', zset, bucket, name)
    redis.call('ZREMRANGEBYSCORE', zset, '-inf', '(' .. tostring(bucket - span + 1))
    redis.call('EXPIRE', zset, ttl)
    announce(name, bucket, c, channel)
  end
  out[i + 1] = c
end
return out
