/**
 * Seeded damage of valid file bytes for mutation tests of the readers (here and in libs/rt): the classes
 * ROBUSTNESS.md names (out-of-bounds reads, huge declared lengths and dimensions, loops that stop
 * advancing, gzip damage) come from flipped bits, length-sized words set to extremes, cuts and repeats.
 */
import { mulberry32, type Rng } from '@anatomynet/random';

const EXTREMES = [0xffffffff, 0x7fffffff, 0x80000000, 0, 0xfffffffe, 0x10000];

/** One damage of `bytes`, chosen by `rng`; the name says what was done, for the failure message. */
export function mutate(bytes: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const at = (n = bytes.length) => Math.floor(rng() * n);
  const kind = at(5);
  const out = Uint8Array.from(bytes);
  if (kind === 0) {
    const flips = 1 + at(8);
    for (let i = 0; i < flips; i++) out[at()] ^= 1 << at(8);
    return { bytes: out, what: `${flips} bits flipped` };
  }
  if (kind === 1) {
    // a 32-bit word set to an extreme: lengths, dimensions, offsets
    const pos = at(bytes.length - 4);
    const v = EXTREMES[at(EXTREMES.length)];
    new DataView(out.buffer).setUint32(pos, v, rng() < 0.5);
    return { bytes: out, what: `word at ${pos} = 0x${v.toString(16)}` };
  }
  if (kind === 2) {
    const len = at();
    return { bytes: bytes.slice(0, len), what: `cut to ${len} bytes` };
  }
  if (kind === 3) {
    // a 16-bit word set to an extreme: DICOM VRs' short lengths, NIfTI dims and datatypes
    const pos = at(bytes.length - 2);
    const v = [0xffff, 0x7fff, 0x8000, 0][at(4)];
    new DataView(out.buffer).setUint16(pos, v, true);
    return { bytes: out, what: `16-bit word at ${pos} = 0x${v.toString(16)}` };
  }
  const from = at(), len = 1 + at(64);
  const chunk = bytes.slice(from, from + len);
  const pos = at();
  const grown = new Uint8Array(bytes.length + chunk.length);
  grown.set(bytes.subarray(0, pos));
  grown.set(chunk, pos);
  grown.set(bytes.subarray(pos), pos + chunk.length);
  return { bytes: grown, what: `${chunk.length} bytes from ${from} repeated at ${pos}` };
}

export interface MutationSurvey {
  /** Each damaged copy whose outcome was neither a consistent read nor an accepted refusal, with what was done. */
  bad: string[];
  read: number;
  refused: number;
}

/**
 * Reads `count` damaged copies of `bytes` (seeded): each must read into something `inconsistency` finds
 * nothing wrong with, or throw an error `isRefusal` accepts (the reader's typed error naming the file).
 */
export function surveyMutations<T>(
  bytes: Uint8Array,
  seed: number,
  count: number,
  read: (damaged: Uint8Array) => T,
  isRefusal: (e: unknown) => boolean,
  inconsistency: (value: T) => string | undefined = () => undefined,
): MutationSurvey {
  const rng = mulberry32(seed);
  const out: MutationSurvey = { bad: [], read: 0, refused: 0 };
  for (let i = 0; i < count; i++) {
    const { bytes: damaged, what } = mutate(bytes, rng);
    try {
      const wrong = inconsistency(read(damaged));
      if (wrong) out.bad.push(`#${i} ${what}: ${wrong}`);
      else out.read++;
    } catch (e) {
      if (isRefusal(e)) out.refused++;
      else out.bad.push(`#${i} ${what}: ${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}
