-- Shared by reserve.lua and release.lua (prepended to each): a key is a
-- hash whose fields are bucket numbers (and 'l', the limit last asked for it).

-- The counts of `key` over the span ending at `bucket`, oldest first,
-- dropping fields older than the span. A field from a later bucket (another
-- host whose clock runs ahead) counts as the newest.
local function counts(key, bucket, span)
  local flat = redis.call('HGETALL', key)
  local c = {}
  for j = 1, span do c[j] = 0 end
  local oldest = bucket - span + 1
  local stale = {}
  for j = 1, #flat, 2 do
    local b = tonumber(flat[j])
    if b ~= nil then
      if b < oldest then
        stale[#stale + 1] = flat[j]
      elseif b <= bucket then
        c[b - oldest + 1] = c[b - oldest + 1] + tonumber(flat[j + 1])
      else
        c[span] = c[span] + tonumber(flat[j + 1])
      end
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  return c
end

local function total(c)
  local s = 0
  for j = 1, #c do s = s + c[j] end
  return s
end

-- Tell every process a key's counts (it reached its limit, or left it).
local function announce(name, bucket, c, channel)
  redis.call('PUBLISH', channel, name .. '\n' .. bucket .. '\n' .. table.concat(c, ','))
end
