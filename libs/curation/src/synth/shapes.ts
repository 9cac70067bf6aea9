/**
 * Analytic solids in patient space (LPS, mm): the phantom's anatomy is built from these, so the same
 * patient can be sampled on any grid. A shape answers point membership and gives a bounding box
 * (which keeps rasterising cheap: only voxels inside the box are tested).
 */
import type { Mat3, Vec3 } from '@anatomynet/data';

/** Axis-aligned box in LPS mm; infinite sides are allowed for half-spaces. */
export interface Box {
  min: Vec3;
  max: Vec3;
}

export interface Shape {
  readonly bounds: Box;
  /** True if the LPS point (mm) lies inside. */
  contains(x: number, y: number, z: number): boolean;
  /**
   * The parameters [t0, t1] of the line `o + t d` that may lie inside: exact for convex shapes
   * (`convex`), a superset otherwise; null when the line misses. Rasterising fills or tests only this
   * range of each grid row, which is what keeps whole-body phantoms fast.
   */
  lineRange(o: Vec3, d: Vec3): Range | null;
  /** True when lineRange is exact (every t in range is inside). */
  readonly convex: boolean;
}

export type Range = [number, number];

/** Slab test of a line against an axis-aligned box. */
export function boxLineRange(b: Box, o: Vec3, d: Vec3): Range | null {
  let t0 = -Infinity, t1 = Infinity;
  for (let a = 0; a < 3; a++) {
    const lo = b.min[a]!, hi = b.max[a]!, oa = o[a]!, da = d[a]!;
    if (Math.abs(da) < 1e-12) {
      if (oa < lo || oa > hi) return null;
      continue;
    }
    let ta = (lo - oa) / da, tb = (hi - oa) / da;
    if (ta > tb) [ta, tb] = [tb, ta];
    if (ta > t0) t0 = ta;
    if (tb < t1) t1 = tb;
    if (t0 > t1) return null;
  }
  return [t0, t1];
}

/** Roots of |q0 + t qd|^2 <= 1 restricted to given components (a quadric range), or null. */
function quadricRange(q0: number[], qd: number[]): Range | null {
  let A = 0, B = 0, C = -1;
  for (let i = 0; i < q0.length; i++) {
    A += qd[i]! * qd[i]!;
    B += 2 * q0[i]! * qd[i]!;
    C += q0[i]! * q0[i]!;
  }
  if (A < 1e-18) return C <= 0 ? [-Infinity, Infinity] : null;
  const disc = B * B - 4 * A * C;
  if (disc < 0) return null;
  const r = Math.sqrt(disc);
  return [(-B - r) / (2 * A), (-B + r) / (2 * A)];
}

function intersectRanges(a: Range | null, b: Range | null): Range | null {
  if (!a || !b) return null;
  const r: Range = [Math.max(a[0], b[0]), Math.min(a[1], b[1])];
  return r[0] <= r[1] ? r : null;
}

// ---------- small 3x3 algebra (row-major, as the Volume contract) ----------

export const I3: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function matMul(a: Mat3, b: Mat3): Mat3 {
  const m = new Array(9).fill(0) as Mat3;
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      m[r * 3 + c] = a[r * 3]! * b[c]! + a[r * 3 + 1]! * b[3 + c]! + a[r * 3 + 2]! * b[6 + c]!;
    }
  }
  return m;
}

export function matVec(m: Mat3, v: Vec3): Vec3 {
  return [
    m[0] * v[0] + m[1] * v[1] + m[2] * v[2],
    m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
    m[6] * v[0] + m[7] * v[1] + m[8] * v[2],
  ];
}

export function transpose(m: Mat3): Mat3 {
  return [m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]];
}

/** Rotation by `deg` degrees about the LPS x axis (left); positive turns +y (posterior) towards +z. */
export function rotX(deg: number): Mat3 {
  const a = (deg * Math.PI) / 180, c = Math.cos(a), s = Math.sin(a);
  return [1, 0, 0, 0, c, -s, 0, s, c];
}
export function rotY(deg: number): Mat3 {
  const a = (deg * Math.PI) / 180, c = Math.cos(a), s = Math.sin(a);
  return [c, 0, s, 0, 1, 0, -s, 0, c];
}
export function rotZ(deg: number): Mat3 {
  const a = (deg * Math.PI) / 180, c = Math.cos(a), s = Math.sin(a);
  return [c, -s, 0, s, c, 0, 0, 0, 1];
}

export const add = (a: Vec3, b: Vec3): Vec3 => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
export const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
export const scale = (a: Vec3, s: number): Vec3 => [a[0] * s, a[1] * s, a[2] * s];
export const dot = (a: Vec3, b: Vec3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const cross = (a: Vec3, b: Vec3): Vec3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
export const norm = (a: Vec3): number => Math.sqrt(dot(a, a));
export const unit = (a: Vec3): Vec3 => scale(a, 1 / norm(a));

/** A rigid placement: world = R * local + t. */
export interface Pose {
  R: Mat3;
  t: Vec3;
}

export function composePose(outer: Pose, inner: Pose): Pose {
  return { R: matMul(outer.R, inner.R), t: add(matVec(outer.R, inner.t), outer.t) };
}

export function applyPose(pose: Pose, p: Vec3): Vec3 {
  return add(matVec(pose.R, p), pose.t);
}

function boxOfPoints(points: Vec3[], pad = 0): Box {
  const min: Vec3 = [Infinity, Infinity, Infinity];
  const max: Vec3 = [-Infinity, -Infinity, -Infinity];
  for (const p of points) {
    for (let a = 0; a < 3; a++) {
      min[a] = Math.min(min[a]!, p[a]! - pad);
      max[a] = Math.max(max[a]!, p[a]! + pad);
    }
  }
  return { min, max };
}

function boxCorners(b: Box): Vec3[] {
  const out: Vec3[] = [];
  for (const x of [b.min[0], b.max[0]]) for (const y of [b.min[1], b.max[1]]) for (const z of [b.min[2], b.max[2]]) out.push([x, y, z]);
  return out;
}

export function boxIntersect(a: Box, b: Box): Box {
  return {
    min: [Math.max(a.min[0], b.min[0]), Math.max(a.min[1], b.min[1]), Math.max(a.min[2], b.min[2])],
    max: [Math.min(a.max[0], b.max[0]), Math.min(a.max[1], b.max[1]), Math.min(a.max[2], b.max[2])],
  };
}

export function boxUnion(a: Box, b: Box): Box {
  return {
    min: [Math.min(a.min[0], b.min[0]), Math.min(a.min[1], b.min[1]), Math.min(a.min[2], b.min[2])],
    max: [Math.max(a.max[0], b.max[0]), Math.max(a.max[1], b.max[1]), Math.max(a.max[2], b.max[2])],
  };
}

// ---------- primitives ----------

/** Ellipsoid with semi-axes `semi` (mm) along the columns of `axes` (default: x, y, z). */
export class Ellipsoid implements Shape {
  readonly bounds: Box;
  private readonly inv: Mat3; // rows: axis_k / semi_k
  constructor(readonly center: Vec3, readonly semi: Vec3, readonly axes: Mat3 = I3) {
    const t = transpose(axes);
    this.inv = [
      t[0] / semi[0], t[1] / semi[0], t[2] / semi[0],
      t[3] / semi[1], t[4] / semi[1], t[5] / semi[1],
      t[6] / semi[2], t[7] / semi[2], t[8] / semi[2],
    ];
    // Half-extent along world axis a is the norm of row a of (axes * diag(semi)).
    const ext = [0, 1, 2].map((a) => Math.hypot(axes[a * 3]! * semi[0], axes[a * 3 + 1]! * semi[1], axes[a * 3 + 2]! * semi[2]));
    this.bounds = { min: [center[0] - ext[0]!, center[1] - ext[1]!, center[2] - ext[2]!], max: [center[0] + ext[0]!, center[1] + ext[1]!, center[2] + ext[2]!] };
  }
  /** Analytic volume in mm³. */
  get volumeMm3(): number {
    return (4 / 3) * Math.PI * this.semi[0] * this.semi[1] * this.semi[2];
  }
  readonly convex = true;
  lineRange(o: Vec3, d: Vec3): Range | null {
    const m = this.inv;
    const ox = o[0] - this.center[0], oy = o[1] - this.center[1], oz = o[2] - this.center[2];
    return quadricRange(
      [m[0] * ox + m[1] * oy + m[2] * oz, m[3] * ox + m[4] * oy + m[5] * oz, m[6] * ox + m[7] * oy + m[8] * oz],
      [m[0] * d[0] + m[1] * d[1] + m[2] * d[2], m[3] * d[0] + m[4] * d[1] + m[5] * d[2], m[6] * d[0] + m[7] * d[1] + m[8] * d[2]],
    );
  }
  contains(x: number, y: number, z: number): boolean {
    const dx = x - this.center[0], dy = y - this.center[1], dz = z - this.center[2];
    const m = this.inv;
    const a = m[0] * dx + m[1] * dy + m[2] * dz;
    const b = m[3] * dx + m[4] * dy + m[5] * dz;
    const c = m[6] * dx + m[7] * dy + m[8] * dz;
    return a * a + b * b + c * c <= 1;
  }
}

/** Axial elliptic cylinder: (x,y) in the ellipse around `center` with `semi`, z in [zMin, zMax]. */
export class EllipticCylinder implements Shape {
  readonly bounds: Box;
  constructor(readonly center: [number, number], readonly semi: [number, number], readonly zMin: number, readonly zMax: number) {
    this.bounds = { min: [center[0] - semi[0], center[1] - semi[1], zMin], max: [center[0] + semi[0], center[1] + semi[1], zMax] };
  }
  readonly convex = true;
  lineRange(o: Vec3, d: Vec3): Range | null {
    const sx = this.semi[0], sy = this.semi[1];
    const q = quadricRange([(o[0] - this.center[0]) / sx, (o[1] - this.center[1]) / sy], [d[0] / sx, d[1] / sy]);
    return intersectRanges(q, boxLineRange({ min: [-Infinity, -Infinity, this.zMin], max: [Infinity, Infinity, this.zMax] }, o, d));
  }
  contains(x: number, y: number, z: number): boolean {
    if (z < this.zMin || z > this.zMax) return false;
    const a = (x - this.center[0]) / this.semi[0], b = (y - this.center[1]) / this.semi[1];
    return a * a + b * b <= 1;
  }
}

/** Points with `normal · p <= offset` (normal need not be unit). */
export class HalfSpace implements Shape {
  readonly bounds: Box = { min: [-Infinity, -Infinity, -Infinity], max: [Infinity, Infinity, Infinity] };
  constructor(readonly normal: Vec3, readonly offset: number) {}
  readonly convex = true;
  lineRange(o: Vec3, d: Vec3): Range | null {
    const a = dot(this.normal, o) - this.offset, b = dot(this.normal, d);
    if (Math.abs(b) < 1e-12) return a <= 0 ? [-Infinity, Infinity] : null;
    return b > 0 ? [-Infinity, -a / b] : [-a / b, Infinity];
  }
  contains(x: number, y: number, z: number): boolean {
    return this.normal[0] * x + this.normal[1] * y + this.normal[2] * z <= this.offset;
  }
}

/** One node of a swept tube: centre, cross-section radii along `u` and along `tangent × u`. */
export interface TubeNode {
  p: Vec3;
  ru: number;
  rv: number;
  /** Direction of the `ru` radius; only matters when ru != rv (default: any normal). */
  u?: Vec3;
}

interface Segment {
  a: Vec3;
  d: Vec3;
  len2: number;
  t: Vec3; // unit tangent
  u: Vec3;
  v: Vec3;
  ru0: number; ru1: number; rv0: number; rv1: number;
  box: Box;
}

/**
 * A tube swept along a polyline with an elliptic cross-section whose radii vary linearly along each
 * segment; segments end in rounded caps, so bends are closed. Used for optic nerves, the mandible,
 * the airway, clavicles.
 */
export class SweptTube implements Shape {
  readonly bounds: Box;
  private readonly segments: Segment[];
  constructor(readonly nodes: readonly TubeNode[]) {
    if (nodes.length < 2) throw new RangeError('SweptTube needs at least two nodes');
    this.segments = [];
    for (let i = 0; i + 1 < nodes.length; i++) {
      const n0 = nodes[i]!, n1 = nodes[i + 1]!;
      const d = sub(n1.p, n0.p);
      const t = unit(d);
      const uGuess = n0.u && n1.u ? add(n0.u, n1.u) : (n0.u ?? n1.u ?? anyNormal(t));
      let u = sub(uGuess, scale(t, dot(uGuess, t)));
      if (norm(u) < 1e-6) u = anyNormal(t);
      u = unit(u);
      const v = cross(t, u);
      const r = Math.max(n0.ru, n0.rv, n1.ru, n1.rv);
      this.segments.push({ a: n0.p, d, len2: dot(d, d), t, u, v, ru0: n0.ru, ru1: n1.ru, rv0: n0.rv, rv1: n1.rv, box: boxOfPoints([n0.p, n1.p], r) });
    }
    this.bounds = this.segments.reduce((b, s) => boxUnion(b, s.box), this.segments[0]!.box);
  }
  readonly convex = false;
  lineRange(o: Vec3, d: Vec3): Range | null {
    // Per segment: the line inside the cylinder of the segment's largest radius, capped by slabs.
    return hullOfRanges(this.segments.map((s) => segmentCylinderRange(s, o, d)));
  }
  contains(x: number, y: number, z: number): boolean {
    for (const s of this.segments) {
      const b = s.box;
      if (x < b.min[0] || x > b.max[0] || y < b.min[1] || y > b.max[1] || z < b.min[2] || z > b.max[2]) continue;
      const px = x - s.a[0], py = y - s.a[1], pz = z - s.a[2];
      let f = (px * s.d[0] + py * s.d[1] + pz * s.d[2]) / s.len2;
      f = f < 0 ? 0 : f > 1 ? 1 : f;
      const rx = px - f * s.d[0], ry = py - f * s.d[1], rz = pz - f * s.d[2];
      const ru = s.ru0 + f * (s.ru1 - s.ru0), rv = s.rv0 + f * (s.rv1 - s.rv0);
      const cu = (rx * s.u[0] + ry * s.u[1] + rz * s.u[2]) / ru;
      const cv = (rx * s.v[0] + ry * s.v[1] + rz * s.v[2]) / rv;
      const ct = (rx * s.t[0] + ry * s.t[1] + rz * s.t[2]) / Math.min(ru, rv);
      if (cu * cu + cv * cv + ct * ct <= 1) return true;
    }
    return false;
  }
}

function hullOfRanges(ranges: Array<Range | null>): Range | null {
  let r: Range | null = null;
  for (const x of ranges) {
    if (!x) continue;
    r = r ? [Math.min(r[0], x[0]), Math.max(r[1], x[1])] : [x[0], x[1]];
  }
  return r;
}

function segmentCylinderRange(s: Segment, o: Vec3, d: Vec3): Range | null {
  const R = Math.max(s.ru0, s.ru1, s.rv0, s.rv1);
  const p: Vec3 = sub(o, s.a);
  // Components across the axis, scaled by 1/R: |p_perp + t d_perp|^2 <= 1.
  const pt = dot(p, s.t), dt = dot(d, s.t);
  const pu = dot(p, s.u) / R, du = dot(d, s.u) / R, pv = dot(p, s.v) / R, dv = dot(d, s.v) / R;
  const across = quadricRange([pu, pv], [du, dv]);
  if (!across) return null;
  const len = Math.sqrt(s.len2);
  let along: Range;
  if (Math.abs(dt) < 1e-12) {
    if (pt < -R || pt > len + R) return null;
    along = [-Infinity, Infinity];
  } else {
    const ta = (-R - pt) / dt, tb = (len + R - pt) / dt;
    along = ta < tb ? [ta, tb] : [tb, ta];
  }
  return intersectRanges(across, along);
}

function anyNormal(t: Vec3): Vec3 {
  const helper: Vec3 = Math.abs(t[2]) < 0.9 ? [0, 0, 1] : [1, 0, 0];
  return unit(cross(helper, t));
}

// ---------- combinators ----------

export class Union implements Shape {
  readonly bounds: Box;
  constructor(readonly parts: readonly Shape[]) {
    this.bounds = parts.map((p) => p.bounds).reduce(boxUnion);
  }
  readonly convex = false;
  lineRange(o: Vec3, d: Vec3): Range | null {
    return hullOfRanges(this.parts.map((p) => p.lineRange(o, d)));
  }
  contains(x: number, y: number, z: number): boolean {
    for (const p of this.parts) {
      const b = p.bounds;
      if (x < b.min[0] || x > b.max[0] || y < b.min[1] || y > b.max[1] || z < b.min[2] || z > b.max[2]) continue;
      if (p.contains(x, y, z)) return true;
    }
    return false;
  }
}

export class Intersection implements Shape {
  readonly bounds: Box;
  constructor(readonly parts: readonly Shape[]) {
    this.bounds = parts.map((p) => p.bounds).reduce(boxIntersect);
    this.convex = parts.every((p) => p.convex);
  }
  readonly convex: boolean;
  lineRange(o: Vec3, d: Vec3): Range | null {
    let r: Range | null = [-Infinity, Infinity];
    for (const p of this.parts) {
      r = intersectRanges(r, p.lineRange(o, d));
      if (!r) return null;
    }
    return r;
  }
  contains(x: number, y: number, z: number): boolean {
    for (const p of this.parts) if (!p.contains(x, y, z)) return false;
    return true;
  }
}

/** `keep` minus every shape in `remove`. */
export class Difference implements Shape {
  readonly bounds: Box;
  constructor(readonly keep: Shape, readonly remove: readonly Shape[]) {
    this.bounds = keep.bounds;
  }
  readonly convex = false;
  lineRange(o: Vec3, d: Vec3): Range | null {
    return this.keep.lineRange(o, d);
  }
  contains(x: number, y: number, z: number): boolean {
    if (!this.keep.contains(x, y, z)) return false;
    for (const r of this.remove) {
      const b = r.bounds;
      if (x < b.min[0] || x > b.max[0] || y < b.min[1] || y > b.max[1] || z < b.min[2] || z > b.max[2]) continue;
      if (r.contains(x, y, z)) return false;
    }
    return true;
  }
}

/** A shape placed by a rigid pose: contains(p) = inner.contains(R^T (p - t)). */
export class Posed implements Shape {
  readonly bounds: Box;
  private readonly rt: Mat3;
  constructor(readonly inner: Shape, readonly pose: Pose) {
    this.rt = transpose(pose.R);
    const ib = inner.bounds;
    this.bounds = isFinite(ib.min[0]) ? boxOfPoints(boxCorners(ib).map((c) => applyPose(pose, c))) : ib;
    this.convex = inner.convex;
  }
  readonly convex: boolean;
  lineRange(o: Vec3, d: Vec3): Range | null {
    if (!boxLineRange(this.bounds, o, d)) return null;
    return this.inner.lineRange(matVec(this.rt, sub(o, this.pose.t)), matVec(this.rt, d));
  }
  contains(x: number, y: number, z: number): boolean {
    const dx = x - this.pose.t[0], dy = y - this.pose.t[1], dz = z - this.pose.t[2];
    const m = this.rt;
    return this.inner.contains(m[0] * dx + m[1] * dy + m[2] * dz, m[3] * dx + m[4] * dy + m[5] * dz, m[6] * dx + m[7] * dy + m[8] * dz);
  }
}

/** Axis-aligned box [min, max] (mm); infinite sides allowed. */
export class AxisBox implements Shape {
  readonly bounds: Box;
  constructor(min: Vec3, max: Vec3) {
    this.bounds = { min, max };
  }
  readonly convex = true;
  lineRange(o: Vec3, d: Vec3): Range | null {
    return boxLineRange(this.bounds, o, d);
  }
  contains(x: number, y: number, z: number): boolean {
    const b = this.bounds;
    return x >= b.min[0] && x <= b.max[0] && y >= b.min[1] && y <= b.max[1] && z >= b.min[2] && z <= b.max[2];
  }
}
