/** Test fixtures of @anatomynet/training (import '@anatomynet/training/testing'): a tiny dataset and a tiny grid. */
export { writeTinyDataset, type TinyDatasetOptions } from './tiny-dataset';
export { tinyGrid, writeTinyGrid, TINY_GRID_BASE, TINY_GRID_ROWS } from './tiny-grid';
