/** The Lua scripts the source runs inside Redis, each one atomic step. */

/**
 * XACK for several streams: KEYS are the streams, ARGV[1] the group, then for
 * each stream its number of ids followed by the ids. Ids go to XACK in slices,
 * since Lua's unpack() fails beyond about 8000 values.
 */
export const ACK_ALL = `
local a = 2
for k = 1, #KEYS do
  local last = a + tonumber(ARGV[a])
  local i = a + 1
  while i <= last do
    local j = math.min(i + 3999, last)
    redis.call('XACK', KEYS[k], ARGV[1], unpack(ARGV, i, j))
    i = j + 1
  end
  a = last + 1
end
return 1`;

/**
 * Deletes consumer ARGV[2] of group ARGV[1] on stream KEYS[1] only if it has
 * nothing pending and has been idle longer than ARGV[3] ms; returns 1 if deleted.
 */
export const REMOVE_IF_IDLE_AND_EMPTY = `
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] == ARGV[2] then
    if f['pending'] == 0 and f['idle'] > tonumber(ARGV[3]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
    return 0
  end
end
return 0`;
