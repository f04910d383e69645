/** Key slots and slot groups (pure; the cluster test checks them against a real server too). */
import assert from "node:assert/strict";
import { groupBySlot, keySlot } from "../../src/source/slot.ts";

Deno.test("keySlot: CRC16 modulo 16384, of the hash tag when there is one (values from CLUSTER KEYSLOT)", async (t) => {
  const cases: [string, number][] = [
    ["123456789", 12739], // 0x31C3, the CRC16/XMODEM check value
    ["foo", 12182],
    ["", 0],
    ["foo{}{bar}", 8363], // an empty first tag: the whole key
    ["foo{{bar}}zap", 4015], // the tag runs from the first { to the next }: "{bar"
    ["foo{bar}{zap}", 5061], // only the first tag counts: "bar"
    ["a{}b", 13694],
    ["{}", 15257],
    ["{a", 10276], // no closing brace: the whole key
    ["\u00fc-key", 11254], // UTF-8 bytes, not UTF-16 code units
    ["\u00e9", 10180],
  ];
  for (const [key, slot] of cases) {
    await t.step(JSON.stringify(key), () => assert.equal(keySlot(key), slot));
  }
  await t.step("keys sharing a hash tag share a slot", () => {
    assert.equal(keySlot("{user1000}.following"), keySlot("{user1000}.followers"));
    assert.equal(keySlot("{user1000}.following"), keySlot("user1000"));
  });
});

Deno.test("groupBySlot: keys sharing a slot go together, in order; others apart", () => {
  const keys = ["{a}1", "b", "{a}2", "c", "{a}3"];
  const groups = groupBySlot(keys);
  assert.deepEqual(groups.find((g) => g.includes("{a}1")), ["{a}1", "{a}2", "{a}3"]);
  assert.equal(groups.flat().length, keys.length);
  for (const g of groups) assert.equal(new Set(g.map(keySlot)).size, 1);
});
