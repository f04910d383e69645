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

/**
 * Keeps this consumer's in-flight entries fresh: of the ids ARGV[3..] on
 * stream KEYS[1], those still pending for consumer ARGV[2] of group ARGV[1]
 * are claimed again by it with XCLAIM … JUSTID, which resets their idle time
 * (and leaves their delivery count alone). Entries acknowledged meanwhile, or
 * already taken by another consumer, are left alone. Returns how many.
 */
export const KEEP_OWN = `
local mine = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p > 0 then mine[#mine + 1] = ARGV[i] end
end
local i = 1
while i <= #mine do
  local j = math.min(i + 3999, #mine)
  -- Not XCLAIM(..., unpack(ids), 'JUSTID'): in the middle of an argument list unpack() keeps one value.
  local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
  for k = i, j do args[#args + 1] = mine[k] end
  args[#args + 1] = 'JUSTID'
  redis.call(unpack(args))
  i = j + 1
end
return #mine`;
