export { mulberry32, mulberry32Open, uniform, uniformValues, deriveSeed, type Rng } from './random';
