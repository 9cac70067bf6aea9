// Minimal typings for the parts of dcmjs 0.52.2 this library uses (the package ships none).
declare module 'dcmjs' {
  type Dict = Record<string, { vr: string; Value?: unknown[]; _rawValue?: unknown }>;
  class DicomDict {
    constructor(meta: Dict);
    meta: Dict;
    dict: Dict;
    write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
  }
  const dcmjs: {
    data: {
      DicomDict: typeof DicomDict;
      DicomMessage: {
        readFile(
          buffer: ArrayBuffer,
          options?: { ignoreErrors?: boolean; untilTag?: string | null; includeUntilTagValue?: boolean; noCopy?: boolean; forceStoreRaw?: boolean },
        ): DicomDict;
      };
      DicomMetaDictionary: {
        naturalizeDataset(dict: Dict): Record<string, any>;
        denaturalizeDataset(dataset: Record<string, any>): Dict;
      };
    };
    log: { setLevel(level: string): void; getLevel(): number; getLogger(name: string): { setLevel(level: string): void } };
  };
  export default dcmjs;
}
