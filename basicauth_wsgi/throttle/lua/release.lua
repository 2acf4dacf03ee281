-- Take one attempt of each key back, and trust a pair (ThrottleStore.release).
-- KEYS: the blocked set, the n count keys, then the trust key if any.
-- ARGV: bucket, span, channel, n, trust until, trust ttl, then the n names.
-- Returns the n keys' counts after the refund; a key left with no count is
-- deleted (a success leaves nothing behind, not even a password's tag).
local bucket, span, channel, n = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local zset = KEYS[1]
local out = {}
for i = 1, n do
  local key, name = KEYS[1 + i], ARGV[6 + i]
  local left = tonumber(redis.call('HGET', key, bucket) or '0')
  if left > 1 then
    redis.call('HINCRBY', key, bucket, -1)
  elseif left == 1 then
    redis.call('HDEL', key, bucket)
  end
  local c = counts(key, bucket, span)
  local limit = tonumber(redis.call('HGET', key, 'l') or '0')
  if total(c) == 0 then redis.call('DEL', key) end
  if redis.call('ZSCORE', zset, name) then
    -- It was announced as blocked: tell every process its new counts.
    if total(c) < limit then redis.call('ZREM', zset, name) end
    announce(name, bucket, c, channel)
  end
  out[i] = c
end
if #KEYS > n + 1 then
  redis.call('SET', KEYS[n + 2], ARGV[5], 'EX', ARGV[6])
end
return out
