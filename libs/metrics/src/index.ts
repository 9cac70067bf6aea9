export type { Box3, Shape3, SpacingMm, VoxelValues } from './types.js';
export { type ConfusionCounts, dice, diceFromCounts, confusionCounts } from './overlap.js';
export { boundingBox, labelBoundingBoxes, unionBox, expandBox, boxShape, cropMask } from './bbox.js';
export { squaredDistanceTransformMm, squaredDistance1d } from './edt.js';
export { type SurfaceDistances, type SurfaceOptions, surfaceDistances } from './surface.js';
export { type MeanSurfaceDistanceMm, hausdorff, meanSurfaceDistance, surfaceDiceAtTolerance, directedPercentileMm } from './surface-metrics.js';
export { type LabelMetrics, type EvaluateOptions, evaluateLabels } from './evaluate.js';
export { type Connectivity, type Components, connectedComponents, largestConnectedComponent } from './components.js';
export { type MetricRow, type MetricSummary, MetricAccumulator, summarize } from './accumulator.js';
