/**
 * The one source of randomness for tests: a seeded PRNG. The seed is
 * TEST_SEED when set, else a random one; either way it is printed, so a
 * failing run can be replayed with `TEST_SEED=<seed> deno test ...`.
 */
import { seededRng } from "../../src/cli/simulate/messages.ts";

let printed: number | undefined;

/** This run's seed (TEST_SEED, else random), printed once per test file. */
export function testSeed(): number {
  const env = Deno.env.get("TEST_SEED");
  let seed: number;
  if (env !== undefined && env.trim() !== "") {
    const n = Number(env);
    if (!Number.isInteger(n)) throw new Error(`TEST_SEED: got ${JSON.stringify(env)}, expected an integer`);
    seed = n >>> 0;
  } else {
    seed = printed ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
  }
  if (printed !== seed) {
    printed = seed;
    // deno-lint-ignore no-console
    console.log(`TEST_SEED=${seed} (set it to replay this run)`);
  }
  return seed;
}

/** A seeded generator of numbers in [0, 1), like Math.random. */
export function seededRandom(seed: number): () => number {
  return seededRng(seed);
}
