import { gzipSync } from 'node:zlib';
const nx=512, ny=512, nz=200; const data = new Int16Array(nx*ny*nz); let seed=12345;
for (let i=0;i<data.length;i++){ seed=(seed*1103515245+12345)>>>0; const n=((seed>>>16)%41)-20; const x=(i%nx-256)/215, y=((i/nx|0)%ny-256)/184; const r=Math.hypot(x,y); data[i]= r>1? -1000+(n>>2) : r>0.9? 700+n*3 : 40+n; }
const raw = new Uint8Array(data.buffer);
for (const level of [1, 2, 1, 2, 4, 6]) { const c0 = process.cpuUsage(); const gz = gzipSync(raw, { level }); const c = process.cpuUsage(c0); console.log(level, ((c.user + c.system) / 1e6).toFixed(3), 'cpu s', gz.length); }
