/**
 * References from RT objects to the CT images their slices come from. A single-frame CT image is a
 * slice; a multi-frame (Enhanced CT) image holds many, each named by its ReferencedFrameNumber.
 */
import type { DatasetItem as Item } from '@anatomynet/data';

/** Slice k of a CT series is image sopInstanceUIDs[k], frame frameNumbers[k] when the images are multi-frame. */
export interface SliceImages {
  sopInstanceUIDs: readonly string[];
  frameNumbers?: readonly number[];
}

/** Finds the slice an image reference names. */
export interface SliceLookup {
  /** True when the series holds the image. */
  has(sopInstanceUID: string): boolean;
  /**
   * The slice of the image (and frame); undefined when the series does not hold it, or when a multi-frame
   * image is named without a frame (the reference is to all its frames).
   */
  slice(sopInstanceUID: string, frameNumber?: number): number | undefined;
}

export function sliceLookup(images: SliceImages): SliceLookup {
  const key = (uid: string, frame: number | undefined) => (frame === undefined ? uid : `${uid}\u0000${frame}`);
  const bySlice = new Map<string, number>();
  const frames = images.frameNumbers;
  images.sopInstanceUIDs.forEach((uid, k) => bySlice.set(key(uid, frames?.[k]), k));
  const uids = new Set(images.sopInstanceUIDs);
  return {
    has: (uid) => uids.has(uid),
    slice: (uid, frame) => (frames ? (frame === undefined ? undefined : bySlice.get(key(uid, frame))) : bySlice.get(uid)),
  };
}

/** The Image SOP Instance Reference of slice k: its image, and its frame when the image is multi-frame. */
export function sliceImageReference(images: SliceImages, k: number, sopClassUID: string): Item {
  const frame = images.frameNumbers?.[k];
  return { ReferencedSOPClassUID: sopClassUID, ReferencedSOPInstanceUID: images.sopInstanceUIDs[k], ...(frame === undefined ? {} : { ReferencedFrameNumber: frame }) };
}
