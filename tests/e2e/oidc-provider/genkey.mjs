#!/usr/bin/env node
// Writes a fresh RS256 private JWK (2048-bit RSA, with `kid` = RFC 7638 thumbprint,
// `alg: RS256`, `use: sig`) as JSON on stdout, or into the file given with --out.
//
//   node genkey.mjs                 # one JWK object on stdout
//   node genkey.mjs --out key.json  # same, written to key.json (mode 0600)
//   node genkey.mjs --kid my-kid    # explicit kid instead of the thumbprint

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    kid: { type: 'string' },
    bits: { type: 'string', default: '2048' },
  },
  strict: true,
});

const { privateKey } = crypto.generateKeyPairSync('rsa', {
  modulusLength: Number.parseInt(values.bits, 10),
});
const jwk = privateKey.export({ format: 'jwk' });
const thumbprint = crypto
  .createHash('sha256')
  .update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }))
  .digest('base64url');

const out = JSON.stringify({ kid: values.kid ?? thumbprint, alg: 'RS256', use: 'sig', ...jwk });

if (values.out) {
  fs.writeFileSync(values.out, `${out}\n`, { mode: 0o600 });
} else {
  process.stdout.write(`${out}\n`);
}
