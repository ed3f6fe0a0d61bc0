import { execFileSync } from 'node:child_process';
import { closeSync, fdatasyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';

export interface CodeInfo {
  commit: string;
  /** Files under src/ that differ from the commit when the bench ran (the numbers are for the working tree). */
  uncommittedSrcFiles: string[];
}

/** Which code was measured: the tree may be ahead of its commit while people work. */
export function codeInfo(): CodeInfo {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'src'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return {
      commit,
      uncommittedSrcFiles: status
        .split('\n')
        .filter(Boolean)
        .map((l) => l.slice(3)),
    };
  } catch {
    return { commit: 'unknown (not a git checkout)', uncommittedSrcFiles: [] };
  }
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  node: string;
  sqlite: string;
  os: string;
  tempDir: { path: string; device: string; fsType: string; mountOptions: string; rotational: string };
  /** 4 KiB write + fdatasync on the temp dir's filesystem: what one durable commit costs at least. */
  fdatasyncMs: { p50: number; p99: number; samples: number };
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The facts a reader needs to compare these numbers with another machine's. */
export function machineInfo(tempDir: string): MachineInfo {
  const cpuinfo = read('/proc/cpuinfo') ?? '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  const db = new Sqlite(':memory:');
  const sqlite = (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
  db.close();

  let device = 'unknown';
  let fsType = 'unknown';
  let mountPoint = '';
  try {
    // POSIX output format: one line per filesystem, no wrapping.
    const line = execFileSync('df', ['-PT', tempDir], { encoding: 'utf8' }).trim().split('\n')[1] ?? '';
    const cols = line.split(/\s+/);
    device = cols[0] ?? device;
    fsType = cols[1] ?? fsType;
    mountPoint = cols[6] ?? '';
  } catch {
    /* df missing: leave unknown */
  }
  const mount = (read('/proc/mounts') ?? '')
    .split('\n')
    .map((l) => l.split(' '))
    .find((c) => c[0] === device && c[1] === mountPoint);
  const blk = device.startsWith('/dev/') ? device.slice(5).replace(/p?\d+$/, '') : '';
  const rotational = blk ? (read(`/sys/block/${blk}/queue/rotational`)?.trim() ?? '?') : '?';
  const osRelease = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(read('/etc/os-release') ?? '')?.[1] ?? process.platform;
  const kernel = read('/proc/sys/kernel/osrelease')?.trim() ?? '';

  return {
    cpuModel: model,
    cores: cpus().length,
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    sqlite,
    os: `${osRelease}${kernel ? `, Linux ${kernel}` : ''}`,
    tempDir: {
      path: tempDir,
      device,
      fsType,
      mountOptions: mount?.[3] ?? 'unknown',
      rotational:
        rotational === '0'
          ? 'no (SSD/virtual)'
          : rotational === '1'
            ? 'yes (as reported; virtual disks often say 1)'
            : rotational,
    },
    fdatasyncMs: fsyncProbe(tempDir),
  };
}

function fsyncProbe(dir: string, samples = 300): MachineInfo['fdatasyncMs'] {
  const file = join(dir, 'fsync-probe.bin');
  const fd = openSync(file, 'w');
  const buf = Buffer.alloc(4096, 7);
  const times: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      // Rewrites within a small region, like a WAL that is rewound after checkpoints.
      writeSync(fd, buf, 0, buf.length, (i % 64) * buf.length);
      const t0 = process.hrtime.bigint();
      fdatasyncSync(fd);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => Math.round(times[Math.min(times.length - 1, Math.floor(p * times.length))] * 1000) / 1000;
  return { p50: q(0.5), p99: q(0.99), samples };
}
