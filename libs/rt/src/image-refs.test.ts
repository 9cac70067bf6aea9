import { describe, expect, it } from 'vitest';
import { sliceImageReference, sliceLookup } from './image-refs';

describe('sliceLookup / sliceImageReference', () => {
  it('single-frame images: a slice per SOP instance; the reference names the image alone', () => {
    const images = { sopInstanceUIDs: ['1.1', '1.2', '1.3'] };
    const look = sliceLookup(images);
    expect([look.slice('1.3'), look.slice('1.1'), look.slice('9.9')]).toEqual([2, 0, undefined]);
    expect([look.has('1.2'), look.has('9.9')]).toEqual([true, false]);
    expect(sliceImageReference(images, 1, '1.2.840.10008.5.1.4.1.1.2')).toEqual({ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: '1.2' });
  });
  it('multi-frame images: a slice per frame, frames in any order, over two instances; no frame names no single slice', () => {
    const images = { sopInstanceUIDs: ['5.1', '5.2', '5.1', '5.2'], frameNumbers: [2, 1, 1, 2] };
    const look = sliceLookup(images);
    expect([look.slice('5.1', 1), look.slice('5.1', 2), look.slice('5.2', 1), look.slice('5.2', 2)]).toEqual([2, 0, 1, 3]);
    expect([look.slice('5.1'), look.slice('5.1', 3), look.has('5.2'), look.has('5.3')]).toEqual([undefined, undefined, true, false]);
    expect(sliceImageReference(images, 2, '1.2.840.10008.5.1.4.1.1.2.1')).toEqual({ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2.1', ReferencedSOPInstanceUID: '5.1', ReferencedFrameNumber: 1 });
  });
});
