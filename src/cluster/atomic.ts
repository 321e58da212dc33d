// Whole-file writes that a kill cannot tear: the bytes go to a temporary
// name in the same directory, are flushed to disk, and the file is renamed
// over the final name (rename(2) is atomic within a file system). A killed
// writer leaves at most a dot-named temporary, never a half-written file
// under the final name.

import { openSync, writeSync, fsyncSync, closeSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** the prefix of every temporary name (readers skip these) */
export const TEMP_PREFIX = '.tmp-';

export function writeFileAtomic(file: string, text: string): void {
  const tmp = join(dirname(file), `${TEMP_PREFIX}${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    const fd = openSync(tmp, 'wx');
    try {
      const bytes = Buffer.from(text, 'utf8');
      // write(2) may write less than asked: go on until every byte is out
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
