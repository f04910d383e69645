/** Key slots and slot groups (pure; the cluster test checks them against a real server too). */
import assert from "node:assert/strict";
import { groupBySlot, keySlot } from "../src/source/slot.ts";

Deno.test("keySlot: CRC16 modulo 16384, of the hash tag when there is one", async (t) => {
  const cases: [string, number][] = [
    ["123456789", 0x31c3], // the CRC16/XMODEM check value
    ["foo", 12182],
    ["", 0],
    ["{user1000}.following", keySlot("user1000")],
    ["{user1000}.followers", keySlot("user1000")],
    ["foo{}{bar}", keySlot("foo{}{bar}")], // an empty tag means the whole key
    ["foo{{bar}}zap", keySlot("{bar")], // the tag runs from the first { to the next }
    ["foo{bar}{zap}", keySlot("bar")],
  ];
  for (const [key, slot] of cases) {
    await t.step(JSON.stringify(key), () => assert.equal(keySlot(key), slot));
  }
  await t.step("an empty tag hashes the whole key, not the empty string", () => {
    assert.notEqual(keySlot("a{}b"), keySlot(""));
  });
  await t.step("UTF-8 bytes, not UTF-16 code units", () => {
    assert.notEqual(keySlot("é"), keySlot("\u00e9".normalize("NFD")));
    assert.ok(keySlot("ü-key") >= 0 && keySlot("ü-key") < 16384);
  });
});

Deno.test("groupBySlot: keys sharing a slot go together, in order; others apart", () => {
  const keys = ["{a}1", "b", "{a}2", "c", "{a}3"];
  const groups = groupBySlot(keys);
  assert.deepEqual(groups.find((g) => g.includes("{a}1")), ["{a}1", "{a}2", "{a}3"]);
  assert.equal(groups.flat().length, keys.length);
  for (const g of groups) assert.equal(new Set(g.map(keySlot)).size, 1);
});
