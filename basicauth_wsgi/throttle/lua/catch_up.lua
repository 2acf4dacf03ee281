-- The newest blocked keys and their fields, for a subscriber that (re)connects.
-- KEYS: the blocked set. ARGV: how many, the count keys' prefix (the same
-- hash tag as the set, so a cluster finds them on this node).
-- Returns {name, {field, value, ...}} for each.
local names = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for i = 1, #names do
  out[i] = {names[i], redis.call('HGETALL', ARGV[2] .. names[i])}
end
return out
