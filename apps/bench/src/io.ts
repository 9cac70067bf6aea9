/**
 * I/O benchmark: writes a synthetic CT series (default 512x512x200) with writeCtSeries, then times
 * scanDicomTree + readCtSeries and writing the volume as .nii.gz. Prints one JSON object (seconds).
 * With --codecs, the series is also compressed slice by slice as PACS export it (dcmtk's RLE, JPEG
 * Lossless and JPEG-LS, GDCM's JPEG 2000, OpenJPH's HTJ2K; each only where its tool is installed) and
 * each read is timed.
 * With --enhanced, the volume is also written as one Enhanced CT file and its scan + read timed.
 *   npm run bench:io -- [--nx 512 --ny 512 --nz 200 --gzip-level 2 --repeat 1 --codecs --enhanced --keep]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_GZIP_LEVEL, readCtSeries, readNifti, scanDicomTree, TS_HTJ2K_LOSSLESS, uidFromSeed, writeCtSeries, writeEnhancedCt, writeNifti, type Volume } from '@anatomynet/data';
import { htj2kSlice } from '@anatomynet/data/testing';

/** A head-and-neck-like phantom in HU: air, an elliptical body with noise, a bone ring. */
function phantom(nx: number, ny: number, nz: number): Volume<Int16Array> {
  const data = new Int16Array(nx * ny * nz);
  let seed = 12345;
  for (let k = 0; k < nz; k++) {
    const rz = 1 - 0.3 * Math.abs(k / nz - 0.5);
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const x = (i - nx / 2) / (0.42 * nx * rz), y = (j - ny / 2) / (0.36 * ny * rz);
        const r = Math.hypot(x, y);
        seed = (seed * 1103515245 + 12345) >>> 0;
        const noise = ((seed >>> 16) % 41) - 20;
        data[i + nx * (j + ny * k)] = r > 1 ? -1000 + (noise >> 2) : r > 0.9 ? 700 + noise * 3 : 40 + noise;
      }
    }
  }
  return { data, shape: [nx, ny, nz], spacing: [0.98, 0.98, 2.5], origin: [-250, -250, -400], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Wall and CPU seconds of `f` (CPU shows the cost when other processes share the cores). */
function timed<T>(f: () => T): { value: T; wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = f();
  const c = process.cpuUsage(c0);
  return { value, wall: seconds(t0), cpu: (c.user + c.system) / 1e6 };
}

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('bench:io')
    .usage('$0 [options]\n\nTimes CT series write/scan/read and .nii.gz write; prints JSON (seconds).')
    .option('nx', { type: 'number', default: 512, describe: 'columns' })
    .option('ny', { type: 'number', default: 512, describe: 'rows' })
    .option('nz', { type: 'number', default: 200, describe: 'slices' })
    .option('gzip-level', { type: 'number', default: DEFAULT_GZIP_LEVEL, describe: 'gzip level for the .nii.gz write (1 fastest .. 9 smallest)' })
    .option('repeat', { type: 'number', default: 1, describe: 'timed repetitions (best is reported)' })
    .option('codecs', { type: 'boolean', default: false, describe: 'also time reading the series compressed (RLE, JPEG Lossless, JPEG-LS, JPEG 2000, HTJ2K; needs dcmtk, GDCM\'s gdcmconv and OpenJPH\'s ojph_compress)' })
    .option('enhanced', { type: 'boolean', default: false, describe: 'also write the volume as one Enhanced CT (multi-frame) file and time its scan + read' })
    .option('keep', { type: 'boolean', default: false, describe: 'keep the temp folder' })
    .strict()
    .help()
    .parseAsync();

  const dir = mkdtempSync(join(tmpdir(), 'anatomynet-bench-io-'));
  try {
    const volume = phantom(argv.nx, argv.ny, argv.nz);
    const series = {
      seriesInstanceUID: uidFromSeed('2.25', 'bench', 'series'),
      studyInstanceUID: uidFromSeed('2.25', 'bench', 'study'),
      frameOfReferenceUID: uidFromSeed('2.25', 'bench', 'for'),
      patientId: 'BENCH',
      patientName: 'Bench^IO',
    };
    const write = timed(() => writeCtSeries(volume, { dir: join(dir, 'ct'), ...series }));
    type Step = { wall: number; cpu: number };
    const best: Record<'scan' | 'read' | 'writeNii' | 'readNii', Step> = {
      scan: { wall: Infinity, cpu: Infinity },
      read: { wall: Infinity, cpu: Infinity },
      writeNii: { wall: Infinity, cpu: Infinity },
      readNii: { wall: Infinity, cpu: Infinity },
    };
    const keep = (k: keyof typeof best, t: Step) => {
      if (t.wall < best[k].wall) best[k] = { wall: t.wall, cpu: t.cpu };
    };
    let bytes = 0;
    const nii = join(dir, 'ct.nii.gz');
    for (let r = 0; r < argv.repeat; r++) {
      const scan = timed(() => scanDicomTree(join(dir, 'ct')));
      keep('scan', scan);
      const ct = timed(() => readCtSeries(scan.value.ctSeries[0].files));
      keep('read', ct);
      const v = ct.value.volume;
      if (v.data.length !== volume.data.length || v.data[123457] !== volume.data[123457]) throw new Error('read back differs');
      keep('writeNii', timed(() => writeNifti(nii, v, { gzipLevel: argv['gzip-level'] })));
      bytes = statSync(nii).size;
      keep('readNii', timed(() => readNifti(nii)));
    }
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const step = (t: Step) => ({ wallS: r3(t.wall), cpuS: r3(t.cpu) });
    const compressedReads = argv.codecs ? timeCompressedReads(write.value.files, volume, dir, argv.repeat, r3) : undefined;
    const enhanced = argv.enhanced ? timeEnhanced(volume, join(dir, 'enhanced'), series, argv.repeat, r3) : undefined;
    console.log(
      JSON.stringify(
        {
          shape: volume.shape,
          gzipLevel: argv['gzip-level'],
          writeCtSeries: step(write),
          scanDicomTree: step(best.scan),
          readCtSeries: step(best.read),
          scanPlusReadS: r3(best.scan.wall + best.read.wall),
          writeNiiGz: step(best.writeNii),
          readNiiGz: step(best.readNii),
          niiGzMB: r3(bytes / 1e6),
          rawMB: r3(volume.data.byteLength / 1e6),
          ...(compressedReads ? { compressedReads } : {}),
          ...(enhanced ? { enhancedCt: enhanced } : {}),
          targets: { scanPlusReadS: 3, writeNiiGzS: 5 },
          loadAverage1m: r3(loadavg()[0]),
        },
        null,
        2,
      ),
    );
  } finally {
    if (!argv.keep) rmSync(dir, { recursive: true, force: true });
    else console.error(`kept ${dir}`);
  }
}

/** A slice compressed by a command-line tool (`tool [args] from to`); '' or why it failed. */
function byTool(tool: string, args: string[]): (from: string, to: string) => string {
  return (from, to) => {
    const r = spawnSync(tool, [...args, from, to], { encoding: 'utf8' });
    return r.status === 0 ? '' : r.error ? `${tool} not found` : `${tool} failed: ${(r.stderr || '').trim().slice(0, 120)}`;
  };
}

const CODECS: { name: string; compress: (from: string, to: string) => string }[] = [
  { name: 'rle', compress: byTool('dcmcrle', []) },
  { name: 'jpegLossless', compress: byTool('dcmcjpeg', ['+e1']) },
  { name: 'jpegLs', compress: byTool('dcmcjpls', []) },
  { name: 'jpeg2000', compress: byTool('gdcmconv', ['--j2k']) },
  {
    name: 'htj2k',
    compress: (from, to) => {
      try {
        htj2kSlice(from, to, TS_HTJ2K_LOSSLESS);
        return '';
      } catch (e) {
        return (e as Error).message.slice(0, 120);
      }
    },
  },
];

/** readCtSeries of the series compressed by each codec's tool (best of `repeat`), checked against the volume. */
function timeCompressedReads(files: string[], volume: Volume<Int16Array>, dir: string, repeat: number, r3: (x: number) => number) {
  const out: Record<string, { wallS: number; msPerSlice: number; mb: number } | string> = {};
  for (const c of CODECS) {
    const folder = join(dir, c.name);
    mkdirSync(folder, { recursive: true });
    const compressed: string[] = [];
    let failed = '';
    for (const [k, f] of files.entries()) {
      const to = join(folder, `s${k}.dcm`);
      failed = c.compress(f, to);
      if (failed) break;
      compressed.push(to);
    }
    if (failed) {
      out[c.name] = failed;
      continue;
    }
    let wall = Infinity;
    for (let i = 0; i < repeat + 1; i++) {
      // the first read compiles the WebAssembly decoders: not counted
      const t = timed(() => readCtSeries(compressed));
      if (t.value.volume.data[123457] !== volume.data[123457]) throw new Error(`${c.name}: read back differs`);
      if (i > 0) wall = Math.min(wall, t.wall);
    }
    const mb = compressed.reduce((a, f) => a + statSync(f).size, 0) / 1e6;
    out[c.name] = { wallS: r3(wall), msPerSlice: r3((1000 * wall) / files.length), mb: r3(mb) };
  }
  return out;
}

/** Writes the volume as one Enhanced CT file, then times scanDicomTree + readCtSeries of it (best of `repeat`). */
function timeEnhanced(volume: Volume<Int16Array>, dir: string, series: Omit<Parameters<typeof writeEnhancedCt>[1], 'dir'>, repeat: number, r3: (x: number) => number) {
  mkdirSync(dir, { recursive: true });
  const write = timed(() => writeEnhancedCt(volume, { dir, ...series }));
  let best = { scan: Infinity, read: Infinity };
  for (let i = 0; i < repeat; i++) {
    const scan = timed(() => scanDicomTree(dir));
    const read = timed(() => readCtSeries(scan.value.ctSeries[0].files));
    if (read.value.volume.data[123457] !== volume.data[123457]) throw new Error('Enhanced CT: read back differs');
    if (scan.wall + read.wall < best.scan + best.read) best = { scan: scan.wall, read: read.wall };
  }
  return { writeS: r3(write.wall), scanS: r3(best.scan), readS: r3(best.read), scanPlusReadS: r3(best.scan + best.read), mb: r3(statSync(write.value.files[0]).size / 1e6) };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
