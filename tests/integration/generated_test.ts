/**
 * The files generated from the settings table (.env.example, the reference in
 * docs/configuration.md, service.flags) are up to date: change a setting and
 * this fails until `deno task gen` has been run.
 */
import assert from "node:assert/strict";
import { allowedEnv, renderEnvExample, renderFlags, staleFiles } from "../../tools/gen_config.ts";
import { SETTING_LIST } from "../../src/config/settings.ts";

Deno.test("generated files match the settings table (run deno task gen when this fails)", async () => {
  assert.deepEqual(await staleFiles(), []);
});

Deno.test("every setting appears in .env.example, and its env name in the flags", () => {
  const example = renderEnvExample();
  const flags = renderFlags();
  for (const s of SETTING_LIST) {
    assert.match(example, new RegExp(`^# ${s.env}=`, "m"), `${s.env} in .env.example`);
    assert.ok(allowedEnv().includes(s.env), `${s.env} allowed`);
    assert.ok(flags.includes(s.env), `${s.env} in service.flags`);
  }
});

Deno.test("every setting has a description and says what it accepts", () => {
  for (const s of SETTING_LIST) {
    assert.ok(s.doc.length > 10, `${s.env} is described`);
    assert.ok(s.expected.length > 0, `${s.env} says what it accepts`);
    assert.match(s.env, /^[A-Z][A-Z0-9_]*$/, `${s.env} is an environment name`);
  }
  const names = SETTING_LIST.flatMap((s) => [s.env, ...(s.aliases ?? []).map((a) => a.env)]);
  assert.equal(new Set(names).size, names.length, "no name is used twice");
});
