// The package names release/lossless.d.ts in its package.json but does not ship it (2.1.2).
declare module 'jpeg-lossless-decoder-js' {
  export class Decoder {
    constructor(buffer?: ArrayBuffer, numBytes?: number);
    /** Decodes one JPEG Lossless (ITU T.81 process 14) codestream; returns the samples' buffer. */
    decompress(buffer: ArrayBuffer, offset: number, length: number): ArrayBuffer;
  }
}
