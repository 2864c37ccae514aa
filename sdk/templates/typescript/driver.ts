// {{name}}: an rtt driver (protocol 1, docs/drivers.md) in TypeScript.
//
// rtt_driver.js (with its types, rtt_driver.d.ts) is the SDK: framing,
// envelopes, fencing and durable two-phase transactions. This file only
// picks the backend. DirBackend keeps each host's placements in
// <root>/<host>/placements.json; replace it with a class implementing
// Backend that talks to your system. Build with ./build, check with:
// rtt driver test -- ./driver
import * as rtt from './rtt_driver';

const NAME = '{{name}}';
const root: string = rtt.rootFromEnv(NAME);
const backend: rtt.Backend = new rtt.DirBackend(root);
rtt.run(new rtt.Driver(NAME, root, backend));
