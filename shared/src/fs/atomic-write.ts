import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes `data` to `file` atomically: a temporary file in the same directory is written with `mode`, fsynced,
 * renamed over the target, and the directory is fsynced (SPIRE's AtomicWritePrivateFile). A crash leaves either
 * the old file or the new one, never a torn one.
 */
export function atomicWriteFileSync(file: string, data: string | Buffer, mode = 0o600): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}
