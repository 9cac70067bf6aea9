import { gzipSync, gunzipSync, deflateRawSync, constants } from 'node:zlib';
import { encodeNifti } from '../src/nifti';
const nx=512, ny=512, nz=200; const data = new Int16Array(nx*ny*nz); let seed=12345;
for (let i=0;i<data.length;i++){ seed=(seed*1103515245+12345)>>>0; const n=((seed>>>16)%41)-20; const x=(i%nx-256)/215, y=((i/nx|0)%ny-256)/184; const r=Math.hypot(x,y); data[i]= r>1? -1000+(n>>2) : r>0.9? 700+n*3 : 40+n; }
const vol = { data, shape:[nx,ny,nz] as [number,number,number], spacing:[1,1,1] as [number,number,number], origin:[0,0,0] as [number,number,number], direction:[1,0,0,0,1,0,0,0,1] as any };
function t(name: string, f: () => any) { const c0 = process.cpuUsage(); const t0 = performance.now(); const r = f(); const c = process.cpuUsage(c0); console.log(name, ((performance.now()-t0)/1000).toFixed(3), 'wall', ((c.user+c.system)/1e6).toFixed(3), 'cpu'); return r; }
const raw = t('encode', () => encodeNifti(vol));
for (const level of [1, 2, 3]) for (const strategy of [constants.Z_DEFAULT_STRATEGY]) {
  const gz = t(`gzip l${level}`, () => gzipSync(raw, { level, strategy }));
  console.log(' size', gz.length);
}
t('gzip l1 chunk1M', () => gzipSync(raw, { level: 1, chunkSize: 1 << 20 }));
t('gzip l1 memLevel9', () => gzipSync(raw, { level: 1, memLevel: 9, chunkSize: 1 << 20 }));
const gz = gzipSync(raw, {level:1});
t('gunzip', () => gunzipSync(gz));
t('gunzip chunk 1M', () => gunzipSync(gz, { chunkSize: 1 << 20 }));
t('gunzip max', () => gunzipSync(gz, { maxOutputLength: raw.length + 65536 }));
