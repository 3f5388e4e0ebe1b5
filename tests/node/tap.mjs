// SPDX-License-Identifier: BSD-2-Clause
// tap.mjs: what the node drivers of the integration tests share.  Each
// check prints "ok - ..." or "not ok - ..." (with "# ..." lines of
// diagnosis), which tests/lib/api.sh's node_tap numbers as TAP; sha256 of
// a buffer; and a deadline after which a driver fails instead of hanging.

import { createHash } from 'node:crypto';

let failed = 0;

export const check = (cond, what, ...diag) => {
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
  if (!cond) {
    failed++;
    for (const d of diag) console.log(`# ${String(d).replace(/\n/g, '\n# ')}`);
  }
};

export const failures = () => failed;

export const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// Fail and exit after seconds.  The timer keeps the driver alive (an
// upload that never settles must fail, not end quietly) unless unref is
// true, for drivers whose own end is certain.
export function deadline(seconds, unref = false) {
  const t = setTimeout(() => {
    console.log(`not ok - the driver finished within ${seconds} s`);
    process.exit(1);
  }, seconds * 1000);
  if (unref) t.unref();
}

// The exit status of a driver: 0 when every check passed.
export const finish = () => process.exit(failed === 0 ? 0 : 1);
