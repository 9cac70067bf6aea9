import { writeFileAtomic } from '../src/fileio';
import { writeFileSync } from 'node:fs';
const b = new Uint8Array(30_000_000).map((_, i) => (i * 7) & 255);
for (let r = 0; r < 2; r++) {
let t0 = performance.now(); writeFileAtomic('/tmp/dtest/x.bin', b); console.log('atomic', ((performance.now() - t0) / 1000).toFixed(3));
t0 = performance.now(); writeFileSync('/tmp/dtest/y.bin', b); console.log('plain', ((performance.now() - t0) / 1000).toFixed(3));
}
