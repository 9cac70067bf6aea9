/** SHA-256 of files and strings, and the SHA256SUMS format (`<hex>  <relative path>`, sorted). */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { compareStrings } from './names';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** One digest of many labelled digests, independent of the order they are given in. */
export function combineDigests(entries: Iterable<[string, string]>): string {
  const lines = [...entries].map(([k, v]) => `${v}  ${k}`).sort(compareStrings);
  return sha256Hex(lines.join('\n') + '\n');
}

export function formatSha256Sums(entries: Iterable<[path: string, hex: string]>): string {
  return [...entries]
    .sort((a, b) => compareStrings(a[0], b[0]))
    .map(([p, h]) => `${h}  ${p}\n`)
    .join('');
}

/** Parse SHA256SUMS text; throws on a malformed line (1-based line number in the message). */
export function parseSha256Sums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new Error(`SHA256SUMS line ${i + 1} is malformed`);
    out.set(m[2], m[1]);
  });
  return out;
}
