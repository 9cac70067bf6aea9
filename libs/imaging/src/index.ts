/**
 * @anatomynet/imaging: pictures of CT and label volumes for people to judge contours by (the report's
 * overlays, the curator's annotation review). Pure functions of typed arrays, and a PNG encoder.
 */
export { type Voxels, toRadiologicalView } from './orientation';
export { type OverlayInput, type Overlay, largestAreaSlice, renderLabelSlice, renderOverlay } from './overlay';
export { coronalProjection } from './projection';
export { crc32, encodePngRgb, pngDataUri } from './png';
