-- The deployment's secret: this process's candidate unless one is there already.
-- KEYS: the secret (a hash, field 's'). ARGV: the candidate, its ttl.
-- Returns the secret in force.
redis.call('HSETNX', KEYS[1], 's', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return redis.call('HGET', KEYS[1], 's')
