import fs from 'node:fs';
import path from 'node:path';

/**
 * One Herald process per SQLite data folder: the lock file holds the owner's pid. A lock left
 * by a process that no longer runs (killed, crashed) is taken over, which is what lets a
 * restarted Herald resume the deliveries a killed one had claimed.
 */
const LOCK_FILE = 'herald.lock';

export function acquireDataDirLock(dataDir: string): void {
  const lockPath = path.join(dataDir, LOCK_FILE);
  for (let tries = 0; tries < 2; tries++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx', mode: 0o600 });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(fs.readFileSync(lockPath, 'utf8').trim());
      if (owner !== process.pid && isRunning(owner)) {
        throw new Error(
          `another Herald process (pid ${owner}) uses the data folder ${dataDir}; ` +
            'use PostgreSQL to run several processes',
        );
      }
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`could not take the lock ${lockPath}`);
}

export function releaseDataDirLock(dataDir: string): void {
  const lockPath = path.join(dataDir, LOCK_FILE);
  try {
    if (Number(fs.readFileSync(lockPath, 'utf8').trim()) === process.pid) fs.rmSync(lockPath);
  } catch {
    // Already gone: nothing to release.
  }
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
