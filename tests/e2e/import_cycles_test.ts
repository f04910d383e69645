/**
 * No import cycles among the project's modules: the graph `deno info --json
 * main.ts` reports (value and type imports alike, npm packages left out) must
 * be acyclic. A failure names one cycle, module by module.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
}

/** The project's import graph: module → the project modules it imports. */
async function importGraph(entry: string): Promise<Map<string, string[]>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
  const ours = (s: string | undefined): s is string => s !== undefined && s.startsWith(ROOT.href);
  const graph = new Map<string, string[]>();
  for (const m of info.modules) {
    if (!ours(m.specifier)) continue;
    const deps = (m.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier]).filter(ours);
    graph.set(m.specifier, [...new Set(deps)]);
  }
  return graph;
}

/** One cycle of `graph` as a path that starts and ends with the same module, or `undefined`. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, "open");
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") return [...path.slice(path.indexOf(next)), next];
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    if (state.has(node)) continue;
    const found = visit(node);
    if (found) return found;
  }
  return undefined;
}

Deno.test("findCycle finds a cycle and accepts a graph without one", () => {
  assert.equal(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", []]])), undefined);
  assert.deepEqual(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["b"]]])), ["b", "c", "b"]);
  assert.deepEqual(findCycle(new Map([["a", ["a"]]])), ["a", "a"]);
});

Deno.test("no import cycles among the modules main.ts loads", async () => {
  const graph = await importGraph("main.ts");
  assert.ok(graph.size > 20, `expected the whole program, got ${graph.size} modules`);
  const cycle = findCycle(graph);
  assert.equal(
    cycle,
    undefined,
    `import cycle: ${cycle?.map((s) => s.slice(ROOT.href.length)).join(" → ")}`,
  );
});
