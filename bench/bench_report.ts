/**
 * The bench's printed table and JSON figures: per layout, the COPY ceiling
 * and each variant's drains against it (medians over rounds).
 */
import { printLine } from "../src/log.ts";
import { median } from "./bench_data.ts";
import type { CpuPerRow, Variant } from "./bench_runs.ts";

/** Figures as printed: whole numbers with thousands separators, one or two decimals; "–" when unmeasured. */
export const f0 = (n: number) => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
export const f1 = (n: number) => Number.isFinite(n) ? n.toFixed(1) : "–";
export const f2 = (n: number) => Number.isFinite(n) ? n.toFixed(2) : "–";

/** Prints `rows` as aligned columns, the first row the header. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) printLine(r.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ").trimEnd());
}

export interface DrainResult {
  rowsPerSec: number;
  seconds: number;
  peakRssMb: number;
  cpu: CpuPerRow;
}

/** Medians over rounds of each measure. */
function summarise(runs: DrainResult[]) {
  const m = (f: (r: DrainResult) => number) => median(runs.map(f));
  return {
    rowsPerSec: m((r) => r.rowsPerSec),
    peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
    cpu: { service: m((r) => r.cpu.service), redis: m((r) => r.cpu.redis), postgres: m((r) => r.cpu.postgres) },
    runs,
  };
}

/**
 * Appends to `rows` the ceiling (the fastest of `ceilings`) and each variant's
 * drains against it; returns the same figures for the JSON result.
 */
export function report(
  rows: string[][],
  prefix: string,
  ceilings: { rowsPerSec: number; postgresUsPerRow: number }[],
  variants: [Variant, DrainResult[]][],
): Record<string, unknown> {
  const best = ceilings.reduce((a, b) => (b.rowsPerSec > a.rowsPerSec ? b : a));
  const copyPg = median(ceilings.map((c) => c.postgresUsPerRow));
  const runs = `runs: ${ceilings.map((c) => f0(c.rowsPerSec)).join(", ")}`;
  rows.push([
    `${prefix}COPY ceiling (one connection)`,
    f0(best.rowsPerSec),
    "1.00",
    "",
    "",
    f2(copyPg),
    f2(copyPg),
    "",
    runs,
  ]);
  const out: Record<string, unknown> = { copy_ceiling: { best: best.rowsPerSec, runs: ceilings } };
  for (const [v, drains] of variants) {
    const s = summarise(drains);
    const total = s.cpu.service + s.cpu.redis + s.cpu.postgres;
    const bound = (2 * copyPg) / total;
    rows.push([
      `${prefix}end to end, ${v.name}`,
      f0(s.rowsPerSec),
      f2(s.rowsPerSec / best.rowsPerSec),
      f2(s.cpu.service),
      f2(s.cpu.redis),
      f2(s.cpu.postgres),
      f2(total),
      f2(bound),
      `${f0(s.peakRssMb)} MB`,
    ]);
    out[v.name] = { ...s, ratio: s.rowsPerSec / best.rowsPerSec, totalUsPerRow: total, bound, v8: v.v8Flags };
  }
  return out;
}
