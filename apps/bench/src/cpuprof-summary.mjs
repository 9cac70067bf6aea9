#!/usr/bin/env node
// Summarises V8 CPU profiles (node --cpu-prof): self time by function, largest first, and the shares of
// idle (waiting on the GPU or I/O), garbage collection and the rest. Plain JavaScript, so the packed
// node on the GPU machine runs it without a build: node cpuprof-summary.mjs FILE.cpuprofile... [--top N]
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 40;
if (!args.length || args.includes('--help')) {
  console.log('usage: node cpuprof-summary.mjs FILE.cpuprofile... [--top N]\nSelf time per function over the given V8 CPU profiles.');
  process.exit(args.length ? 0 : 2);
}

const selfMs = new Map();
let totalMs = 0;
for (const file of args) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const { samples, timeDeltas } = profile;
  // timeDeltas[i + 1] is the time from sample i to the next: sample i's share
  for (let i = 0; i < samples.length; i++) {
    const ms = (timeDeltas[i + 1] ?? 0) / 1000;
    const f = byId.get(samples[i]).callFrame;
    const where = f.url ? ` ${basename(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}${where}`;
    selfMs.set(key, (selfMs.get(key) ?? 0) + ms);
    totalMs += ms;
  }
}

const share = (ms) => `${((100 * ms) / totalMs).toFixed(1)}%`;
const named = (name) => selfMs.get(name) ?? 0;
console.log(`profiled ${(totalMs / 1000).toFixed(2)} s over ${args.length} profile(s): idle ${share(named('(idle)'))}, ` +
  `garbage collector ${share(named('(garbage collector)'))}, program ${share(named('(program)'))}`);
const rows = [...selfMs.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
for (const [key, ms] of rows) console.log(`${ms.toFixed(1).padStart(10)} ms ${share(ms).padStart(6)}  ${key}`);
