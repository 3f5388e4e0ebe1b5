// SPDX-License-Identifier: BSD-2-Clause
// tus-server.mjs: the tus reference server for tests/bench/upload.sh.
//
//   node tests/bench/tus-server.mjs PORT DIR
//
// @tus/server with @tus/file-store (versions pinned in node/package.json,
// installed into node/node_modules by upload.sh), on 127.0.0.1:PORT under
// /files, storing uploads in DIR, as its README shows, with relative Location
// headers so that it works behind the benchmark's nginx unchanged.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [port, dir] = process.argv.slice(2);
if (!port || !dir) {
  console.error('usage: node tus-server.mjs PORT DIR');
  process.exit(2);
}
const require = createRequire(new URL('./node/package.json', import.meta.url));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);
const { Server } = await load('@tus/server');
const { FileStore } = await load('@tus/file-store');

const server = new Server({
  path: '/files',
  relativeLocation: true,
  datastore: new FileStore({ directory: dir }),
});
const http = server.listen({ host: '127.0.0.1', port: Number(port) }, () => {
  console.log(`tus-server: @tus/server listening on 127.0.0.1:${port}, files in ${dir}`);
});
const stop = () => http.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
